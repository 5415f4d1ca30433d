"""The `sme-export` command tree."""

from api.cli.keys import main

__all__ = ["main"]
