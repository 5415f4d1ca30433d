"""Batches: created (idempotently), finished or failed, their status and their results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.store.audit_log import audit
from api.store.common import format_time
from api.store.events import emit_batch_end
from api.store.scores import latest_rows
from api.tables import Batch, Score, Sme, utcnow


def create_batch(
    session: Session,
    *,
    cohort: str | None,
    filename: str | None,
    actor: str,
    queued: bool = False,
    lang: str | None = None,
    source: str | None = None,
    staging_path: str | None = None,
    rows_total: int | None = None,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
    worker: str | None = None,
    lease_seconds: float | None = None,
) -> int:
    """A new batch, its id: "running" (scored by the caller), or with ``queued`` a job for a
    worker, whose input (``source`` "upload" or "records") waits at ``staging_path``.
    A running batch is ``worker``'s (the request scoring it), leased for ``lease_seconds``:
    if the request's process dies, the lease runs out and the batch is failed
    (``fail_abandoned_jobs``).

    An ``idempotency_key`` already used by ``actor`` raises ``IntegrityError`` at flush.
    """
    batch = Batch(
        status="queued" if queued else "running",
        cohort=cohort,
        filename=filename,
        actor=actor,
        row_errors=[],
        lang=lang,
        source=source,
        staging_path=staging_path,
        rows_total=rows_total,
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
    )
    if not queued and worker is not None and lease_seconds is not None:
        batch.worker, batch.attempts = worker, 1
        batch.lease_expires_at = utcnow() + dt.timedelta(seconds=lease_seconds)
    session.add(batch)
    session.flush()
    audit(
        session,
        actor=actor,
        action="batch.created",
        subject=f"batch/{batch.id}",
        details={"cohort": cohort},
    )
    return batch.id


def find_batch_by_key(session: Session, *, actor: str, idempotency_key: str) -> tuple[int, str]:
    """``(batch_id, request_sha256)`` of the batch ``actor`` created with ``idempotency_key``;
    raises ``LookupError`` if there is none."""
    row = session.execute(
        select(Batch.id, Batch.request_sha256).where(
            Batch.actor == actor, Batch.idempotency_key == idempotency_key
        )
    ).first()
    if row is None:
        raise LookupError(f"no batch of {actor} with that idempotency key")
    return row.id, row.request_sha256


def release_idempotency_key(session: Session, batch_id: int) -> bool:
    """Free the Idempotency-Key of a failed batch (it stored nothing), so that the same
    request with the same key makes a new batch; False if the batch is not failed."""
    released = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == "failed")
        .values(idempotency_key=None)
        .execution_options(synchronize_session=False)
    )
    return released.rowcount == 1


def _running_batch(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise LookupError(f"no batch {batch_id}")
    if batch.status != "running":
        raise ValueError(f"batch {batch_id} is {batch.status}, not running")
    return batch


def _end_job(batch: Batch) -> None:
    """A finished batch holds no lease; its staging file is deleted after the commit
    (``finished_staging``)."""
    batch.worker = None
    batch.lease_expires_at = None
    batch.finished_at = utcnow()


def finish_batch(
    session: Session,
    batch_id: int,
    *,
    received: int,
    scored: int,
    rejected: int,
    row_errors: Sequence[dict],
    skipped: Sequence[dict] = (),
    notices: Sequence[dict] = (),
) -> None:
    """Mark a running batch complete with its counts, row errors (RowError.to_dict()), the
    skipped rows that are no profiles (SkippedRow.to_dict(); not counted in ``received``) and
    what the file's reader assumed (Notice.to_dict())."""
    if received != scored + rejected:
        raise ValueError(f"received ({received}) != scored ({scored}) + rejected ({rejected})")
    batch = _running_batch(session, batch_id)
    batch.status = "complete"
    batch.received, batch.scored, batch.rejected = received, scored, rejected
    batch.rows_done = batch.rows_total = received
    batch.row_errors = [dict(error) for error in row_errors]
    # Kept with the skipped rows (a notice has a ``code``, a row a ``row``): one JSON column.
    batch.skipped_rows = [dict(row) for row in skipped] + [dict(notice) for notice in notices]
    _end_job(batch)
    audit(
        session,
        actor=batch.actor,
        action="batch.completed",
        subject=f"batch/{batch_id}",
        details={"received": received, "scored": scored, "rejected": rejected},
    )
    emit_batch_end(
        session,
        batch_id=batch_id,
        cohort=batch.cohort,
        received=received,
        scored=scored,
        rejected=rejected,
    )


def fail_batch(session: Session, batch_id: int, *, reason: str) -> None:
    """Mark a running batch failed; ``reason`` is kept on the batch (not in the audit log)."""
    batch = _running_batch(session, batch_id)
    batch.status = "failed"
    batch.failure_reason = reason
    _end_job(batch)
    audit(session, actor=batch.actor, action="batch.failed", subject=f"batch/{batch_id}")
    emit_batch_end(session, batch_id=batch_id, cohort=batch.cohort, reason=reason)


def get_batch(session: Session, batch_id: int) -> dict | None:
    """The batch's status, counts, row errors, progress and (when it failed) why.

    Counts and row errors are those of the finished batch: zero and empty while it is
    queued or running, when ``progress`` tells how far it got.
    """
    session.flush()
    # populate_existing: a worker elsewhere may have moved the batch on since it was loaded
    batch = session.get(Batch, batch_id, populate_existing=True)
    if batch is None:
        return None
    return {
        "batch_id": batch.id,
        "status": batch.status,
        "cohort": batch.cohort,
        "filename": batch.filename,
        "received": batch.received,
        "scored": batch.scored,
        "rejected": batch.rejected,
        "row_errors": list(batch.row_errors),
        "skipped": [row for row in batch.skipped_rows or [] if "code" not in row],
        "notices": [notice for notice in batch.skipped_rows or [] if "code" in notice],
        "created_at": format_time(batch.created_at),
        "finished_at": format_time(batch.finished_at) if batch.finished_at else None,
        "failure_reason": batch.failure_reason,
        "progress": {"rows_done": batch.rows_done, "rows_total": batch.rows_total},
    }


def batch_results(session: Session, batch_id: int) -> list[dict] | None:
    """The batch's score records in row order, each with ``previous_score`` (the SME's latest
    score before this batch, or None) and ``change`` (rounded to one decimal, or None).

    None if the batch is unknown or not complete: results are visible only once complete.
    """
    status = session.scalar(select(Batch.status).where(Batch.id == batch_id))
    if status != "complete":
        return None
    return list(iter_batch_results(session, batch_id))


def batch_sme_ids(session: Session, batch_id: int) -> list[str]:
    """The sme_id of each of the batch's score records, in row order."""
    query = select(Score.sme_id).where(Score.batch_id == batch_id).order_by(Score.id)
    return list(session.scalars(query))


def iter_batch_results(session: Session, batch_id: int, *, chunk_size: int = 100) -> Iterator[dict]:
    """``batch_results`` of a complete batch one by one, read ``chunk_size`` records at a
    time (a server-side cursor on PostgreSQL): a large batch is never all in memory."""
    sme_ids = batch_sme_ids(session, batch_id)
    previous = dict(latest_rows(session, sme_ids, batch_id, Score.score))
    query = select(Score.record).where(Score.batch_id == batch_id).order_by(Score.id)
    # Through the Core connection: the ORM's result buffers every row even with yield_per.
    rows = session.connection().execute(query.execution_options(yield_per=chunk_size))
    for record in rows.scalars():
        yield _with_change(record, previous.get(record["sme_id"]))


def _with_change(record: dict, before: float | None) -> dict:
    """A result: the score record, the SME's score before the batch and the change."""
    change = None if before is None else round(record["score"] - before, 1)
    return {**record, "previous_score": before, "change": change}


def batch_results_page(
    session: Session, batch_id: int, *, limit: int, after: int | None = None
) -> list[tuple[int, dict]]:
    """Up to ``limit`` of a complete batch's results in row order, after the score
    ``after`` (keyset paging), as ``(score id, result)``: ``iter_batch_results``' rows
    with the SME's ``name`` and ``sector`` (None for an SME no longer stored)."""
    query = (
        select(Score.id, Score.record, Sme.name, Sme.sector)
        .outerjoin(Sme, Sme.sme_id == Score.sme_id)
        .where(Score.batch_id == batch_id)
    )
    if after is not None:
        query = query.where(Score.id > after)
    rows = session.execute(query.order_by(Score.id).limit(limit)).all()
    sme_ids = [row.record["sme_id"] for row in rows]
    previous = dict(latest_rows(session, sme_ids, batch_id, Score.score))
    return [
        (
            row.id,
            {
                **_with_change(row.record, previous.get(row.record["sme_id"])),
                "name": row.name,
                "sector": row.sector,
            },
        )
        for row in rows
    ]
