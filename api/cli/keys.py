"""The ``sme-export`` command line of the service: ``api.cli.score``'s group plus ``db``,
``keys`` and ``serve``.

The entry point is this module's ``main`` (``scoring`` never imports ``api``). The
database commands take the database URL from ``--database-url``, else the environment
variable ``DATABASE_URL``, else the SQLite file ``sme_export.db`` in the app's instance
folder, the one ``sme-export serve`` creates on the embedded defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.cli.score import _fail, _one_line, main

__all__ = ["main"]


def _default_url() -> str:
    """The embedded default: the same SQLite file ``sme-export serve`` uses, in the app's
    instance folder (``instance/`` beside the ``api`` package in a source checkout)."""
    from flask import Flask

    from api.config import DefaultConfig
    from api.db import sqlite_url

    return sqlite_url(Path(Flask("api").instance_path) / DefaultConfig.SQLITE_FILENAME)


database_url_option = click.option(
    "--database-url",
    envvar="DATABASE_URL",
    default=None,
    metavar="URL",
    help="SQLAlchemy URL [env DATABASE_URL; default: the app's SQLite file].",
)


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# --- db --------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The service's database."""


@db.command("upgrade")
@database_url_option
def db_upgrade(database_url: str | None) -> None:
    """Create or migrate the database schema to the newest revision (safe to repeat)."""
    from api.migrate import head_revision, upgrade

    url = database_url or _default_url()
    try:
        upgrade(url)
    except (SQLAlchemyError, OSError) as exc:
        _fail(f"cannot migrate {_display(url)}: {_one_line(exc)}")
    click.echo(f"database {_display(url)} is at revision {head_revision()}")


@contextmanager
def _session(database_url: str | None) -> Iterator[Session]:
    """A session on an up-to-date database; committed when the block succeeds."""
    from api.db import make_engine, make_sessionmaker
    from api.migrate import is_up_to_date

    url = database_url or _default_url()
    parsed = make_url(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in ("", None)
    if sqlite_file and parsed.database != ":memory:" and not Path(parsed.database).exists():
        _fail(f"no database at {parsed.database}; run `sme-export db upgrade` first")
    engine = make_engine(url)
    try:
        try:
            current = is_up_to_date(engine)
        except SQLAlchemyError as exc:
            _fail(f"cannot open the database {_display(url)}: {_one_line(exc)}")
        if not current:
            _fail(f"the database {_display(url)} is not up to date; run `sme-export db upgrade`")
        with make_sessionmaker(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


# --- keys ------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """API keys (stored hashed: a key's text is shown only when it is created)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["score", "read", "personal", "admin"]),
    help="A scope the key carries; repeat for several.",
)
@database_url_option
def keys_create(name: str, scopes: tuple[str, ...], database_url: str | None) -> None:
    """Create an API key and print it once."""
    from api import store

    try:
        with _session(database_url) as session:
            key_id, key = store.create_api_key(session, name=name, scopes=scopes)
            store.audit(
                session,
                actor="cli",
                action="api_key.created",
                subject=key_id,
                details={"scopes": list(dict.fromkeys(scopes))},
            )
    except ValueError as exc:
        _fail(_one_line(exc))
    click.echo(key)
    click.echo(
        f"key {key_id} ({', '.join(dict.fromkeys(scopes))}): copy it now; it is not stored "
        "and cannot be shown again.",
        err=True,
    )


@keys.command("revoke")
@click.argument("key_id")
@database_url_option
def keys_revoke(key_id: str, database_url: str | None) -> None:
    """Revoke the API key KEY_ID."""
    from api import store

    with _session(database_url) as session:
        revoked = store.revoke_api_key(session, key_id)
        if revoked:
            store.audit(session, actor="cli", action="api_key.revoked", subject=key_id)
    if not revoked:
        _fail(f"no active API key {key_id!r}")
    click.echo(f"revoked {key_id}")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@keys.command("list")
@database_url_option
def keys_list(database_url: str | None) -> None:
    """List API keys (never their secrets)."""
    from api import store

    with _session(database_url) as session:
        infos = store.list_api_keys(session)
    header = ("KEY_ID", "NAME", "SCOPES", "CREATED (UTC)", "LAST USED (UTC)", "STATUS")
    rows = [
        (
            info.key_id,
            info.name,
            ",".join(info.scopes),
            _when(info.created_at),
            _when(info.last_used_at),
            "active" if info.active else f"revoked {_when(info.revoked_at)}",
        )
        for info in infos
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


# --- serve -----------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free port; the one chosen is printed).",
)
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    default=None,
    metavar="URL",
    help="SQLAlchemy URL [env DATABASE_URL; default: SQLite in the app's instance folder].",
)
def serve(host: str, port: int, database_url: str | None) -> None:
    """Run the HTTP API on the embedded defaults (migrating the database first).

    For production run gunicorn instead (see the `api` package docstring):
    `gunicorn -w 2 'api:create_app()'` with SME_EXPORT_CONFIG=production.
    """
    from werkzeug.serving import make_server

    from api import create_app
    from api.db import database_url as app_database_url
    from api.http.server_log import PathOnlyRequestHandler

    try:
        app = create_app({"DATABASE_URL": database_url} if database_url else None)
    except (SQLAlchemyError, OSError) as exc:
        _fail(f"cannot start: {_one_line(exc)}")
    url = app_database_url(app)
    try:
        server = make_server(host, port, app, threaded=True, request_handler=PathOnlyRequestHandler)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {_one_line(exc)}")
    where = f"http://{host}:{server.server_port}"
    key_command = "sme-export keys create --name NAME --scope admin"
    user_command = "sme-export users create NAME --role admin"
    if url != _default_url():
        key_command += f" --database-url '{_display(url)}'"
        user_command += f" --database-url '{_display(url)}'"
    click.echo(f"sme-export API listening on {where} (database {_display(url)})")
    click.echo(f"staff pages: {where}/   docs: {where}/api/docs   health: {where}/healthz")
    click.echo(f"create the first staff account with: {user_command}")
    click.echo(f"create the first API key with: {key_command}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()


import api.cli.stored  # noqa: E402,F401  (governance: audit log, stored cohorts)
from api.cli import purge, users, worker  # noqa: E402,F401  (purge, users ..., worker)
