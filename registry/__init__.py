"""Registry state and rules: publishers, signed registrations, matching, the log."""
