"""Request and response bodies of the self-assessment invitations (``/api/v1/invitations``)."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.http.outcome_fields import JsonBoolean
from api.http.paging import PageInfoSchema, PagingQuerySchema
from api.http.schemas import ResponseSchema
from api.store.invitations import (
    LANGUAGES,
    MAX_COHORT_LENGTH,
    MAX_EXPIRY_DAYS,
    MAX_USES,
    STATES,
)
from api.tables import INVITATION_KINDS, SELF_ASSESSMENT_STATUSES
from scoring.contract.fields import SME_ID_PATTERN
from scoring.contract.messages import PATTERN_MESSAGES

_TIME = {"format": "date-time"}


class _InvitationOptions(Schema):
    language = ma.String(
        load_default="id",
        validate=mv.OneOf(LANGUAGES),
        metadata={"description": "The language the SME's form opens in (it may switch)."},
    )
    show_result = JsonBoolean(
        load_default=False,
        metadata={
            "description": "Whether the SME sees its preliminary score and action plan "
            "after submitting (scored then, stored only when an officer accepts it)."
        },
    )
    max_uses = ma.Integer(
        load_default=1,
        validate=mv.Range(min=1, max=MAX_USES),
        metadata={"description": "How many submissions the link takes."},
    )
    expires_in_days = ma.Integer(
        validate=mv.Range(min=1, max=MAX_EXPIRY_DAYS),
        metadata={"description": "Days the link works; left out: the service's default (30)."},
    )


class NewSmeInvitationSchema(_InvitationOptions):
    """An invitation for a new SME of a cohort: the SME fills an empty profile."""

    cohort = ma.String(
        required=True,
        validate=mv.Length(min=1, max=MAX_COHORT_LENGTH),
        metadata={"description": "The cohort the SME joins when its submission is accepted."},
    )
    sme_id = ma.String(
        validate=mv.Regexp(SME_ID_PATTERN, error=PATTERN_MESSAGES[SME_ID_PATTERN]),
        metadata={
            "description": "The office's id for the new SME; left out: one is generated "
            "(`SA-` and 8 hex digits). 409 if an SME or another invitation has it."
        },
    )


class SmeInvitationSchema(_InvitationOptions):
    """An invitation for an SME already held: the form is pre-filled with its profile."""

    cohort = ma.String(
        validate=mv.Length(min=1, max=MAX_COHORT_LENGTH),
        allow_none=True,
        metadata={"description": "A cohort the SME joins when its submission is accepted."},
    )


class SubmissionSchema(ResponseSchema):
    """A submission made through an invitation (without its answers)."""

    id = ma.Integer(required=True)
    status = ma.String(required=True, validate=mv.OneOf(SELF_ASSESSMENT_STATUSES[1:]))
    submitted_at = ma.String(required=True, allow_none=True, metadata=_TIME)
    consent_version = ma.String(required=True, allow_none=True)
    consent_sha256 = ma.String(required=True, allow_none=True)
    consented_at = ma.String(required=True, allow_none=True, metadata=_TIME)
    reviewed_by = ma.String(required=True, allow_none=True)
    reviewed_at = ma.String(required=True, allow_none=True, metadata=_TIME)
    score_id = ma.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "The score stored when it was accepted: its origin."},
    )


class InvitationSchema(ResponseSchema):
    """An invitation; its link (with the token) is shown only once, when it is made."""

    id = ma.Integer(required=True)
    kind = ma.String(
        required=True,
        validate=mv.OneOf(INVITATION_KINDS),
        metadata={"description": "cohort: a new SME; sme: an SME already held."},
    )
    sme_id = ma.String(required=True, metadata={"description": "The profile the link fills."})
    cohort = ma.String(required=True, allow_none=True)
    language = ma.String(required=True)
    show_result = ma.Boolean(required=True)
    max_uses = ma.Integer(required=True)
    uses = ma.Integer(required=True, metadata={"description": "Submissions made so far."})
    state = ma.String(
        required=True,
        validate=mv.OneOf(STATES),
        metadata={"description": "open, or why the link no longer works."},
    )
    expires_at = ma.String(required=True, metadata=_TIME)
    created_by = ma.String(required=True)
    created_at = ma.String(required=True, metadata=_TIME)
    revoked_at = ma.String(required=True, allow_none=True, metadata=_TIME)
    revoked_by = ma.String(required=True, allow_none=True)
    submissions = ma.List(ma.Nested(SubmissionSchema), required=True)


class NewInvitationSchema(InvitationSchema):
    token = ma.String(
        required=True,
        metadata={
            "description": "The link's secret token. Shown this once: only its hash is kept."
        },
    )
    url = ma.String(
        required=True,
        metadata={"description": "The link to send the SME (`/self/<token>`). Shown this once."},
    )


class InvitationPageSchema(PageInfoSchema, ResponseSchema):
    items = ma.List(
        ma.Nested(InvitationSchema),
        required=True,
        metadata={"description": "Newest first (the last made first)."},
    )


class InvitationQuerySchema(PagingQuerySchema):
    state = ma.String(
        validate=mv.OneOf(STATES),
        metadata={"description": "Only invitations in this state now."},
    )
    cohort = ma.String(
        validate=mv.Length(min=1, max=MAX_COHORT_LENGTH),
        metadata={"description": "Only invitations whose SME joins this cohort."},
    )
