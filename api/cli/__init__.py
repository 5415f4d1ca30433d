"""The ``sme-export`` command line: one root group, and each area's command or group named
below with the module that holds it (the table of contents of ``sme-export --help``).

A command's module is imported only when that command runs (or ``--help`` lists them all):
a command starts without importing every other one, and the worker processes of
``sme-export rescore``, which start by running this command's script again, import only
this module, not the web service and the database layer the other commands need.

Shared options, exit codes and the one-line error are in ``api.cli.common``.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["main"]

#: Command name -> "module:attribute", in the order of the areas.
COMMANDS = {
    # scoring
    "score": "api.cli.score:score",
    "rescore": "api.cli.rescore:rescore",
    # after the programme: what the office decided and what the SMEs did
    "decisions": "api.cli.decisions:decisions",
    "outcomes": "api.cli.outcomes:outcomes",
    # models and rulesets
    "train": "api.cli.train:train",
    "generate-data": "api.cli.train:generate_data",
    "models": "api.cli.models:models",
    "ruleset": "api.cli.ruleset:ruleset",
    # audits
    "fairness": "api.cli.audit:fairness",
    "drift": "api.cli.audit:drift",
    # the service
    "serve": "api.cli.serve:serve",
    "worker": "api.cli.worker:worker",
    "db": "api.cli.db:db",
    "keys": "api.cli.keys:keys",
    "users": "api.cli.users:users",
    "invitations": "api.cli.invitations:invitations",
    "webhooks": "api.cli.webhooks:webhooks",
    "purge": "api.cli.purge:purge",
    "backup": "api.cli.backup:backup",
    "restore": "api.cli.backup:restore",
    "demo": "api.cli.demo:demo",
}


class _Commands(click.Group):
    """A group whose commands are imported by name when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Score SMEs' export readiness: export-standard rules blended with a calibrated model."""
