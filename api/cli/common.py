"""What every ``sme-export`` command shares: exit codes, the one-line error, rejected-row
lines, the shared options, and the database session of the database commands.

Exit codes: 0 success; 1 the input or an artifact is unusable (one-line reason on stderr);
2 wrong usage; 3 a file was scored but some rows were rejected (the rejected rows are
reported, never dropped silently).

The database commands take the database URL from ``--database-url``, else the environment
variable ``DATABASE_URL``, else the SQLite file ``sme_export.db`` in the app's instance
folder, the one ``sme-export serve`` creates on the embedded defaults.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from api.cli.messages import text

if TYPE_CHECKING:  # SQLAlchemy is imported by the commands that use a database, when they run
    from sqlalchemy.orm import Session

EXIT_INPUT = 1
EXIT_REJECTED_ROWS = 3


def fail(message: str, *, lang: str = "en") -> NoReturn:
    """Print ``error: message`` (in ``lang``) on stderr and exit with ``EXIT_INPUT``."""
    click.echo(text(lang, "error", message=message), err=True)
    sys.exit(EXIT_INPUT)


def one_line(exc: Exception) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())


def row_error_details(error, *, lang: str = "en") -> str:
    """``field: message; field: message`` of a rejected row, the messages in ``lang`` (the
    staff pages' texts); field names stay as files spell them."""
    messages = [e["message"] for e in error.errors]
    if lang != "en":
        from api.web.i18n import contract_message, shipped_catalogue

        catalogue = shipped_catalogue(lang)
        messages = [contract_message(message, catalogue) for message in messages]
    return "; ".join(f"{e['field']}: {m}" for e, m in zip(error.errors, messages, strict=True))


def row_error_line(error, *, lang: str = "en") -> str:
    """``rejected row 4 (BDG-2020-003): employees: ...`` in the language asked for."""
    who = f" ({error.sme_id})" if error.sme_id else ""
    details = row_error_details(error, lang=lang)
    return text(lang, "rejected_row", row=error.row, who=who, details=details)


def echo_json(data) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def echo_table(header: Sequence[str], rows: list[Sequence[str]]) -> None:
    """Print a header and rows as left-aligned columns two spaces apart."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def when(value) -> str:
    """A stored time as ``YYYY-MM-DD HH:MM``, or ``-`` for none."""
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


# --- registries --------------------------------------------------------------------------

models_dir_option = click.option(
    "--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None
)
rulesets_dir_option = click.option(
    "--rulesets-dir", type=click.Path(file_okay=False, path_type=Path), default=None
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def models_dir_or_default(models_dir: Path | None) -> Path:
    """``--models-dir``, else the shipped model registry."""
    from scoring.model.additive import default_models_dir

    return models_dir or default_models_dir()


def rulesets_dir_or_default(rulesets_dir: Path | None) -> Path:
    """``--rulesets-dir``, else the shipped ruleset registry."""
    from scoring.rules.registry import default_rulesets_dir

    return rulesets_dir or default_rulesets_dir()


# --- the service's database --------------------------------------------------------------

database_url_option = click.option(
    "--database-url",
    envvar="DATABASE_URL",
    default=None,
    metavar="URL",
    help="SQLAlchemy URL [env DATABASE_URL; default: the app's SQLite file].",
)


def default_url() -> str:
    """The embedded default: the same SQLite file ``sme-export serve`` uses, in the app's
    instance folder (``instance/`` beside the ``api`` package in a source checkout)."""
    from flask import Flask

    from api.config import DefaultConfig
    from api.db import sqlite_url

    return sqlite_url(Path(Flask("api").instance_path) / DefaultConfig.SQLITE_FILENAME)


def display_url(url: str) -> str:
    """A database URL fit to print: its password hidden."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def session(database_url: str | None) -> Iterator[Session]:
    """A session on an up-to-date database; committed when the block succeeds."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from api.db import make_engine, make_sessionmaker
    from api.migrate import is_up_to_date

    url = database_url or default_url()
    parsed = make_url(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in ("", None)
    if sqlite_file and parsed.database != ":memory:" and not Path(parsed.database).exists():
        fail(f"no database at {parsed.database}; run `sme-export db upgrade` first")
    engine = make_engine(url)
    try:
        try:
            current = is_up_to_date(engine)
        except SQLAlchemyError as exc:
            fail(f"cannot open the database {display_url(url)}: {one_line(exc)}")
        if not current:
            fail(f"the database {display_url(url)} is not up to date; run `sme-export db upgrade`")
        with make_sessionmaker(engine).begin() as db_session:
            yield db_session
    finally:
        engine.dispose()
