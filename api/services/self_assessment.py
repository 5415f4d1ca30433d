"""The SME's self-assessment, shared by the staff pages, the API and the command line:
invitations made and revoked, the consent an SME accepts, the preview of its score, the
officer's review, and the rate limits of the public link.

An invitation fills one profile, ``sme_id``: the SME's own (``kind`` "sme", pre-filled with
its latest profile) or one for a new SME of a cohort (``kind`` "cohort"), given by the
office or generated (``SA-`` and 8 hex digits). The SME never types the ``sme_id``, so a
link can never write another SME's profile. Accepting a submission scores and stores it
through the same path as the staff form (``api.services.ingest``), so the score is an
ordinary one; the submission keeps its id (``score_id``) as the score's origin.

Configuration: the ``SELF_ASSESSMENT_*`` settings of ``api.config`` (expiry, retention and
the link's rate limits), read from the app's config (``DefaultConfig``'s values outside an
app, for the command line).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
import time
from typing import Any

from flask import Flask, current_app, has_app_context
from limits import parse
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session

from api import store
from api.http import rate_limit
from api.http.rate_limit import RateLimit
from api.services import ingest
from api.store import invitations as invitation_store
from api.store.invitations import (
    DEFAULTS,
    LANGUAGES,
    MAX_COHORT_LENGTH,
    MAX_EXPIRY_DAYS,
    MAX_USES,
    InvitationInfo,
    SelfAssessmentInfo,
)
from api.tables import INVITATION_KINDS, utcnow
from scoring.contract.fields import PERSONAL_COLUMNS, SME_ID_PATTERN
from scoring.contract.schema import validate_profile
from scoring.engine import Scorer

#: The version of the consent text (``self_assessment.consent.*`` in the translations);
#: change it whenever the text changes in substance.
CONSENT_VERSION = "2026-12-1"
CONSENT_PARAGRAPHS = ("controller", "data", "purpose", "recipients", "retention", "rights")
_SME_ID = re.compile(SME_ID_PATTERN)
_LIMITS = "sme_export.self_assessment_limits"


class InvitationError(ValueError):
    """An invitation that cannot be made as asked: ``code`` names why (the staff pages'
    text ``invitations.error.<code>`` with ``params``), the message says it in English."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def setting(name: str) -> Any:
    """A configuration value of the app in context (its default outside one: the CLI)."""
    if not has_app_context():
        return DEFAULTS[name]
    return current_app.config[name]


# --- invitations -----------------------------------------------------------------------------


def _generated_sme_id(session: Session) -> str:
    while True:
        sme_id = f"SA-{secrets.token_hex(4).upper()}"
        if store.get_sme(session, sme_id) is None and not invitation_store.sme_id_taken(
            session, sme_id
        ):
            return sme_id


def _prefill(session: Session, sme_id: str, *, with_personal: bool) -> tuple[dict, dict]:
    """The SME's latest profile as a first draft: ``(answers, personal)``."""
    profile = store.get_sme(session, sme_id)["profile"]
    answers = {k: v for k, v in profile.items() if k not in PERSONAL_COLUMNS and k != "sme_id"}
    personal = {}
    if with_personal:
        personal = {k: profile[k] for k in PERSONAL_COLUMNS if profile.get(k) is not None}
    return answers, personal


def make_invitation(
    session: Session,
    *,
    kind: str,
    sme_id: str | None = None,
    cohort: str | None = None,
    language: str = "id",
    show_result: bool = False,
    max_uses: int = 1,
    expires_in_days: int | None = None,
    actor: str,
    with_personal: bool,
    retention_days: int | None = None,
) -> tuple[InvitationInfo, str]:
    """A new invitation and its token (shown once). ``with_personal``: whether the SME's
    owner and contact fields may be pre-filled (the creator may see them)."""
    cohort = (cohort or "").strip() or None
    sme_id = (sme_id or "").strip() or None
    if kind not in INVITATION_KINDS:
        raise InvitationError("kind", f"kind must be one of {', '.join(INVITATION_KINDS)}")
    if language not in LANGUAGES:
        raise InvitationError("language", f"language must be one of {', '.join(LANGUAGES)}")
    if not 1 <= max_uses <= MAX_USES:
        raise InvitationError(
            "max_uses", f"max_uses must be between 1 and {MAX_USES}", max=MAX_USES
        )
    if expires_in_days is None:
        expires_in_days = setting("SELF_ASSESSMENT_EXPIRY_DAYS")
    if not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise InvitationError(
            "expiry",
            f"expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}",
            max=MAX_EXPIRY_DAYS,
        )
    if cohort is not None and len(cohort) > MAX_COHORT_LENGTH:
        raise InvitationError(
            "cohort_long",
            f"cohort is longer than {MAX_COHORT_LENGTH} characters",
            max=MAX_COHORT_LENGTH,
        )
    if sme_id is not None and not _SME_ID.match(sme_id):
        raise InvitationError(
            "sme_id_pattern",
            "sme_id must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
        )
    prefill = None
    if kind == "sme":
        if sme_id is None or store.get_sme(session, sme_id) is None:
            raise InvitationError(
                "sme_unknown",
                f"no SME {sme_id!r} is held; invite it with a cohort instead",
                sme_id=sme_id or "",
            )
        prefill = _prefill(session, sme_id, with_personal=with_personal)
    else:
        if cohort is None:
            raise InvitationError("cohort_needed", "an invitation for a new SME needs its cohort")
        if sme_id is None:
            sme_id = _generated_sme_id(session)
        elif store.get_sme(session, sme_id) is not None:
            raise InvitationError(
                "sme_held", f"SME {sme_id!r} is already held; invite it as that SME", sme_id=sme_id
            )
        elif invitation_store.sme_id_taken(session, sme_id):
            raise InvitationError(
                "sme_invited", f"another invitation already fills SME {sme_id!r}", sme_id=sme_id
            )
    now = utcnow()
    expires_at = now + dt.timedelta(days=expires_in_days)
    retention = dt.timedelta(days=retention_days or setting("SELF_ASSESSMENT_RETENTION_DAYS"))
    return invitation_store.create_invitation(
        session,
        kind=kind,
        sme_id=sme_id,
        cohort=cohort,
        language=language,
        show_result=show_result,
        max_uses=max_uses,
        expires_at=expires_at,
        purge_after=expires_at + retention,
        actor=actor,
        prefill=prefill,
    )


def revoke_invitation(
    session: Session, invitation_id: int, *, actor: str, retention_days: int | None = None
) -> InvitationInfo | None:
    """Revoke an invitation; its drafts are deleted the retention period after now."""
    days = retention_days or setting("SELF_ASSESSMENT_RETENTION_DAYS")
    return invitation_store.revoke_invitation(
        session, invitation_id, actor=actor, purge_after=utcnow() + dt.timedelta(days=days)
    )


# --- what the SME fills in -------------------------------------------------------------------


def split_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Form values as ``(answers, personal)``: the profile fields (without the sme_id, which
    is the invitation's) and the owner and contact fields, kept apart."""
    answers = {k: v for k, v in values.items() if k not in PERSONAL_COLUMNS and k != "sme_id"}
    personal = {k: v for k, v in values.items() if k in PERSONAL_COLUMNS}
    return answers, personal


def given_personal(personal: dict[str, Any]) -> dict[str, Any]:
    """The personal fields filled in: a blank one keeps what the office holds."""
    return {k: v for k, v in personal.items() if v not in (None, "")}


def consent_text(texts: dict[str, str], *, office: str, contact: str, days: int) -> list[str]:
    """The consent's paragraphs in one language (``texts``: that language's catalogue),
    naming the office, its contact and how long drafts are kept."""
    params = {
        "office": office,
        "contact": contact or texts["self_assessment.consent.no_contact"],
        "days": days,
    }
    return [
        texts[f"self_assessment.consent.{name}"].format(**params) for name in CONSENT_PARAGRAPHS
    ]


def consent_record(paragraphs: list[str], language: str) -> dict[str, str]:
    """What is kept of the consent given: the version, the SHA-256 of the text as shown,
    its language."""
    digest = hashlib.sha256("\n\n".join(paragraphs).encode("utf-8")).hexdigest()
    return {"version": CONSENT_VERSION, "sha256": digest, "language": language}


def preview(values: dict[str, Any], scorer: Scorer, *, lang: str) -> dict | None:
    """The score the profile would get now, not stored (None if it does not validate)."""
    try:
        batch = validate_profile(values)
    except ValueError:
        return None
    return ingest.score(batch, scorer, lang=lang, keep_profiles=False).records[0]


# --- the officer's review ----------------------------------------------------------------------


def accept(
    session: Session,
    submission: SelfAssessmentInfo,
    *,
    values: dict[str, Any],
    scorer: Scorer,
    lang: str,
    actor: str,
) -> int:
    """Score and store ``values`` (the submission as the officer corrected it, already
    valid) as the staff form does, in the invitation's cohort; record the origin. The
    stored score's id. Raises ``ProfileValidationError`` for values that do not validate
    and ``NotUnderReview`` if the submission was reviewed meanwhile."""
    batch = validate_profile(values)
    scored = ingest.score(batch, scorer, lang=lang)
    answers, personal = split_values(values)
    scored.personal[0] = given_personal(personal)
    invitation = submission.invitation
    ingest.store_scored(session, scored, cohort=invitation.cohort, batch_id=None, actor=actor)
    score_id = invitation_store.latest_score_id(session, invitation.sme_id)
    invitation_store.mark_accepted(
        session, submission.id, answers=answers, personal=personal, score_id=score_id, actor=actor
    )
    return score_id


def reject(session: Session, submission: SelfAssessmentInfo, *, reason: str, actor: str) -> None:
    invitation_store.mark_rejected(session, submission.id, reason=reason, actor=actor)


# --- rate limits of the public link ------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Open the limiter of the public link (in the API's rate-limit storage)."""
    limiter = MovingWindowRateLimiter(rate_limit.open_storage(app))
    limits = {}
    for name in ("SELF_ASSESSMENT_TOKEN_RATE_LIMIT", "SELF_ASSESSMENT_ADDRESS_RATE_LIMIT"):
        spec = app.config[name]
        limits[name] = RateLimit(spec, parse(spec), limiter) if spec else None
    app.extensions[_LIMITS] = limits


def retry_after(*, token: str, address: str) -> int | None:
    """Count one request to a link from a client address; the seconds to wait once the
    link or the address has used up its allowance, else None. Counted under the token's
    hash and the address's keyed hash, never the token or the address."""
    limits = current_app.extensions.get(_LIMITS, {})
    keys = {
        "SELF_ASSESSMENT_TOKEN_RATE_LIMIT": f"self:token:{invitation_store.token_digest(token)}",
        "SELF_ASSESSMENT_ADDRESS_RATE_LIMIT": f"self:address:{address}",
    }
    waits = []
    for name, key in keys.items():
        limit: RateLimit | None = limits.get(name)
        if limit is not None and not limit.limiter.hit(limit.item, key):
            reset_at = limit.limiter.get_window_stats(limit.item, key).reset_time
            waits.append(max(1, math.ceil(reset_at - time.time())))
    return max(waits, default=None)
