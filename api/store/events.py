"""Events for other systems: the outbox written with each change, numbered in the order
of the commits, and the feed that reads it.

``emit`` adds an event to the session's transaction: the event and the change it tells of
commit together or not at all. A reader must never skip an event, and ids do not give a
safe order: on PostgreSQL a transaction that took id 7 from the sequence may commit
before the one that took id 6, and a reader that saw 7 and moved on would never see 6.
So events are numbered when their transaction commits: just before the commit
(``before_commit``), the transaction's events get the next ``commit_seq`` numbers, under
a transaction-scoped advisory lock on PostgreSQL that is released only once the commit is
visible (SQLite has one writer at a time anyway). The next transaction to number events
waits for that lock, so whoever sees ``commit_seq`` n sees every smaller one too, and the
feed's cursor is simply the last ``commit_seq`` read. The lock is taken at the very end
of a transaction, after its last change, so it cannot be part of a deadlock; it orders
only the commits of transactions that emitted events.

Payloads carry ids, scores and codes, never personal fields (owner, contacts, district,
gender) nor the SME's name; each has ``"version": 1``. Erasure leaves an SME's events with
its ``sme_id`` only (``forget_sme``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import event as orm_event
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.store.common import format_time
from api.store.direct import direct, execute
from api.tables import Event, utcnow

#: Every event type, with what it tells; payloads are documented in the OpenAPI document.
EVENT_TYPES = {
    "score.created": "An SME was scored and the score stored.",
    "tier.changed": "An SME's new score is in another tier than its previous score.",
    "batch.completed": "A batch is complete: its results can be read.",
    "batch.failed": "A batch failed, with the reason; nothing of it was stored.",
    "shortlist.created": "A shortlist was built: its source, places and the SMEs chosen.",
    "model.promoted": "Another model version is active (a promotion or a rollback).",
    "ruleset.activated": "Another ruleset version is active.",
    "sme.erased": "An SME was erased on request or by retention: erase what you hold on it.",
    "decision.recorded": "A support decision about an SME was recorded.",
    "outcome.recorded": "An export follow-up of an SME was recorded.",
}
PAYLOAD_VERSION = 1
#: The advisory lock that orders the numbering of events on PostgreSQL ("smeevnts").
NUMBERING_LOCK = int.from_bytes(b"smeevnts", "big")
_PENDING = "sme_export.events_pending"


def emit(session: Session, type: str, payload: dict) -> None:
    """Add one event to the session's transaction; it is numbered when that commits."""
    emit_many(session, [(type, payload)])


def emit_many(session: Session, events: Iterable[tuple[str, dict]]) -> int:
    """Add events (``(type, payload)`` pairs) in one multi-row insert; how many.

    ``payload["sme_id"]``, when present, is kept beside it for erasure.
    """
    now = utcnow()
    rows = []
    for type, payload in events:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        rows.append(
            {
                "type": type,
                "sme_id": payload.get("sme_id"),
                "payload": {"version": PAYLOAD_VERSION, **payload},
                "occurred_at": now,
            }
        )
    if rows:
        # on the session's connection: the ORM adds nothing to a Core insert but its cost
        execute(session.connection(), _INSERT, rows)
        session.info[_PENDING] = True
    return len(rows)


def number_events(session: Session) -> None:
    """Give the transaction's events the next ``commit_seq`` numbers, in id order.

    Run just before the commit; on PostgreSQL under the advisory lock, held until the
    transaction ends. Events without a number are this transaction's own: every other
    transaction numbers its events before its commit.
    """
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        direct(_LOCK).run(connection)
    direct(_NUMBER).run(connection)


_INSERT = Event.__table__.insert()
_LOCK = select(func.pg_advisory_xact_lock(NUMBERING_LOCK))
_events, _numbered_before = Event.__table__, Event.__table__.alias("numbered_before")
_unnumbered = (
    select(_events.c.id, func.row_number().over(order_by=_events.c.id).label("n"))
    .where(_events.c.commit_seq.is_(None))
    .subquery()
)
#: One statement, built once: the unnumbered events get the numbers after the highest.
_NUMBER = (
    update(_events)
    .where(_events.c.id == _unnumbered.c.id)
    .values(
        commit_seq=select(
            func.coalesce(func.max(_numbered_before.c.commit_seq), 0)
        ).scalar_subquery()
        + _unnumbered.c.n
    )
)


@orm_event.listens_for(Session, "before_commit")
def _number_before_commit(session: Session) -> None:
    if session.info.pop(_PENDING, False):
        number_events(session)


@orm_event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def event_dict(row) -> dict:
    """An event as the feed and webhooks send it (the feed adds its ``cursor``)."""
    return {
        "id": row.id,
        "type": row.type,
        "occurred_at": format_time(row.occurred_at),
        "data": row.payload,
    }


_COLUMNS = (Event.id, Event.type, Event.occurred_at, Event.payload, Event.commit_seq)


def head(session: Session) -> int:
    """The ``commit_seq`` of the newest committed event (0: none yet). Every event up to
    it is committed and visible."""
    return session.scalar(select(func.coalesce(func.max(Event.commit_seq), 0)))


def read_events(
    session: Session, *, after: int = 0, limit: int = 50, types: Sequence[str] | None = None
) -> tuple[list[dict], int]:
    """Committed events after the cursor ``after``, oldest commit first, at most ``limit``
    (of ``types`` only, if given), and the cursor to ask with next.

    The next cursor is the last event's when the page is full, else the newest committed
    event's: events not of ``types`` up to it need not be read again.
    """
    newest = head(session)
    if newest <= after:
        return [], after
    query = select(*_COLUMNS).where(Event.commit_seq > after, Event.commit_seq <= newest)
    if types:
        query = query.where(Event.type.in_(list(types)))
    rows = session.execute(query.order_by(Event.commit_seq).limit(limit)).all()
    cursor = rows[-1].commit_seq if len(rows) == limit else newest
    return [{**event_dict(row), "cursor": str(row.commit_seq)} for row in rows], cursor


def get_event(session: Session, event_id: int) -> dict | None:
    row = session.execute(select(*_COLUMNS).where(Event.id == event_id)).first()
    return event_dict(row) if row is not None else None


def forget_sme(session: Session, sme_id: str) -> int:
    """Leave the SME's events with its sme_id only (erasure); how many."""
    changed = session.execute(
        update(Event)
        .where(Event.sme_id == sme_id)
        .values(payload={"version": PAYLOAD_VERSION, "sme_id": sme_id, "erased": True})
        .execution_options(synchronize_session=False)
    )
    return changed.rowcount


# --- payloads of events emitted outside the store's own modules --------------------------------


def emit_batch_end(
    session: Session,
    *,
    batch_id: int,
    cohort: str | None,
    received: int = 0,
    scored: int = 0,
    rejected: int = 0,
    reason: str | None = None,
) -> None:
    """``batch.completed``, or with a ``reason`` ``batch.failed`` (which stored nothing)."""
    emit(
        session,
        "batch.failed" if reason is not None else "batch.completed",
        {
            "batch_id": batch_id,
            "status": "failed" if reason is not None else "complete",
            "cohort": cohort,
            "received": received,
            "scored": scored,
            "rejected": rejected,
            "reason": reason,
        },
    )


def emit_shortlist(
    session: Session, shortlist: dict, *, cohort: str | None = None, batch_id: int | None = None
) -> None:
    """``shortlist.created`` of a shortlist (``scoring.shortlist.build_shortlist``) made from
    a ``cohort``, a batch or (neither given) a list of SMEs; the chosen SMEs by sme_id, in
    rank order."""
    source = "cohort" if cohort is not None else "batch" if batch_id is not None else "sme_ids"
    emit(
        session,
        "shortlist.created",
        {
            "source": source,
            "cohort": cohort,
            "batch_id": batch_id,
            "capacity": shortlist["capacity"],
            "target_market": shortlist.get("target_market"),
            "max_per_sector": shortlist.get("max_per_sector"),
            "eligible": shortlist.get("eligible"),
            "selected": [entry["sme_id"] for entry in shortlist["selected"]],
        },
    )


def emit_activation(session: Session, activation: dict) -> None:
    """``model.promoted`` or ``ruleset.activated`` of a registry's history event (a model's
    ``promote`` or ``rollback``, a ruleset's ``activate``)."""
    action = activation["action"]
    if action in ("promote", "rollback"):
        emit(
            session,
            "model.promoted",
            {
                "model_version": activation["version"],
                "previous_version": activation.get("previous"),
                "action": action,
                "forced": bool(activation.get("forced")),
                "activated_at": activation.get("at"),
            },
        )
    elif action in ("activate", "ruleset_activate"):
        emit(
            session,
            "ruleset.activated",
            {
                "ruleset_version": activation["version"],
                "previous_version": activation.get("previous"),
                "activated_at": activation.get("at"),
            },
        )
    else:
        raise ValueError(f"not an activation: {action!r}")
