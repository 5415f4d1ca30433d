"""The `sme-export` command tree."""

from api.cli.service import main

__all__ = ["main"]
