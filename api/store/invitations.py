"""Invitations to the SME's self-assessment and what SMEs fill in through them.

An invitation is a link with a random token: the token is returned once, when the
invitation is made, and only its SHA-256 is kept (as for API keys). Through the link an
SME saves drafts and submits its profile; each submission uses one of the invitation's
``max_uses`` and waits in the review queue until an officer accepts or rejects it. Each
invitation is confined to its own rows: every function below that takes a token or an
invitation id reads and writes only that invitation's drafts and submissions.

Rows hold personal data (the owner and contact fields an SME types), so erasure of an
SME deletes its invitations and their rows, and ``purge_closed`` deletes them once the
invitation is past ``purge_after`` (an accepted submission keeps only its origin: ids,
times, consent and the score it became).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from api.config import DefaultConfig
from api.store.audit_log import audit
from api.store.common import chunks, format_time
from api.tables import Invitation, Score, SelfAssessment, utcnow

#: Bytes of randomness of a token: 192 bits, 32 URL-safe characters.
TOKEN_BYTES = 24
_MAX_TOKEN_LENGTH = 100
#: What an invitation's state is, in the order they are checked.
STATES = ("revoked", "expired", "used_up", "open")
#: The languages an SME's form opens in.
LANGUAGES = ("id", "en")
#: The most submissions one link takes, the longest it works, the longest cohort name.
MAX_USES = 20
MAX_EXPIRY_DAYS = 365
MAX_COHORT_LENGTH = 100
#: The self-assessment's settings (``app.config`` keys) and their defaults, as
#: ``DefaultConfig`` sets them: what the command line uses outside an app.
SETTINGS = (
    "SELF_ASSESSMENT_EXPIRY_DAYS",
    "SELF_ASSESSMENT_RETENTION_DAYS",
    "SELF_ASSESSMENT_TOKEN_RATE_LIMIT",
    "SELF_ASSESSMENT_ADDRESS_RATE_LIMIT",
)
DEFAULTS: dict[str, Any] = {name: getattr(DefaultConfig, name) for name in SETTINGS}


class InvitationClosed(ValueError):
    """The invitation no longer takes drafts or submissions (revoked, expired, used up)."""


class NotUnderReview(ValueError):
    """The submission is not (or no longer) waiting for review."""


@dataclass(frozen=True)
class InvitationInfo:
    """What may be shown of an invitation: never its token or the token's hash."""

    id: int
    kind: str
    sme_id: str
    cohort: str | None
    language: str
    show_result: bool
    max_uses: int
    uses: int
    expires_at: dt.datetime
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_by: str | None
    purge_after: dt.datetime

    def state(self, now: dt.datetime | None = None) -> str:
        """``revoked``, ``expired``, ``used_up`` or ``open``."""
        now = now or utcnow()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if self.uses >= self.max_uses:
            return "used_up"
        return "open"


@dataclass(frozen=True)
class SelfAssessmentInfo:
    """A draft or submission, with the invitation it was made through."""

    id: int
    invitation: InvitationInfo
    status: str
    answers: dict[str, Any]
    personal: dict[str, Any]
    language: str
    created_at: dt.datetime
    saved_at: dt.datetime | None
    submitted_at: dt.datetime | None
    consent_version: str | None
    consent_sha256: str | None
    consent_language: str | None
    consented_at: dt.datetime | None
    reviewed_by: str | None
    reviewed_at: dt.datetime | None
    reject_reason: str | None
    score_id: int | None

    @property
    def values(self) -> dict[str, Any]:
        """The profile as entered: answers, personal fields and the invitation's sme_id."""
        return {**self.answers, **self.personal, "sme_id": self.invitation.sme_id}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _invitation_info(row: Invitation) -> InvitationInfo:
    return InvitationInfo(
        id=row.id,
        kind=row.kind,
        sme_id=row.sme_id,
        cohort=row.cohort,
        language=row.language,
        show_result=row.show_result,
        max_uses=row.max_uses,
        uses=row.uses,
        expires_at=row.expires_at,
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        purge_after=row.purge_after,
    )


def _assessment_info(row: SelfAssessment, invitation: InvitationInfo) -> SelfAssessmentInfo:
    return SelfAssessmentInfo(
        id=row.id,
        invitation=invitation,
        status=row.status,
        answers=dict(row.answers),
        personal=dict(row.personal),
        language=row.language,
        created_at=row.created_at,
        saved_at=row.saved_at,
        submitted_at=row.submitted_at,
        consent_version=row.consent_version,
        consent_sha256=row.consent_sha256,
        consent_language=row.consent_language,
        consented_at=row.consented_at,
        reviewed_by=row.reviewed_by,
        reviewed_at=row.reviewed_at,
        reject_reason=row.reject_reason,
        score_id=row.score_id,
    )


# --- invitations -----------------------------------------------------------------------------


def create_invitation(
    session: Session,
    *,
    kind: str,
    sme_id: str,
    cohort: str | None,
    language: str,
    show_result: bool,
    max_uses: int,
    expires_at: dt.datetime,
    purge_after: dt.datetime,
    actor: str,
    prefill: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> tuple[InvitationInfo, str]:
    """A new invitation and its token (returned once; only its hash is kept). ``prefill``,
    ``(answers, personal)``, becomes the first draft the SME sees."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = Invitation(
        token_sha256=token_digest(token),
        kind=kind,
        sme_id=sme_id,
        cohort=cohort,
        language=language,
        show_result=show_result,
        max_uses=max_uses,
        uses=0,
        expires_at=expires_at,
        created_by=actor,
        purge_after=purge_after,
    )
    session.add(row)
    session.flush()
    if prefill is not None:
        answers, personal = prefill
        session.add(
            SelfAssessment(
                invitation_id=row.id, answers=answers, personal=personal, language=language
            )
        )
    audit(
        session,
        actor=actor,
        action="invitation.created",
        subject=sme_id,
        details={"invitation_id": row.id, "kind": kind, "cohort": cohort},
    )
    session.flush()
    return _invitation_info(row), token


def find_invitation(session: Session, token: str) -> InvitationInfo | None:
    """The invitation of a link's token (whatever its state), else None."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    row = session.scalar(select(Invitation).where(Invitation.token_sha256 == token_digest(token)))
    return _invitation_info(row) if row is not None else None


def get_invitation(session: Session, invitation_id: int) -> InvitationInfo | None:
    row = session.get(Invitation, invitation_id)
    return _invitation_info(row) if row is not None else None


def sme_id_taken(session: Session, sme_id: str) -> bool:
    """Whether an invitation already fills the profile ``sme_id``."""
    return session.scalar(select(Invitation.id).where(Invitation.sme_id == sme_id)) is not None


def _state_filter(state: str, now: dt.datetime):
    open_now = (
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > now,
    )
    if state == "revoked":
        return (Invitation.revoked_at.is_not(None),)
    if state == "expired":
        return (Invitation.revoked_at.is_(None), Invitation.expires_at <= now)
    if state == "used_up":
        return (*open_now, Invitation.uses >= Invitation.max_uses)
    if state == "open":
        return (*open_now, Invitation.uses < Invitation.max_uses)
    raise ValueError(f"unknown state {state!r}; use one of {', '.join(STATES)}")


def list_invitations(
    session: Session,
    *,
    state: str | None = None,
    cohort: str | None = None,
    page: int = 1,
    per_page: int = 50,
    after: int | None = None,
    count: bool = True,
) -> tuple[list[InvitationInfo], int | None]:
    """A page of invitations, newest first (by id), and how many match (None without
    ``count``). With ``after`` (an invitation's id) the page starts after it, not at an
    offset."""
    query = select(Invitation)
    if state is not None:
        query = query.where(*_state_filter(state, utcnow()))
    if cohort is not None:
        query = query.where(Invitation.cohort == cohort)
    total = None
    if count:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
    if after is not None:
        query = query.where(Invitation.id < after)
    rows = session.scalars(
        query.order_by(Invitation.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return [_invitation_info(row) for row in rows], total


def revoke_invitation(
    session: Session, invitation_id: int, *, actor: str, purge_after: dt.datetime
) -> InvitationInfo | None:
    """Revoke an invitation (its link stops working at once; a submission already made
    stays in the review queue); its rows are deleted after ``purge_after`` if that is
    sooner than planned. An invitation already revoked is returned as it is; None if
    there is none."""
    row = session.get(Invitation, invitation_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by = actor
        row.purge_after = min(row.purge_after, purge_after)
        audit(
            session,
            actor=actor,
            action="invitation.revoked",
            subject=row.sme_id,
            details={"invitation_id": row.id},
        )
        session.flush()
    return _invitation_info(row)


# --- drafts and submissions through one invitation ---------------------------------------------


def latest_of(session: Session, invitation_id: int) -> SelfAssessmentInfo | None:
    """The invitation's newest draft or submission, else None."""
    row = session.scalar(
        select(SelfAssessment)
        .where(SelfAssessment.invitation_id == invitation_id)
        .order_by(SelfAssessment.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    return _assessment_info(row, _invitation_info(session.get(Invitation, invitation_id)))


def _open_row(session: Session, invitation_id: int) -> Invitation:
    """The invitation's row, locked on PostgreSQL; ``InvitationClosed`` unless it is open."""
    row = session.scalar(select(Invitation).where(Invitation.id == invitation_id).with_for_update())
    if row is None or _invitation_info(row).state() != "open":
        raise InvitationClosed(f"invitation {invitation_id} takes no more answers")
    return row


def _draft_row(session: Session, invitation: Invitation) -> SelfAssessment:
    """The invitation's current draft, or a new one (after a submission)."""
    row = session.scalar(
        select(SelfAssessment)
        .where(SelfAssessment.invitation_id == invitation.id)
        .order_by(SelfAssessment.id.desc())
        .limit(1)
    )
    if row is None or row.status != "draft":
        row = SelfAssessment(invitation_id=invitation.id, language=invitation.language)
        session.add(row)
    return row


def save_draft(
    session: Session,
    invitation_id: int,
    *,
    answers: dict[str, Any],
    personal: dict[str, Any],
    language: str,
) -> SelfAssessmentInfo:
    """Keep what the SME has entered so far, to come back to through the same link."""
    invitation = _open_row(session, invitation_id)
    row = _draft_row(session, invitation)
    row.answers, row.personal, row.language = answers, personal, language
    row.saved_at = utcnow()
    session.flush()
    return _assessment_info(row, _invitation_info(invitation))


def submit(
    session: Session,
    invitation_id: int,
    *,
    answers: dict[str, Any],
    personal: dict[str, Any],
    language: str,
    consent: dict[str, str],
) -> SelfAssessmentInfo:
    """Submit the SME's profile for review with its consent (``version``, ``sha256``,
    ``language`` of the text shown); uses one of the invitation's submissions."""
    invitation = _open_row(session, invitation_id)
    row = _draft_row(session, invitation)
    now = utcnow()
    row.answers, row.personal, row.language = answers, personal, language
    row.status = "submitted"
    row.saved_at = row.submitted_at = row.consented_at = now
    row.consent_version = consent["version"]
    row.consent_sha256 = consent["sha256"]
    row.consent_language = consent["language"]
    invitation.uses += 1
    session.flush()
    audit(
        session,
        actor=f"invitation:{invitation.id}",
        action="self_assessment.submitted",
        subject=invitation.sme_id,
        details={"invitation_id": invitation.id, "self_assessment_id": row.id},
    )
    return _assessment_info(row, _invitation_info(invitation))


# --- review ----------------------------------------------------------------------------------


def _with_invitations(session: Session, rows) -> list[SelfAssessmentInfo]:
    rows = list(rows)
    ids = {row.invitation_id for row in rows}
    invitations = {
        row.id: _invitation_info(row)
        for row in session.scalars(select(Invitation).where(Invitation.id.in_(ids)))
    }
    return [_assessment_info(row, invitations[row.invitation_id]) for row in rows]


def review_queue(session: Session) -> list[SelfAssessmentInfo]:
    """Submissions waiting for review, oldest first."""
    rows = session.scalars(
        select(SelfAssessment)
        .where(SelfAssessment.status == "submitted")
        .order_by(SelfAssessment.id)
    )
    return _with_invitations(session, rows)


def recent_reviews(session: Session, *, limit: int = 20) -> list[SelfAssessmentInfo]:
    """The submissions reviewed last, newest first."""
    rows = session.scalars(
        select(SelfAssessment)
        .where(SelfAssessment.status.in_(("accepted", "rejected")))
        .order_by(SelfAssessment.reviewed_at.desc(), SelfAssessment.id.desc())
        .limit(limit)
    )
    return _with_invitations(session, rows)


def submissions_of(session: Session, invitation_id: int) -> list[SelfAssessmentInfo]:
    """The invitation's submissions (not its draft), oldest first."""
    rows = session.scalars(
        select(SelfAssessment)
        .where(SelfAssessment.invitation_id == invitation_id, SelfAssessment.status != "draft")
        .order_by(SelfAssessment.id)
    )
    return _with_invitations(session, rows)


def get_self_assessment(session: Session, self_assessment_id: int) -> SelfAssessmentInfo | None:
    row = session.get(SelfAssessment, self_assessment_id)
    if row is None:
        return None
    return _assessment_info(row, _invitation_info(session.get(Invitation, row.invitation_id)))


def latest_score_id(session: Session, sme_id: str) -> int | None:
    """The id of the SME's newest stored score."""
    return session.scalar(select(func.max(Score.id)).where(Score.sme_id == sme_id))


def score_record(session: Session, score_id: int) -> dict | None:
    """A stored score's record (SPEC section 4)."""
    return session.scalar(select(Score.record).where(Score.id == score_id))


def _under_review(session: Session, self_assessment_id: int) -> SelfAssessment:
    row = session.scalar(
        select(SelfAssessment).where(SelfAssessment.id == self_assessment_id).with_for_update()
    )
    if row is None or row.status != "submitted":
        raise NotUnderReview(f"self-assessment {self_assessment_id} is not waiting for review")
    return row


def mark_accepted(
    session: Session,
    self_assessment_id: int,
    *,
    answers: dict[str, Any],
    personal: dict[str, Any],
    score_id: int,
    actor: str,
) -> None:
    """Record that the submission was accepted (with the officer's corrections) and became
    the score ``score_id``."""
    row = _under_review(session, self_assessment_id)
    row.status = "accepted"
    row.answers, row.personal = answers, personal
    row.score_id = score_id
    row.reviewed_by, row.reviewed_at = actor, utcnow()
    invitation = session.get(Invitation, row.invitation_id)
    audit(
        session,
        actor=actor,
        action="self_assessment.accepted",
        subject=invitation.sme_id,
        details={
            "invitation_id": invitation.id,
            "self_assessment_id": row.id,
            "score_id": score_id,
        },
    )
    session.flush()


def mark_rejected(session: Session, self_assessment_id: int, *, reason: str, actor: str) -> None:
    """Record that the submission was rejected; the SME sees ``reason`` through its link."""
    row = _under_review(session, self_assessment_id)
    row.status = "rejected"
    row.reject_reason = reason
    row.reviewed_by, row.reviewed_at = actor, utcnow()
    invitation = session.get(Invitation, row.invitation_id)
    audit(
        session,
        actor=actor,
        action="self_assessment.rejected",
        subject=invitation.sme_id,
        details={"invitation_id": invitation.id, "self_assessment_id": row.id},
    )
    session.flush()


# --- data protection ---------------------------------------------------------------------------


def self_assessments_held(session: Session, sme_id: str) -> list[dict]:
    """Everything held on ``sme_id`` through invitations, for subject access: each
    invitation (never its token) with its drafts and submissions."""
    out = []
    invitations = session.scalars(
        select(Invitation).where(Invitation.sme_id == sme_id).order_by(Invitation.id)
    )
    for row in invitations:
        info = _invitation_info(row)
        rows = session.scalars(
            select(SelfAssessment)
            .where(SelfAssessment.invitation_id == row.id)
            .order_by(SelfAssessment.id)
        )
        out.append(
            {
                "invitation": as_dict(info),
                "self_assessments": [as_dict(_assessment_info(r, info)) for r in rows],
            }
        )
    return out


def as_dict(info: InvitationInfo | SelfAssessmentInfo) -> dict:
    """An invitation or self-assessment as JSON-ready values (times as ISO 8601 text)."""
    out = {}
    for name in info.__dataclass_fields__:
        if name == "invitation":
            continue
        value = getattr(info, name)
        out[name] = format_time(value) if isinstance(value, dt.datetime) else value
    return out


def erase_self_assessments(session: Session, sme_id: str) -> int:
    """Delete the invitations that fill ``sme_id`` and every draft and submission made
    through them; how many invitations."""
    ids = list(session.scalars(select(Invitation.id).where(Invitation.sme_id == sme_id)))
    if ids:
        session.execute(delete(SelfAssessment).where(SelfAssessment.invitation_id.in_(ids)))
        session.execute(delete(Invitation).where(Invitation.id.in_(ids)))
    return len(ids)


def purge_closed(session: Session, *, now: dt.datetime, dry_run: bool = False) -> list[int]:
    """Retention: for every invitation past its ``purge_after`` with no submission waiting
    for review, delete its drafts and rejected submissions, keep of accepted ones only
    their origin (ids, times, consent, score; answers and personal fields emptied), and
    delete the invitation itself unless such an origin is left. The ids of the invitations
    that had anything to purge."""
    waiting = select(SelfAssessment.invitation_id).where(SelfAssessment.status == "submitted")
    accepted = select(SelfAssessment.invitation_id).where(SelfAssessment.status == "accepted")
    held = select(SelfAssessment.invitation_id).where(
        or_(
            SelfAssessment.status != "accepted",
            cast(SelfAssessment.answers, Text) != "{}",
            cast(SelfAssessment.personal, Text) != "{}",
        )
    )
    ids = list(
        session.scalars(
            select(Invitation.id)
            .where(
                Invitation.purge_after < now,
                Invitation.id.not_in(waiting),
                or_(Invitation.id.in_(held), Invitation.id.not_in(accepted)),
            )
            .order_by(Invitation.id)
        )
    )
    if dry_run:
        return ids
    for chunk in chunks(ids):
        mine = SelfAssessment.invitation_id.in_(chunk)
        session.execute(delete(SelfAssessment).where(mine, SelfAssessment.status != "accepted"))
        session.execute(
            update(SelfAssessment)
            .where(mine, SelfAssessment.status == "accepted")
            .values(answers={}, personal={})
        )
        session.execute(
            delete(Invitation).where(Invitation.id.in_(chunk), Invitation.id.not_in(accepted))
        )
    return ids
