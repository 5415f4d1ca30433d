"""Data protection: erasure, the data subject's access, and the retention purge.

``sme_id`` is the pseudonymous key of an SME: audit subjects and details name SMEs only by
it, so the processing log survives erasure without keeping anything that identifies a
person once the SME's own rows are gone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Text, cast, delete, select, update
from sqlalchemy.orm import Session

from api.db import checkpoint_after_commit
from api.store.audit_log import audit, event_dict
from api.store.common import format_time
from api.store.events import emit, forget_sme
from api.store.invitations import erase_self_assessments, purge_closed, self_assessments_held
from api.store.outcomes import erase_outcomes, outcomes_held
from api.store.scores import fold_into_aggregates
from api.store.smes import cohorts_of
from api.tables import AuditEvent, Batch, CohortMember, PersonalData, Score, Sme, utcnow
from scoring.contract import fields as F

ERASED_MESSAGE = "(erased)"


def erase_sme(session: Session, sme_id: str, *, actor: str) -> bool:
    """Erase an SME: profile, personal data, cohort links, scores, support decisions and
    follow-ups (scores and decisions folded first into the anonymous aggregates), the
    invitations that fill its profile with their drafts and submissions; the row errors
    of batches that name it are redacted; its events keep only its sme_id, and
    ``sme.erased`` tells other systems to erase it too.

    Returns False when nothing was held about ``sme_id``. The audit event names only the
    sme_id and the actor. On SQLite, deleted rows are overwritten (``secure_delete``) and
    the write-ahead log is checkpointed after the commit, so the file keeps no copy.
    """
    session.flush()
    known = session.scalar(select(Sme.id).where(Sme.sme_id == sme_id)) is not None
    redacted = _redact_row_errors(session, sme_id)
    invited = erase_self_assessments(session, sme_id)
    if not (known or redacted or invited):
        return False
    if known:
        erase_outcomes(session, sme_id)
        fold_into_aggregates(session, sme_id)
        for model in (Score, CohortMember, PersonalData, Sme):
            session.execute(delete(model).where(model.sme_id == sme_id))
    audit(session, actor=actor, action="erase", subject=sme_id)
    forget_sme(session, sme_id)
    emit(session, "sme.erased", {"sme_id": sme_id})
    checkpoint_after_commit(session)
    return True


def erased_since(session: Session, sme_ids: Iterable[str], since: dt.datetime) -> set[str]:
    """Those of ``sme_ids`` erased at or after ``since``: a batch queued before an erasure
    must not bring the SME back when it runs."""
    wanted = set(sme_ids)
    if not wanted:
        return set()
    erased = session.scalars(
        select(AuditEvent.subject).where(AuditEvent.action == "erase", AuditEvent.at >= since)
    )
    return wanted & set(erased)


def _batches_naming(session: Session, sme_id: str) -> list[tuple[int, list[dict]]]:
    """``(batch_id, row_errors)`` of the batches whose row errors may name ``sme_id``."""
    return session.execute(
        select(Batch.id, Batch.row_errors).where(
            cast(Batch.row_errors, Text).contains(sme_id, autoescape=True)
        )
    ).all()


def _redacted(error: dict) -> dict:
    """A row error without its sme_id and with its messages (they may quote values) erased."""
    return {
        "row": error.get("row"),
        "sme_id": None,
        "errors": [
            {"field": e.get("field"), "message": ERASED_MESSAGE} for e in error.get("errors", [])
        ],
    }


def _redact_row_errors(session: Session, sme_id: str) -> int:
    """Blank the sme_id and messages of batch row errors about ``sme_id``; how many."""
    redacted = 0
    for batch_id, row_errors in _batches_naming(session, sme_id):
        changed = False
        cleaned = []
        for error in row_errors:
            if error.get("sme_id") == sme_id:
                error = _redacted(error)
                changed = True
                redacted += 1
            cleaned.append(error)
        if changed:
            session.execute(update(Batch).where(Batch.id == batch_id).values(row_errors=cleaned))
    return redacted


def subject_access(session: Session, sme_id: str) -> dict | None:
    """Everything held on ``sme_id`` (the data subject's right of access): profile and
    personal data, cohorts, every score, the support decisions and export follow-ups, the
    invitations to fill its profile with their drafts and submissions, the batches it
    appeared in and the processing-log
    events about it or those batches. None when nothing is held."""
    sme = session.scalar(select(Sme).where(Sme.sme_id == sme_id))
    batch_ids = set(
        session.scalars(
            select(Score.batch_id).where(Score.sme_id == sme_id, Score.batch_id.is_not(None))
        )
    )
    named_in_errors = _batches_naming(session, sme_id)
    row_errors = {
        batch_id: [e for e in errors if e.get("sme_id") == sme_id]
        for batch_id, errors in named_in_errors
    }
    row_errors = {batch_id: errors for batch_id, errors in row_errors.items() if errors}
    batch_ids |= set(row_errors)
    invitations = self_assessments_held(session, sme_id)
    if sme is None and not batch_ids and not invitations:
        return None
    batches = []
    for batch_id in sorted(batch_ids):
        batch = session.get(Batch, batch_id)
        batches.append(
            {
                "batch_id": batch_id,
                "status": batch.status,
                "cohort": batch.cohort,
                "filename": batch.filename,
                "created_at": format_time(batch.created_at),
                "row_errors": row_errors.get(batch_id, []),
            }
        )
    subjects = [sme_id, *(f"batch/{batch_id}" for batch_id in sorted(batch_ids))]
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.subject.in_(subjects)).order_by(AuditEvent.id)
    )
    person = session.get(PersonalData, sme_id)
    return {
        "sme_id": sme_id,
        "name": sme.name if sme else None,
        "created_at": format_time(sme.created_at) if sme else None,
        "last_activity_at": format_time(sme.updated_at) if sme else None,
        "profile": dict(sme.profile) if sme else None,
        "personal_data": (
            {name: getattr(person, name) for name in F.PERSONAL_COLUMNS} if person else None
        ),
        "cohorts": cohorts_of(session, [sme_id])[sme_id],
        "scores": [
            {"batch_id": batch_id, **record}
            for batch_id, record in session.execute(
                select(Score.batch_id, Score.record)
                .where(Score.sme_id == sme_id)
                .order_by(Score.id)
            )
        ],
        **outcomes_held(session, sme_id),
        "invitations": invitations,
        "batches": batches,
        "processing_log": [event_dict(row) for row in events],
    }


def inactive_smes(session: Session, *, before: dt.datetime) -> list[str]:
    """The sme_ids whose last activity (profile stored or scored) is older than ``before``."""
    return list(
        session.scalars(select(Sme.sme_id).where(Sme.updated_at < before).order_by(Sme.sme_id))
    )


def _old_row_error_batches(session: Session, before: dt.datetime) -> list[int]:
    rows = session.execute(
        select(Batch.id, Batch.row_errors).where(
            Batch.created_at < before, Batch.status.in_(("complete", "failed"))
        )
    )
    return [
        batch_id
        for batch_id, errors in rows
        if any(e.get("sme_id") is not None or _unredacted(e) for e in errors)
    ]


def _unredacted(error: dict) -> bool:
    return any(e.get("message") != ERASED_MESSAGE for e in error.get("errors", []))


def purge_expired(
    session: Session, *, before: dt.datetime, actor: str, dry_run: bool = False
) -> dict:
    """Retention: erase every SME inactive since before ``before`` (``erase_sme``: profile,
    personal data, cohorts; scores folded into anonymous aggregates) and redact the row
    errors of batches uploaded before it (they may quote rejected personal values).

    It also deletes the drafts and rejected submissions of invitations past their own
    ``purge_after`` (``api.store.invitations.purge_closed``).

    Returns what was (or, with ``dry_run``, would be) purged; a real purge is recorded in
    the processing log as ``purge``, besides the ``erase`` event of each SME.
    """
    sme_ids = inactive_smes(session, before=before)
    batch_ids = _old_row_error_batches(session, before)
    invitation_ids = purge_closed(session, now=utcnow(), dry_run=dry_run)
    summary = {
        "before": format_time(before),
        "dry_run": dry_run,
        "smes": sme_ids,
        "batches_redacted": batch_ids,
        "invitations_purged": invitation_ids,
    }
    if dry_run:
        return summary
    for sme_id in sme_ids:
        erase_sme(session, sme_id, actor=actor)
    for batch_id in batch_ids:
        batch = session.get(Batch, batch_id)
        batch.row_errors = [_redacted(e) for e in batch.row_errors]
    audit(
        session,
        actor=actor,
        action="purge",
        subject=None,
        details={
            "before": summary["before"],
            "smes_erased": len(sme_ids),
            "batches_redacted": len(batch_ids),
            "invitations_purged": len(invitation_ids),
        },
    )
    return summary
