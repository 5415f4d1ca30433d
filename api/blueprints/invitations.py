"""Invitations to the SME's self-assessment (``score`` scope): make one for a new SME of a
cohort or for an SME already held (its link shown once), list, read and revoke them.

Through the link (``/self/<token>``, no account) the SME fills its own profile; its
submissions wait for an officer's review on the staff pages (``/self-assessments/review``)
and become scores only when accepted. An invitation for a held SME is pre-filled with its
latest profile, with the owner and contact fields only for a key that may read them
(``personal`` or ``admin`` scope).
"""

from __future__ import annotations

import re

from flask import url_for
from flask_smorest import Blueprint, abort

from api import store
from api.db import get_session
from api.http.auth import PERSONAL, SCORE, current_actor, has_scope, require_scope
from api.http.invitation_schemas import (
    InvitationPageSchema,
    InvitationQuerySchema,
    InvitationSchema,
    NewInvitationSchema,
    NewSmeInvitationSchema,
    SmeInvitationSchema,
)
from api.http.negotiation import JSON, accepts
from api.http.paging import LINK_HEADER, Pager
from api.http.schemas import MAX_ID
from api.services import self_assessment
from api.store import invitations as invitation_store
from api.store.invitations import InvitationInfo
from scoring.contract.fields import SME_ID_PATTERN

blp = Blueprint(
    "invitations",
    __name__,
    url_prefix="/api/v1",
    description="Invitations to the SME's self-assessment: a link through which an SME "
    "fills its own profile (drafts, consent, submission), reviewed by an officer before "
    "it is scored and stored. The link's token is shown once; only its hash is kept.",
)
_SME_ID = re.compile(SME_ID_PATTERN)
_SUBMISSION_FIELDS = (
    "id",
    "status",
    "submitted_at",
    "consent_version",
    "consent_sha256",
    "consented_at",
    "reviewed_by",
    "reviewed_at",
    "score_id",
)


def invitation_body(session, info: InvitationInfo) -> dict:
    """An invitation as the API shows it: its state and its submissions (no answers)."""
    submissions = [
        {
            name: value
            for name, value in invitation_store.as_dict(s).items()
            if name in _SUBMISSION_FIELDS
        }
        for s in invitation_store.submissions_of(session, info.id)
    ]
    body = invitation_store.as_dict(info)
    body.pop("purge_after")
    return {**body, "state": info.state(), "submissions": submissions}


def _created(session, info: InvitationInfo, token: str) -> dict:
    session.commit()
    url = url_for("web_self.fill", token=token, _external=True)
    return {**invitation_body(session, info), "token": token, "url": url}


def _make(session, **arguments) -> tuple[InvitationInfo, str]:
    try:
        return self_assessment.make_invitation(
            session,
            actor=current_actor(),
            with_personal=has_scope(PERSONAL),
            **arguments,
        )
    except self_assessment.InvitationError as exc:
        abort(409, message=str(exc))


@blp.route("/invitations", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(NewSmeInvitationSchema)
@blp.response(201, NewInvitationSchema)
@blp.alt_response(409, response="CONFLICT")
def create_invitation(body: dict):
    """Invite a new SME of a cohort to fill its profile; the answer holds its link, once

    The SME's `sme_id` is the one given (409 if an SME or another invitation has it) or a
    generated one; the SME never types it.
    """
    session = get_session()
    info, token = _make(session, kind="cohort", **body)
    return _created(session, info, token)


@blp.route("/smes/<sme_id>/invitations", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(SmeInvitationSchema)
@blp.response(201, NewInvitationSchema)
@blp.alt_response(404, response="NOT_FOUND")
def create_sme_invitation(body: dict, sme_id: str):
    """Invite an SME already held to update its profile; the answer holds its link, once

    The form opens with the SME's latest profile (its owner and contact fields only for a
    key with the `personal` scope).
    """
    session = get_session()
    if not _SME_ID.match(sme_id) or store.get_sme(session, sme_id) is None:
        abort(404, message=f"No SME {sme_id!r}.")
    info, token = _make(session, kind="sme", sme_id=sme_id, **body)
    return _created(session, info, token)


@blp.route("/invitations", methods=["GET"])
@require_scope(SCORE)
@blp.arguments(InvitationQuerySchema, location="query", as_kwargs=True)
@blp.response(200, InvitationPageSchema, headers=LINK_HEADER)
def list_invitations(
    page: int | None = None,
    per_page: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    **filters,
):
    """List invitations (never their tokens) with their submissions

    Newest first (the last made first); filter by `state` (what it is now: `open`,
    `revoked`, `expired`, `used_up`) and `cohort`. Page by cursor (`limit`, then each
    page's `next_cursor`) or by number (`page`, `per_page`).
    """
    pager = Pager.from_query(
        "invitations",
        ("id",),
        filters=filters,
        cursor=cursor,
        limit=limit,
        page=page,
        per_page=per_page,
    )
    session = get_session()
    infos, total = invitation_store.list_invitations(
        session,
        **filters,
        page=pager.page or 1,
        per_page=pager.fetch,
        after=pager.after[0] if pager.after else None,
        count=not pager.by_cursor,
    )
    listed, paging, headers = pager.body(infos, lambda info: (info.id,), total=total)
    items = [invitation_body(session, info) for info in listed]
    return {"items": items, **paging}, 200, headers


def _invitation_or_404(session, invitation_id: int) -> InvitationInfo:
    info = (
        invitation_store.get_invitation(session, invitation_id) if invitation_id <= MAX_ID else None
    )
    if info is None:
        abort(404, message=f"No invitation with id {invitation_id}.")
    return info


@blp.route("/invitations/<int:invitation_id>", methods=["GET"])
@require_scope(SCORE)
@blp.response(200, InvitationSchema)
@blp.alt_response(404, response="NOT_FOUND")
def get_invitation(invitation_id: int):
    """Read one invitation (never its token) with its submissions and their review"""
    session = get_session()
    return invitation_body(session, _invitation_or_404(session, invitation_id))


@blp.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
@require_scope(SCORE)
@blp.response(200, InvitationSchema)
@blp.alt_response(404, response="NOT_FOUND")
def revoke_invitation(invitation_id: int):
    """Revoke an invitation: its link stops working at once (repeating it changes nothing)

    A submission already made stays in the review queue.
    """
    session = get_session()
    _invitation_or_404(session, invitation_id)
    info = self_assessment.revoke_invitation(session, invitation_id, actor=current_actor())
    session.commit()
    return invitation_body(session, info)
