"""The ``sme-export`` command line: one root group, and each area's command or group added
to it by name below (the table of contents of ``sme-export --help``).

Shared options, exit codes and the one-line error are in ``api.cli.common``.
"""

from __future__ import annotations

import click

from api.cli.audit import drift, fairness
from api.cli.backup import backup, restore
from api.cli.db import db
from api.cli.decisions import decisions
from api.cli.demo import demo
from api.cli.invitations import invitations
from api.cli.keys import keys
from api.cli.models import models
from api.cli.outcomes import outcomes
from api.cli.purge import purge
from api.cli.rescore import rescore
from api.cli.ruleset import ruleset
from api.cli.score import score
from api.cli.serve import serve
from api.cli.train import generate_data, train
from api.cli.users import users
from api.cli.webhooks import webhooks
from api.cli.worker import worker

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Score SMEs' export readiness: export-standard rules blended with a calibrated model."""


# scoring
main.add_command(score)
main.add_command(rescore)
# after the programme: what the office decided and what the SMEs did
main.add_command(decisions)
main.add_command(outcomes)
# models and rulesets
main.add_command(train)
main.add_command(generate_data)
main.add_command(models)
main.add_command(ruleset)
# audits
main.add_command(fairness)
main.add_command(drift)
# the service
main.add_command(serve)
main.add_command(worker)
main.add_command(db)
main.add_command(keys)
main.add_command(users)
main.add_command(invitations)
main.add_command(webhooks)
main.add_command(purge)
main.add_command(backup)
main.add_command(restore)
main.add_command(demo)
