"""The append-only processing log: audit events written and read."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.store.common import format_time
from api.store.direct import direct
from api.tables import AuditEvent


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None,
    details: dict | None = None,
) -> None:
    """Append an audit event. ``details`` must never hold personal data.

    An insert on the session's connection, in its transaction, straight on the driver's
    cursor (``api.store.direct``): the ORM's unit of work and SQLAlchemy's execution cost
    more than the insert, and nothing reads the event back as an object."""
    direct(_INSERT).run(
        session.connection(),
        {"actor": actor, "action": action, "subject": subject, "details": details},
    )


_INSERT = AuditEvent.__table__.insert()


def event_dict(row: AuditEvent) -> dict:
    """An audit event as the API and pages show it."""
    return {
        "id": row.id,
        "at": format_time(row.at),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "details": row.details,
    }


def audit_events(session: Session, *, limit: int = 100) -> list[dict]:
    """The latest ``limit`` audit events, newest first."""
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))
    return [event_dict(row) for row in rows]


def processing_log(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    page: int = 1,
    per_page: int = 50,
    after: int | None = None,
    count: bool = True,
) -> tuple[list[dict], int | None]:
    """One page of processing-log events matching every filter given, newest first, and
    how many match (None without ``count``). ``since`` is inclusive, ``until`` exclusive.
    With ``after`` (an event's id) the page starts after it, not at an offset."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    query = select(AuditEvent)
    for column, value in (
        (AuditEvent.actor, actor),
        (AuditEvent.action, action),
        (AuditEvent.subject, subject),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    total = None
    if count:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
    if after is not None:
        query = query.where(AuditEvent.id < after)
    rows = session.scalars(
        query.order_by(AuditEvent.id.desc()).limit(per_page).offset((page - 1) * per_page)
    )
    return [event_dict(row) for row in rows], total
