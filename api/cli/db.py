"""``sme-export db upgrade``: create or migrate the service's database schema."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import database_url_option, default_url, display_url, fail, one_line


@click.group()
def db() -> None:
    """The service's database."""


@db.command("upgrade")
@database_url_option
def db_upgrade(database_url: str | None) -> None:
    """Create or migrate the database schema to the newest revision (safe to repeat)."""
    from api.migrate import head_revision, upgrade

    url = database_url or default_url()
    try:
        upgrade(url)
    except (SQLAlchemyError, OSError) as exc:
        fail(f"cannot migrate {display_url(url)}: {one_line(exc)}")
    click.echo(f"database {display_url(url)} is at revision {head_revision()}")
