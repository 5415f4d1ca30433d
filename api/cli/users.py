"""``sme-export users create|list|disable``: staff accounts of the web pages.

A password is read from a hidden prompt (asked twice) or, for scripts, from the
environment variable ``SME_EXPORT_USER_PASSWORD``; it is never a command-line argument,
which other users of the machine could read in the process list.
"""

from __future__ import annotations

import click

from api.cli.common import database_url_option, echo_table, fail, one_line, session, when
from api.tables import USER_LANGUAGES, USER_ROLES


@click.group()
def users() -> None:
    """Staff accounts of the web pages (officer, lead, admin)."""


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(USER_ROLES), help="What the user may do.")
@click.option(
    "--language",
    type=click.Choice(USER_LANGUAGES),
    default="id",
    show_default=True,
    help="Language of the pages after login.",
)
@click.password_option(
    envvar="SME_EXPORT_USER_PASSWORD",
    help="Read from a hidden prompt or SME_EXPORT_USER_PASSWORD (at least 10 characters).",
)
@database_url_option
def users_create(
    username: str, role: str, language: str, password: str, database_url: str | None
) -> None:
    """Create the staff account USERNAME."""
    from api import store

    try:
        with session(database_url) as db_session:
            user = store.create_user(
                db_session, username=username, password=password, role=role, language=language
            )
            store.audit(
                db_session,
                actor="cli",
                action="user.created",
                subject=f"user:{user.username}",
                details={"role": role},
            )
    except ValueError as exc:
        fail(one_line(exc))
    click.echo(f"created {user.username} ({user.role})")


@users.command("list")
@database_url_option
def users_list(database_url: str | None) -> None:
    """List staff accounts (never their passwords)."""
    from api import store

    with session(database_url) as db_session:
        infos = store.list_users(db_session)
    header = ("USERNAME", "ROLE", "LANGUAGE", "CREATED (UTC)", "STATUS")
    rows = [
        (
            info.username,
            info.role,
            info.language,
            when(info.created_at),
            "active" if info.active else f"disabled {when(info.disabled_at)}",
        )
        for info in infos
    ]
    echo_table(header, rows)


@users.command("disable")
@click.argument("username")
@database_url_option
def users_disable(username: str, database_url: str | None) -> None:
    """Disable the staff account USERNAME (it can no longer log in)."""
    from api import store

    with session(database_url) as db_session:
        disabled = store.disable_user(db_session, username)
        if disabled:
            store.audit(db_session, actor="cli", action="user.disabled", subject=f"user:{username}")
    if not disabled:
        fail(f"no active user {username!r}")
    click.echo(f"disabled {username}")
