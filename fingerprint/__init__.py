"""Pure media fingerprinting: bytes in, hashes and comparisons out; no database, no HTTP."""
