"""``sme-export keys create|revoke|list``: the service's API keys.

Keys are stored hashed: a key's text is printed once, when it is created.
"""

from __future__ import annotations

import click

from api.cli.common import database_url_option, echo_table, fail, one_line, session, when


@click.group()
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
        with session(database_url) as db_session:
            key_id, key = store.create_api_key(db_session, name=name, scopes=scopes)
            store.audit(
                db_session,
                actor="cli",
                action="api_key.created",
                subject=key_id,
                details={"scopes": list(dict.fromkeys(scopes))},
            )
    except ValueError as exc:
        fail(one_line(exc))
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

    with session(database_url) as db_session:
        revoked = store.revoke_api_key(db_session, key_id)
        if revoked:
            store.audit(db_session, actor="cli", action="api_key.revoked", subject=key_id)
    if not revoked:
        fail(f"no active API key {key_id!r}")
    click.echo(f"revoked {key_id}")


@keys.command("list")
@database_url_option
def keys_list(database_url: str | None) -> None:
    """List API keys (never their secrets)."""
    from api import store

    with session(database_url) as db_session:
        infos = store.list_api_keys(db_session)
    header = ("KEY_ID", "NAME", "SCOPES", "CREATED (UTC)", "LAST USED (UTC)", "STATUS")
    rows = [
        (
            info.key_id,
            info.name,
            ",".join(info.scopes),
            when(info.created_at),
            when(info.last_used_at),
            "active" if info.active else f"revoked {when(info.revoked_at)}",
        )
        for info in infos
    ]
    echo_table(header, rows)
