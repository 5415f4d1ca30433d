"""``sme-export webhooks create|list|disable|enable|deliveries|resend``: the systems that
receive the service's events by webhook, and what was sent to them.

The worker (``sme-export worker``, or the service's own thread) sends the deliveries; these
commands only change what it will send. A subscription's secret is printed once, when it
is created.
"""

from __future__ import annotations

import os

import click

from api.cli.common import database_url_option, echo_table, fail, session
from api.store.events import EVENT_TYPES
from api.tables import DELIVERY_STATUSES


def _loopback_allowed() -> bool:
    """Whether the configuration in ``SME_EXPORT_CONFIG`` allows loopback receivers."""
    from api.config import CONFIGS, DefaultConfig

    config = CONFIGS.get(os.environ.get("SME_EXPORT_CONFIG", "default"), DefaultConfig)
    return bool(config.WEBHOOKS_ALLOW_LOOPBACK)


def _short(value: str | None, width: int = 60) -> str:
    if not value:
        return "-"
    return value if len(value) <= width else value[: width - 3] + "..."


@click.group()
def webhooks() -> None:
    """Webhook subscriptions of other systems and their deliveries."""


@webhooks.command("create")
@click.option("--url", required=True, help="Where to POST events (https).")
@click.option(
    "--type",
    "types",
    multiple=True,
    type=click.Choice(list(EVENT_TYPES)),
    help="An event type to send; repeat for several [default: every type].",
)
@click.option("--description", help="Whose system it is, what it does with the events.")
@database_url_option
def webhooks_create(url, types, description, database_url) -> None:
    """Subscribe URL to events and print the signing secret once."""
    from api import store
    from api.services import webhooks as service

    try:
        service.check_url(url, allow_loopback=_loopback_allowed())
    except service.UrlRefused as exc:
        fail(str(exc))
    secret = service.new_secret()
    with session(database_url) as db_session:
        created = store.create_subscription(
            db_session,
            url=url,
            secret=secret,
            types=list(types) or None,
            description=description,
            actor="cli",
        )
    click.echo(secret)
    click.echo(
        f"webhook {created['id']} to {url} ({', '.join(types) or 'every type'}): copy the "
        "secret now; it cannot be shown again.",
        err=True,
    )


@webhooks.command("list")
@database_url_option
def webhooks_list(database_url) -> None:
    """List subscriptions (never their secrets), and why a disabled one was disabled."""
    from api import store

    with session(database_url) as db_session:
        items = store.list_subscriptions(db_session)
    header = ("ID", "URL", "TYPES", "STATUS", "FAILURES")
    rows = [
        (
            str(item["id"]),
            item["url"],
            ",".join(item["types"]) if item["types"] else "all",
            "active" if item["active"] else f"disabled: {item['disabled_reason']}",
            str(item["consecutive_failures"]),
        )
        for item in items
    ]
    echo_table(header, rows)


def _set_active(database_url, subscription_id: int, *, active: bool, reason=None) -> None:
    from api import store

    with session(database_url) as db_session:
        changed = store.update_subscription(
            db_session, subscription_id, actor="cli", active=active, reason=reason
        )
    if changed is None:
        fail(f"no webhook {subscription_id}")
    click.echo(f"webhook {subscription_id}: {'active' if active else 'disabled'}")


@webhooks.command("disable")
@click.argument("subscription_id", type=click.IntRange(min=1))
@click.option("--reason", help="Why (shown with the subscription).")
@database_url_option
def webhooks_disable(subscription_id, reason, database_url) -> None:
    """Stop sending events to webhook SUBSCRIPTION_ID."""
    _set_active(database_url, subscription_id, active=False, reason=reason)


@webhooks.command("enable")
@click.argument("subscription_id", type=click.IntRange(min=1))
@database_url_option
def webhooks_enable(subscription_id, database_url) -> None:
    """Send events to webhook SUBSCRIPTION_ID again (from those committed now on)."""
    _set_active(database_url, subscription_id, active=True)


@webhooks.command("deliveries")
@click.argument("subscription_id", type=click.IntRange(min=1))
@click.option("--status", type=click.Choice(DELIVERY_STATUSES), default=None, help="Only these.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@database_url_option
def webhooks_deliveries(subscription_id, status, limit, database_url) -> None:
    """The newest deliveries of webhook SUBSCRIPTION_ID, with the last answer."""
    from api import store

    with session(database_url) as db_session:
        if store.get_subscription(db_session, subscription_id) is None:
            fail(f"no webhook {subscription_id}")
        items = store.list_deliveries(db_session, subscription_id, status=status, limit=limit)
    header = ("ID", "EVENT", "TYPE", "STATUS", "ATTEMPTS", "ANSWER", "NEXT ATTEMPT (UTC)")
    rows = [
        (
            str(item["id"]),
            str(item["event_id"]),
            item["event_type"],
            item["status"],
            str(item["attempts"]),
            _short(item["error"] or (str(item["status_code"]) if item["status_code"] else None)),
            item["next_attempt_at"] or "-",
        )
        for item in items
    ]
    echo_table(header, rows)


@webhooks.command("resend")
@click.argument("delivery_id", type=click.IntRange(min=1))
@database_url_option
def webhooks_resend(delivery_id, database_url) -> None:
    """Send delivery DELIVERY_ID again, with a fresh set of retries."""
    from api import store

    with session(database_url) as db_session:
        try:
            resent = store.resend_delivery(db_session, delivery_id, actor="cli")
        except store.SubscriptionDisabled as exc:
            fail(f"{exc}; enable it first")
    if resent is None:
        fail(f"no delivery {delivery_id}")
    click.echo(f"delivery {delivery_id}: pending, sent again by the next worker pass")
