"""``sme-export backup`` and ``sme-export restore``: consistent backups of a running service
(database, model and ruleset registries, staged batch inputs), checked restores, and a
verification that restores into a scratch database (docs/operations.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import (
    database_url_option,
    default_url,
    display_url,
    fail,
    models_dir_or_default,
    one_line,
    rulesets_dir_or_default,
)

_folder = click.Path(file_okay=False, path_type=Path)


def _default_staging() -> Path:
    from flask import Flask

    from api.services.batch_jobs import STAGING_FOLDER

    configured = os.environ.get("SME_EXPORT_BATCH_STAGING_DIR")
    return Path(configured) if configured else Path(Flask("api").instance_path) / STAGING_FOLDER


def _sources(database_url, models_dir, rulesets_dir, staging_dir):
    from api.services.backup import Sources

    return Sources(
        database_url=database_url or default_url(),
        models_dir=models_dir_or_default(models_dir),
        rulesets_dir=rulesets_dir_or_default(rulesets_dir),
        staging_dir=staging_dir or _default_staging(),
    )


def _folders(function):
    for option in reversed(
        (
            click.option("--models-dir", type=_folder, default=None, help="Model registry."),
            click.option("--rulesets-dir", type=_folder, default=None, help="Ruleset registry."),
            click.option(
                "--staging-dir", type=_folder, default=None, help="Staged inputs of queued batches."
            ),
        )
    ):
        function = option(function)
    return function


@click.command()
@click.option("--to", "root", type=_folder, default=None, help="Write a new backup under DIR.")
@click.option(
    "--verify",
    "verify",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Check the backup DIR: its sums, and a restore into a scratch database.",
)
@click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    envvar="SME_EXPORT_BACKUP_KEEP_DAYS",
    default=None,
    help="After writing, remove backups under --to older than this (default 35; the newest "
    "stays) [env SME_EXPORT_BACKUP_KEEP_DAYS].",
)
@database_url_option
@_folders
def backup(root, verify, keep_days, database_url, models_dir, rulesets_dir, staging_dir):
    """Back up the service while it runs (--to DIR), or verify a backup (--verify DIR)."""
    from api.services.backup import DEFAULT_KEEP_DAYS, BackupError, create_backup, prune_backups
    from api.services.backup import verify_backup as verify_one

    if (root is None) == (verify is None):
        raise click.UsageError("give either --to DIR (write a backup) or --verify DIR")
    sources = _sources(database_url, models_dir, rulesets_dir, staging_dir)
    try:
        if verify is not None:
            checked = verify_one(verify, like=sources.database_url)
            rows = sum(checked["tables"].values())
            click.echo(
                f"backup {verify} is sound: {checked['files']} files match their SHA-256; "
                f"restored into a scratch database at revision {checked['revision']}, "
                f"{len(checked['tables'])} tables and {rows} rows as recorded"
            )
            return
        path = create_backup(root, sources)
        removed = prune_backups(root, keep_days=keep_days or DEFAULT_KEEP_DAYS)
    except (BackupError, SQLAlchemyError, OSError) as exc:
        fail(one_line(exc))
    from api.services.backup import read_manifest

    manifest = read_manifest(path)
    tables = manifest["database"]["tables"]
    click.echo(
        f"backup of {display_url(sources.database_url)} written to {path}: revision "
        f"{manifest['database']['revision']}, {len(tables)} tables, {sum(tables.values())} rows, "
        f"{len(manifest['files'])} files ({', '.join(manifest['folders']) or 'no folders'})"
    )
    for old in removed:
        click.echo(f"removed {old} (older than the retention)")


@click.command()
@click.argument("backup_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds rows.")
@database_url_option
@_folders
def restore(backup_dir, force, database_url, models_dir, rulesets_dir, staging_dir):
    """Restore a backup: checks every file's SHA-256 first, refuses a database that holds rows
    unless --force, and compares every table's row count afterwards."""
    from api.services.backup import BackupError, restore_backup

    targets = _sources(database_url, models_dir, rulesets_dir, staging_dir)
    try:
        restored = restore_backup(backup_dir, targets, force=force)
    except (BackupError, SQLAlchemyError, OSError) as exc:
        fail(one_line(exc))
    rows = sum(restored["tables"].values())
    click.echo(
        f"restored {backup_dir} into {display_url(targets.database_url)}: revision "
        f"{restored['revision']}, {len(restored['tables'])} tables and {rows} rows as recorded; "
        f"folders: {', '.join(restored['folders']) or 'none'}"
    )
    click.echo(
        "run `sme-export db upgrade` if this service is newer than the backup; SMEs erased "
        "after the backup was taken must be erased again (see docs/operations.md)"
    )
