"""`python -m registry.migrations "add video table"`: write the next migration from the models (see README)."""

from __future__ import annotations

import argparse

from registry.migrations import new_revision

parser = argparse.ArgumentParser(prog="python -m registry.migrations", description=__doc__)
parser.add_argument("message", help="what the migration does, in a few words (also its file and revision name)")
parser.add_argument("--url", help="compare against this database (at the head) instead of a scratch SQLite one")
arguments = parser.parse_args()
print(new_revision(arguments.message, arguments.url))
