"""``sme-export purge``: delete personal data past the retention period.

An SME whose last activity (its profile last stored or scored) is older than the
retention period is erased as a whole, exactly as ``DELETE /api/v1/smes/<sme_id>`` would
(``store.erase_sme``: profile, personal data and cohorts deleted, scores kept only as
anonymous aggregates), and the row errors of batches uploaded before then are redacted.
It also deletes the batch staging files no batch waits for (``api.services.batch_jobs.
stray_staging``): inputs of finished batches, and partial or orphaned copies a crash left
behind once they are some hours old. Run it daily (cron or a systemd timer);
``--dry-run`` shows what it would do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from api.cli.common import database_url_option, session
from api.config import DefaultConfig


@click.command()
@click.option(
    "--retention-days",
    type=click.IntRange(min=1),
    default=DefaultConfig.PERSONAL_DATA_RETENTION_DAYS,
    show_default=True,
    help="Keep personal data this many days after an SME's last activity.",
)
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
@click.option(
    "--staging-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The service's BATCH_STAGING_DIR [default: batch-staging in the instance folder].",
)
@database_url_option
def purge(
    retention_days: int, dry_run: bool, staging_dir: Path | None, database_url: str | None
) -> None:
    """Erase SMEs inactive for longer than the retention period (personal data included)."""
    from api import store
    from api.services.batch_jobs import remove_staging, stray_staging

    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)
    with session(database_url) as db_session:
        summary = store.purge_expired(db_session, before=before, actor="cli:purge", dry_run=dry_run)
        stray = stray_staging(db_session, staging_dir or _default_staging_dir())
        if dry_run:
            db_session.rollback()
        else:
            remove_staging(db_session, stray)
    verb = "would erase" if dry_run else "erased"
    for sme_id in summary["smes"]:
        click.echo(f"{verb} {sme_id}")
    click.echo(
        f"{verb} {len(summary['smes'])} SME(s) inactive since before {summary['before']}; "
        f"{'would redact' if dry_run else 'redacted'} the row errors of "
        f"{len(summary['batches_redacted'])} batch(es)",
        err=True,
    )
    click.echo(
        f"{'would delete' if dry_run else 'deleted'} {len(stray)} batch staging file(s) "
        "no batch waits for",
        err=True,
    )


def _default_staging_dir() -> Path:
    """Where the embedded default keeps queued inputs (as
    ``api.services.batch_jobs.staging_dir``)."""
    from flask import Flask

    from api.services.batch_jobs import STAGING_FOLDER

    return Path(Flask("api").instance_path) / STAGING_FOLDER
