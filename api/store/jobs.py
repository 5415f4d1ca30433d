"""The queue of background batches: jobs claimed under a lease, abandoned ones, staging files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.store.audit_log import audit
from api.store.events import emit_batch_end
from api.tables import Batch, utcnow

# A queued batch is a job. A worker claims it (status "running", its name in ``worker``, a
# lease until ``lease_expires_at``) and renews the lease while it works; a job whose lease
# ran out belongs to a worker that stopped, and is claimed again from the start. Every
# change is a conditional UPDATE, so of workers racing for one job exactly one wins, and a
# worker that lost its job can no longer change it. Times are this host's clock (UTC).


@dataclass(frozen=True)
class Job:
    """What a worker needs to run a claimed batch."""

    batch_id: int
    source: str
    staging_path: str
    filename: str | None
    cohort: str | None
    lang: str
    actor: str
    attempts: int
    created_at: dt.datetime


def _lease_ran_out(now: dt.datetime):
    return (Batch.status == "running") & (Batch.lease_expires_at < now)


def claim_job(
    session: Session, *, worker: str, lease_seconds: float, max_attempts: int
) -> Job | None:
    """Claim the oldest queued job, or one whose worker stopped (lease ran out) and that has
    been started fewer than ``max_attempts`` times; None when there is nothing to do."""
    now = utcnow()
    staged = Batch.source.is_not(None)  # a batch scored in a request has no input to run again
    claimable = (Batch.status == "queued") | (
        _lease_ran_out(now) & staged & (Batch.attempts < max_attempts)
    )
    candidates = session.scalars(select(Batch.id).where(claimable).order_by(Batch.id).limit(10))
    for batch_id in candidates.all():
        claimed = session.execute(
            update(Batch)
            .where(Batch.id == batch_id, claimable)
            .values(
                status="running",
                worker=worker,
                lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                attempts=Batch.attempts + 1,
                rows_done=0,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            batch = session.get(Batch, batch_id, populate_existing=True)
            return Job(
                batch_id=batch.id,
                source=batch.source,
                staging_path=batch.staging_path,
                filename=batch.filename,
                cohort=batch.cohort,
                lang=batch.lang or "en",
                actor=batch.actor,
                attempts=batch.attempts,
                created_at=batch.created_at,
            )
    return None


def renew_lease(
    session: Session,
    batch_id: int,
    *,
    worker: str,
    lease_seconds: float,
    rows_done: int | None = None,
    rows_total: int | None = None,
) -> bool:
    """Extend ``worker``'s lease on its running job and record its progress; False when the
    job is no longer the worker's (taken over after its lease ran out, or finished)."""
    values: dict[str, Any] = {"lease_expires_at": utcnow() + dt.timedelta(seconds=lease_seconds)}
    if rows_done is not None:
        values["rows_done"] = rows_done
    if rows_total is not None:
        values["rows_total"] = rows_total
    renewed = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == "running", Batch.worker == worker)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return renewed.rowcount == 1


#: Why a batch scored in a request is failed when the request's process stopped.
REQUEST_STOPPED = (
    "the server stopped while scoring it in the request (killed or restarted); no results "
    "were stored; send the upload again (the same Idempotency-Key may be used again)"
)


def fail_abandoned_jobs(session: Session, *, max_attempts: int) -> int:
    """Mark failed the jobs whose worker stopped for the ``max_attempts``-th time, and the
    batches scored in a request whose process stopped (their input is gone); how many."""
    now = utcnow()
    given_up = _lease_ran_out(now) & ((Batch.attempts >= max_attempts) | Batch.source.is_(None))
    failed = 0
    for batch_id, actor, attempts, source, cohort in session.execute(
        select(Batch.id, Batch.actor, Batch.attempts, Batch.source, Batch.cohort).where(given_up)
    ).all():
        reason = REQUEST_STOPPED
        if source is not None:
            reason = (
                f"the worker running it stopped before the end {attempts} times "
                "(killed or lost); no results were stored"
            )
        marked = session.execute(
            update(Batch)
            .where(Batch.id == batch_id, given_up)
            .values(status="failed", failure_reason=reason, worker=None, lease_expires_at=None)
            .values(finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount == 1:
            audit(session, actor=actor, action="batch.failed", subject=f"batch/{batch_id}")
            emit_batch_end(session, batch_id=batch_id, cohort=cohort, reason=reason)
            failed += 1
    return failed


def finished_staging(session: Session) -> dict[int, str]:
    """Staging files of complete or failed batches, by batch id: inputs no longer needed
    (they hold personal data), to delete and then ``forget_staging``."""
    rows = session.execute(
        select(Batch.id, Batch.staging_path).where(
            Batch.status.in_(("complete", "failed")), Batch.staging_path.is_not(None)
        )
    )
    return dict(rows.all())


def staging_in_use(session: Session) -> list[str]:
    """Staging files of queued and running batches: inputs still waiting for a worker."""
    query = select(Batch.staging_path).where(
        Batch.status.in_(("queued", "running")), Batch.staging_path.is_not(None)
    )
    return list(session.scalars(query))


def forget_staging(session: Session, batch_ids: Iterable[int]) -> None:
    """Record that the staging files of ``batch_ids`` are deleted."""
    ids = list(batch_ids)
    if ids:
        session.execute(
            update(Batch)
            .where(Batch.id.in_(ids))
            .values(staging_path=None)
            .execution_options(synchronize_session=False)
        )


def queue_state(session: Session) -> dict:
    """How many batches wait for a worker, run, and run without their worker renewing the
    lease (it stopped: another worker takes the batch over, up to the attempts allowed)."""
    now = utcnow()
    counts = dict(
        session.execute(
            select(Batch.status, func.count())
            .where(Batch.status.in_(("queued", "running")))
            .group_by(Batch.status)
        ).all()
    )
    stalled = session.execute(
        select(func.count(), func.min(Batch.lease_expires_at)).where(_lease_ran_out(now))
    ).one()
    oldest = stalled[1]
    return {
        "queued": int(counts.get("queued", 0)),
        "running": int(counts.get("running", 0)),
        "stalled": int(stalled[0]),
        "stalled_for_seconds": round((now - oldest).total_seconds()) if oldest else None,
    }
