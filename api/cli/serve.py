"""``sme-export serve``: the HTTP API on the embedded defaults, for a first look or a demo."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import default_url, display_url, fail, one_line


@click.command()
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
        fail(f"cannot start: {one_line(exc)}")
    url = app_database_url(app)
    try:
        server = make_server(host, port, app, threaded=True, request_handler=PathOnlyRequestHandler)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {one_line(exc)}")
    where = f"http://{host}:{server.server_port}"
    _echo_first_steps(where, url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()


def _echo_first_steps(where: str, url: str) -> None:
    """Where the service listens, and how to create the first account and API key on its
    database."""
    key_command = "sme-export keys create --name NAME --scope admin"
    user_command = "sme-export users create NAME --role admin"
    if url != default_url():
        key_command += f" --database-url '{display_url(url)}'"
        user_command += f" --database-url '{display_url(url)}'"
    click.echo(f"sme-export API listening on {where} (database {display_url(url)})")
    click.echo(f"staff pages: {where}/   docs: {where}/api/docs   health: {where}/healthz")
    click.echo(f"create the first staff account with: {user_command}")
    click.echo(f"create the first API key with: {key_command}")
