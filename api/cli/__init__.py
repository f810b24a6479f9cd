"""`provreg`: the registry from the command line, over the same service functions as the HTTP API.

Local commands act on the data directory directly: whoever can read and write it is the operator.
"""

from api.cli import datadir, detector, log, media, publishers
from api.cli.common import app

__all__ = ["app", "datadir", "detector", "log", "main", "media", "publishers"]


def main() -> None:
    app()
