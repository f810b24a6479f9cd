"""Transparency log: Merkle tree arithmetic and the C2SP text formats that publish it."""
