"""Webhook subscriptions and their deliveries: made from the events in commit order, claimed
by one worker at a time, retried, and a subscription disabled after failures in a row.

A subscription's ``cursor`` is the ``commit_seq`` up to which its deliveries are made; a
worker moves it with a conditional UPDATE, so of workers racing for the same events one
makes the deliveries (the unique (subscription, event) pair backs this up). A delivery is
claimed like a batch job (``api.store.jobs``): a conditional UPDATE to ``sending`` under a
lease; a worker that stops leaves the lease to run out, and the delivery is sent again.
Delivery is therefore at least once. The secret is never part of what is listed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from api.store.audit_log import audit
from api.store.common import format_time
from api.store.events import head
from api.tables import Event, WebhookDelivery, WebhookSubscription, utcnow

#: What ``update_subscription`` leaves alone when not given.
UNCHANGED = object()
#: Why a delivery whose worker stopped (lease ran out) too often is given up.
WORKER_STOPPED = "the worker sending it stopped before it was answered"


def _time(value: dt.datetime | None) -> str | None:
    return format_time(value) if value is not None else None


def subscription_dict(row: WebhookSubscription) -> dict:
    """A subscription as the API, pages and commands show it: never its secret."""
    return {
        "id": row.id,
        "url": row.url,
        "description": row.description,
        "types": list(row.types) if row.types is not None else None,
        "active": row.active,
        "disabled_reason": row.disabled_reason,
        "disabled_at": _time(row.disabled_at),
        "consecutive_failures": row.consecutive_failures,
        "created_by": row.created_by,
        "created_at": format_time(row.created_at),
        "updated_at": format_time(row.updated_at),
    }


def create_subscription(
    session: Session,
    *,
    url: str,
    secret: str,
    types: list[str] | None,
    description: str | None,
    actor: str,
) -> dict:
    """A new active subscription to the events committed from now on. ``url`` is checked
    by the caller (``api.services.webhooks.check_url``)."""
    row = WebhookSubscription(
        url=url,
        secret=secret,
        types=list(dict.fromkeys(types)) if types else None,
        description=description,
        active=True,
        consecutive_failures=0,
        cursor=head(session),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor=actor,
        action="webhook.created",
        subject=f"webhook/{row.id}",
        details={"types": row.types},
    )
    return subscription_dict(row)


def list_subscriptions(session: Session) -> list[dict]:
    rows = session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    return [subscription_dict(row) for row in rows]


def get_subscription(session: Session, subscription_id: int) -> dict | None:
    row = session.get(WebhookSubscription, subscription_id, populate_existing=True)
    return subscription_dict(row) if row is not None else None


def update_subscription(
    session: Session,
    subscription_id: int,
    *,
    actor: str,
    types=UNCHANGED,
    description=UNCHANGED,
    active: bool | None = None,
    reason: str | None = None,
) -> dict | None:
    """Change a subscription's types or description, disable it (with ``reason``) or
    enable it again (its count of failures starts again from 0; the events it missed while
    disabled are not sent). None if there is no such subscription."""
    row = session.get(WebhookSubscription, subscription_id, populate_existing=True)
    if row is None:
        return None
    changed: dict = {}
    if types is not UNCHANGED:
        row.types = list(dict.fromkeys(types)) if types else None
        changed["types"] = row.types
    if description is not UNCHANGED:
        row.description = description
    if active is not None and active != row.active:
        row.active = active
        changed["active"] = active
        if active:
            row.disabled_reason = row.disabled_at = None
            row.consecutive_failures = 0
            row.cursor = head(session)
        else:
            row.disabled_reason = reason or f"disabled by {actor}"
            row.disabled_at = utcnow()
    row.updated_at = utcnow()
    session.flush()
    audit(
        session,
        actor=actor,
        action="webhook.updated",
        subject=f"webhook/{row.id}",
        details=changed,
    )
    return subscription_dict(row)


def delete_subscription(session: Session, subscription_id: int, *, actor: str) -> bool:
    """Delete a subscription and its deliveries."""
    session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    )
    deleted = session.execute(
        delete(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
        .execution_options(synchronize_session=False)
    )
    if deleted.rowcount != 1:
        return False
    audit(session, actor=actor, action="webhook.deleted", subject=f"webhook/{subscription_id}")
    return True


# --- deliveries ---------------------------------------------------------------------------------


def delivery_dict(row: WebhookDelivery, event_type: str | None = None) -> dict:
    return {
        "id": row.id,
        "subscription_id": row.subscription_id,
        "event_id": row.event_id,
        "event_type": event_type,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": _time(row.next_attempt_at),
        "last_attempt_at": _time(row.last_attempt_at),
        "status_code": row.status_code,
        "duration_ms": row.duration_ms,
        "error": row.error,
        "created_at": format_time(row.created_at),
        "delivered_at": _time(row.delivered_at),
    }


def list_deliveries(
    session: Session,
    subscription_id: int | None = None,
    *,
    status: str | None = None,
    limit: int = 50,
) -> list[dict]:
    """The newest deliveries (of one subscription, of one status), newest first."""
    query = select(WebhookDelivery, Event.type).join(Event, Event.id == WebhookDelivery.event_id)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows = session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit))
    return [delivery_dict(row, event_type) for row, event_type in rows]


def get_delivery(session: Session, delivery_id: int) -> dict | None:
    row = session.execute(
        select(WebhookDelivery, Event.type)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id)
        .execution_options(populate_existing=True)
    ).first()
    return delivery_dict(*row) if row is not None else None


class SubscriptionDisabled(RuntimeError):
    """The delivery's subscription is disabled: enable it before sending again."""


def resend_delivery(session: Session, delivery_id: int, *, actor: str) -> dict | None:
    """Send a delivery again as soon as a worker can, with a fresh set of retries (whatever
    its status: a receiver may have lost a delivered event). None if there is no such
    delivery; ``SubscriptionDisabled`` if its subscription is disabled."""
    found = session.execute(
        select(WebhookDelivery.subscription_id, WebhookSubscription.active)
        .join(WebhookSubscription)
        .where(WebhookDelivery.id == delivery_id)
    ).first()
    if found is None:
        return None
    if not found.active:
        raise SubscriptionDisabled(f"webhook {found.subscription_id} is disabled")
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=utcnow(),
            worker=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    audit(
        session,
        actor=actor,
        action="webhook.resend",
        subject=f"webhook/{found.subscription_id}",
        details={"delivery_id": delivery_id},
    )
    return get_delivery(session, delivery_id)


def subscriptions_behind(session: Session) -> list[int]:
    """Active subscriptions with committed events they have no deliveries for yet."""
    newest = head(session)
    query = select(WebhookSubscription.id).where(
        WebhookSubscription.active, WebhookSubscription.cursor < newest
    )
    return list(session.scalars(query.order_by(WebhookSubscription.id)))


def make_deliveries(session: Session, subscription_id: int, *, limit: int = 500) -> int:
    """Make the deliveries of up to ``limit`` of the next events of a subscription's types
    and move its cursor past them; how many (0 also when another worker moved it first)."""
    found = session.execute(
        select(WebhookSubscription.cursor, WebhookSubscription.types).where(
            WebhookSubscription.id == subscription_id, WebhookSubscription.active
        )
    ).first()
    if found is None:
        return 0
    newest = head(session)
    query = select(Event.id, Event.commit_seq).where(
        Event.commit_seq > found.cursor, Event.commit_seq <= newest
    )
    if found.types is not None:
        query = query.where(Event.type.in_(found.types))
    events = session.execute(query.order_by(Event.commit_seq).limit(limit)).all()
    cursor = events[-1].commit_seq if len(events) == limit else newest
    moved = session.execute(
        update(WebhookSubscription)
        .where(
            WebhookSubscription.id == subscription_id, WebhookSubscription.cursor == found.cursor
        )
        .values(cursor=cursor)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1 or not events:
        return 0
    now = utcnow()
    session.execute(
        insert(WebhookDelivery),
        [
            {
                "subscription_id": subscription_id,
                "event_id": event.id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event in events
        ],
    )
    return len(events)


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds: where to send which event, and how to sign it."""

    delivery_id: int
    subscription_id: int
    url: str
    secret: str
    attempts: int
    event: dict


def _claimable(now: dt.datetime, max_attempts: int):
    due = (WebhookDelivery.status == "pending") & (WebhookDelivery.next_attempt_at <= now)
    abandoned = (
        (WebhookDelivery.status == "sending")
        & (WebhookDelivery.lease_expires_at < now)
        & (WebhookDelivery.attempts < max_attempts)
    )
    return due | abandoned


def claim_delivery(
    session: Session, *, worker: str, lease_seconds: float, max_attempts: int
) -> Claimed | None:
    """Claim the delivery due longest (or one whose worker stopped) of an active
    subscription; None when none is due."""
    now = utcnow()
    claimable = _claimable(now, max_attempts)
    candidates = session.scalars(
        select(WebhookDelivery.id)
        .join(WebhookSubscription)
        .where(claimable, WebhookSubscription.active)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(10)
    ).all()
    for delivery_id in candidates:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, claimable)
            .values(
                status="sending",
                worker=worker,
                lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                attempts=WebhookDelivery.attempts + 1,
                last_attempt_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            return _claimed(session, delivery_id)
    return None


def _claimed(session: Session, delivery_id: int) -> Claimed:
    delivery, subscription, event = session.execute(
        select(WebhookDelivery, WebhookSubscription, Event)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id)
        .execution_options(populate_existing=True)
    ).one()
    return Claimed(
        delivery_id=delivery.id,
        subscription_id=subscription.id,
        url=subscription.url,
        secret=subscription.secret,
        attempts=delivery.attempts,
        event={
            "id": event.id,
            "type": event.type,
            "occurred_at": format_time(event.occurred_at),
            "data": event.payload,
        },
    )


def finish_attempt(
    session: Session,
    delivery_id: int,
    *,
    worker: str,
    status_code: int | None,
    duration_ms: int | None,
    error: str | None,
    retry_at: dt.datetime | None,
    disable_after: int,
) -> str | None:
    """Record the answer to ``worker``'s attempt: ``delivered`` (no ``error``), ``pending``
    again until ``retry_at``, or ``failed`` (no retry left). A failed delivery counts
    against its subscription, which is disabled after ``disable_after`` in a row; a
    delivered one clears the count. The new status, or None if the delivery is no longer
    ``worker``'s (it was sent again meanwhile)."""
    now = utcnow()
    values: dict = {
        "status_code": status_code,
        "duration_ms": duration_ms,
        "error": error,
        "worker": None,
        "lease_expires_at": None,
    }
    if error is None:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
    elif retry_at is not None:
        values.update(status="pending", next_attempt_at=retry_at)
    else:
        values.update(status="failed", next_attempt_at=None)
    recorded = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "sending",
            WebhookDelivery.worker == worker,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if recorded.rowcount != 1:
        return None
    subscription_id = session.scalar(
        select(WebhookDelivery.subscription_id).where(WebhookDelivery.id == delivery_id)
    )
    if values["status"] == "delivered":
        session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == subscription_id)
            .values(consecutive_failures=0)
            .execution_options(synchronize_session=False)
        )
    elif values["status"] == "failed":
        _count_failure(session, subscription_id, error, disable_after=disable_after)
    return values["status"]


def _count_failure(
    session: Session, subscription_id: int, error: str | None, *, disable_after: int
) -> None:
    """One more failed delivery in a row; at ``disable_after`` the subscription is disabled."""
    session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
        .values(consecutive_failures=WebhookSubscription.consecutive_failures + 1)
        .execution_options(synchronize_session=False)
    )
    failures = session.scalar(
        select(WebhookSubscription.consecutive_failures).where(
            WebhookSubscription.id == subscription_id
        )
    )
    if failures is None or failures < disable_after:
        return
    reason = f"{failures} deliveries in a row failed; the last: {error}"
    disabled = session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id, WebhookSubscription.active)
        .values(active=False, disabled_reason=reason, disabled_at=utcnow(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if disabled.rowcount == 1:
        audit(
            session,
            actor="worker",
            action="webhook.disabled",
            subject=f"webhook/{subscription_id}",
            details={"failures": failures},
        )


def fail_abandoned_deliveries(session: Session, *, max_attempts: int, disable_after: int) -> int:
    """Give up the deliveries whose worker stopped while sending them on the last attempt;
    how many. Each counts against its subscription like any failed delivery."""
    now = utcnow()
    given_up = (
        (WebhookDelivery.status == "sending")
        & (WebhookDelivery.lease_expires_at < now)
        & (WebhookDelivery.attempts >= max_attempts)
    )
    failed = 0
    for delivery_id, subscription_id in session.execute(
        select(WebhookDelivery.id, WebhookDelivery.subscription_id).where(given_up)
    ).all():
        marked = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, given_up)
            .values(status="failed", error=WORKER_STOPPED, worker=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount == 1:
            _count_failure(session, subscription_id, WORKER_STOPPED, disable_after=disable_after)
            failed += 1
    return failed
