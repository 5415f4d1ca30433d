"""marshmallow schemas of the events feed and the webhook subscriptions: each event type's
payload, the feed's page, subscriptions and deliveries."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.config import DefaultConfig
from api.http.outcome_fields import JsonBoolean
from api.http.schemas import ResponseSchema
from api.store.events import EVENT_TYPES
from api.tables import DELIVERY_STATUSES

#: The feed's cursor: opaque to clients, digits only (the last event's place in commit order).
CURSOR_PATTERN = r"^[0-9]{1,18}$"
EVENT_TYPE = {"validate": mv.OneOf(list(EVENT_TYPES))}


# --- payloads, one per event type (``data`` of an event) ----------------------------------------


class _Payload(ResponseSchema):
    version = ma.Integer(
        required=True,
        metadata={"description": "The payload's version; 1. A new version is a new shape."},
    )


class ScoreCreatedDataSchema(_Payload):
    """`score.created`: an SME was scored and the score stored."""

    sme_id = ma.String(required=True)
    score_id = ma.Integer(required=True)
    score = ma.Float(required=True)
    tier = ma.String(required=True)
    rules_score = ma.Float(required=True)
    ml_probability = ma.Float(required=True)
    model_version = ma.String(required=True)
    ruleset_version = ma.String(required=True)
    scored_at = ma.String(required=True, metadata={"format": "date-time"})
    batch_id = ma.Integer(required=True, allow_none=True)


class DecisionRecordedDataSchema(_Payload):
    """`decision.recorded`: a support decision, with the score it rested on."""

    decision_id = ma.Integer(required=True)
    sme_id = ma.String(required=True)
    decision = ma.String(required=True, metadata={"description": "support or no_support."})
    support_kind = ma.String(required=True, allow_none=True)
    target_market = ma.String(required=True, allow_none=True)
    decided_on = ma.String(required=True, metadata={"format": "date"})
    cohort = ma.String(required=True, allow_none=True)
    score_id = ma.Integer(required=True)
    score = ma.Float(required=True)
    tier = ma.String(required=True)
    model_version = ma.String(required=True)
    ruleset_version = ma.String(required=True)


class OutcomeRecordedDataSchema(_Payload):
    """`outcome.recorded`: an export follow-up (never its note)."""

    followup_id = ma.Integer(required=True)
    sme_id = ma.String(required=True)
    followup_date = ma.String(required=True, metadata={"format": "date"})
    exported = ma.Boolean(required=True)
    first_export_date = ma.String(required=True, allow_none=True, metadata={"format": "date"})
    destination_markets = ma.List(ma.String(), required=True)
    export_value_usd = ma.Float(required=True, allow_none=True)
    contracts = ma.Integer(required=True, allow_none=True)
    learned_via = ma.String(required=True)


class TierChangedDataSchema(_Payload):
    """`tier.changed`: the SME's new score is in another tier than its previous one."""

    sme_id = ma.String(required=True)
    score_id = ma.Integer(required=True, metadata={"description": "The new score."})
    previous_tier = ma.String(required=True)
    tier = ma.String(required=True)
    score = ma.Float(required=True)
    batch_id = ma.Integer(required=True, allow_none=True)


class BatchEndedDataSchema(_Payload):
    """`batch.completed` and `batch.failed`: counts (0 for a failed batch) and the reason."""

    batch_id = ma.Integer(required=True)
    status = ma.String(required=True, validate=mv.OneOf(("complete", "failed")))
    cohort = ma.String(required=True, allow_none=True)
    received = ma.Integer(required=True)
    scored = ma.Integer(required=True)
    rejected = ma.Integer(required=True)
    reason = ma.String(
        required=True, allow_none=True, metadata={"description": "Why it failed; null if not."}
    )


class ShortlistCreatedDataSchema(_Payload):
    """`shortlist.created`: where the candidates came from and whom it chose."""

    source = ma.String(required=True, validate=mv.OneOf(("cohort", "batch", "sme_ids")))
    cohort = ma.String(required=True, allow_none=True)
    batch_id = ma.Integer(required=True, allow_none=True)
    capacity = ma.Integer(required=True)
    target_market = ma.String(required=True, allow_none=True)
    max_per_sector = ma.Integer(required=True, allow_none=True)
    eligible = ma.Integer(required=True, allow_none=True)
    selected = ma.List(
        ma.String(), required=True, metadata={"description": "sme_ids chosen, in rank order."}
    )


class ModelPromotedDataSchema(_Payload):
    """`model.promoted`: another model version is active (promotion or rollback)."""

    model_version = ma.String(required=True)
    previous_version = ma.String(required=True, allow_none=True)
    action = ma.String(required=True, validate=mv.OneOf(("promote", "rollback")))
    forced = ma.Boolean(required=True)
    activated_at = ma.String(required=True, allow_none=True, metadata={"format": "date-time"})


class RulesetActivatedDataSchema(_Payload):
    """`ruleset.activated`: another ruleset version is active."""

    ruleset_version = ma.String(required=True)
    previous_version = ma.String(required=True, allow_none=True)
    activated_at = ma.String(required=True, allow_none=True, metadata={"format": "date-time"})


class ErasedSmeDataSchema(_Payload):
    """Any event about an SME since erased: only its sme_id is left (the type stays)."""

    sme_id = ma.String(required=True)
    erased = ma.Boolean(required=True, metadata={"description": "Always true."})


class SmeErasedDataSchema(_Payload):
    """`sme.erased`: the SME was erased; erase what you hold on it."""

    sme_id = ma.String(required=True)


#: Most specific first: a client that tries each in turn takes the right one.
PAYLOAD_SCHEMAS = (
    ScoreCreatedDataSchema,
    DecisionRecordedDataSchema,
    OutcomeRecordedDataSchema,
    TierChangedDataSchema,
    BatchEndedDataSchema,
    ShortlistCreatedDataSchema,
    ModelPromotedDataSchema,
    RulesetActivatedDataSchema,
    ErasedSmeDataSchema,
    SmeErasedDataSchema,
)


class PayloadField(ma.Raw):
    """An event's ``data``: one of ``PAYLOAD_SCHEMAS``, as the event's ``type`` says
    (documented as ``anyOf`` by ``api.http.openapi``: the payloads do not forbid members
    added later, so a payload with many members also fits the schemas with fewer)."""

    one_of = PAYLOAD_SCHEMAS


TYPES_TEXT = "\n".join(f"- `{name}`: {text}" for name, text in EVENT_TYPES.items())


class FeedEventSchema(ResponseSchema):
    """An event, as the feed lists it and as a webhook's body (without `cursor`)."""

    id = ma.Integer(
        required=True,
        metadata={"description": "Unique; the `webhook-id` of its deliveries. Deduplicate on it."},
    )
    type = ma.String(required=True, metadata={"description": TYPES_TEXT, "enum": [*EVENT_TYPES]})
    occurred_at = ma.String(required=True, metadata={"format": "date-time"})
    cursor = ma.String(
        required=True,
        metadata={"description": "Pass as `after` to read the events after this one."},
    )
    data = PayloadField(
        required=True,
        metadata={
            "description": "The payload of the event's type, with `version`. Ids, scores and "
            "codes only: never an owner's name, contacts, district or gender, nor the SME's "
            "name."
        },
    )


class FeedPageSchema(ResponseSchema):
    items = ma.List(
        ma.Nested(FeedEventSchema), required=True, metadata={"description": "Oldest commit first."}
    )
    next_cursor = ma.String(
        required=True,
        metadata={
            "description": "Ask again with `after` set to this: it never skips an event nor "
            "gives one twice. Equal to `after` when there was nothing new."
        },
    )
    has_more = ma.Boolean(
        required=True,
        metadata={"description": "True when the page is full: more may be waiting now."},
    )


class FeedQuerySchema(Schema):
    after = ma.String(
        validate=mv.Regexp(CURSOR_PATTERN),
        metadata={
            "description": "A `next_cursor` (or an item's `cursor`) given before; opaque. "
            "Without it, the feed starts at its oldest event.",
            "pattern": CURSOR_PATTERN,
        },
    )
    limit = ma.Integer(
        validate=mv.Range(min=1),
        metadata={
            "description": "Events per page; at most the service's PAGE_SIZE_MAX (500).",
            "maximum": DefaultConfig.PAGE_SIZE_MAX,
        },
    )
    types = ma.List(
        ma.String(**EVENT_TYPE),
        metadata={"description": "Only these types (repeat the parameter for several)."},
    )


# --- subscriptions and deliveries ----------------------------------------------------------------


class WebhookSchema(ResponseSchema):
    """A webhook subscription; its secret is shown only once, when it is created."""

    id = ma.Integer(required=True)
    url = ma.String(required=True)
    description = ma.String(required=True, allow_none=True)
    types = ma.List(
        ma.String(),
        required=True,
        allow_none=True,
        metadata={"description": "The event types sent; null: every type."},
    )
    active = ma.Boolean(required=True)
    disabled_reason = ma.String(
        required=True,
        allow_none=True,
        metadata={"description": "Why it was disabled (by an admin, or failures in a row)."},
    )
    disabled_at = ma.String(required=True, allow_none=True, metadata={"format": "date-time"})
    consecutive_failures = ma.Integer(
        required=True, metadata={"description": "Failed deliveries since the last delivered one."}
    )
    created_by = ma.String(required=True)
    created_at = ma.String(required=True, metadata={"format": "date-time"})
    updated_at = ma.String(required=True, metadata={"format": "date-time"})


class NewWebhookSchema(WebhookSchema):
    secret = ma.String(
        required=True,
        metadata={
            "description": "`whsec_` and the base64 key of the `webhook-signature` HMAC. "
            "Shown this once: keep it."
        },
    )


class WebhookListSchema(ResponseSchema):
    items = ma.List(ma.Nested(WebhookSchema), required=True)


class WebhookRequestSchema(Schema):
    url = ma.String(
        required=True,
        validate=mv.Length(min=1, max=2000),
        metadata={
            "description": "Where to POST events: https (http only to a loopback address, "
            "where the service allows it).",
            "example": "https://perizinan.example.go.id/hooks/sme-export",
        },
    )
    types = ma.List(
        ma.String(**EVENT_TYPE),
        validate=mv.Length(min=1, max=len(EVENT_TYPES)),
        metadata={"description": "The event types to send; left out: every type."},
    )
    description = ma.String(validate=mv.Length(max=500), allow_none=True)


class WebhookChangeSchema(Schema):
    types = ma.List(
        ma.String(**EVENT_TYPE),
        allow_none=True,
        validate=mv.Length(min=1, max=len(EVENT_TYPES)),
        metadata={"description": "The event types to send; null: every type."},
    )
    active = JsonBoolean(
        metadata={
            "description": "false disables it; true enables it again (its failures count from "
            "0, and events committed while it was disabled are not sent)."
        }
    )
    description = ma.String(validate=mv.Length(max=500), allow_none=True)


class WebhookDeliverySchema(ResponseSchema):
    id = ma.Integer(required=True)
    subscription_id = ma.Integer(required=True)
    event_id = ma.Integer(required=True)
    event_type = ma.String(required=True)
    status = ma.String(
        required=True,
        validate=mv.OneOf(DELIVERY_STATUSES),
        metadata={
            "description": "pending (waits for its next attempt), sending, delivered, or "
            "failed (no retry left)."
        },
    )
    attempts = ma.Integer(required=True)
    next_attempt_at = ma.String(required=True, allow_none=True, metadata={"format": "date-time"})
    last_attempt_at = ma.String(required=True, allow_none=True, metadata={"format": "date-time"})
    status_code = ma.Integer(
        required=True, allow_none=True, metadata={"description": "The receiver's last answer."}
    )
    duration_ms = ma.Integer(required=True, allow_none=True)
    error = ma.String(required=True, allow_none=True)
    created_at = ma.String(required=True, metadata={"format": "date-time"})
    delivered_at = ma.String(required=True, allow_none=True, metadata={"format": "date-time"})


class WebhookDeliveryListSchema(ResponseSchema):
    items = ma.List(
        ma.Nested(WebhookDeliverySchema), required=True, metadata={"description": "Newest first."}
    )


class WebhookDeliveryQuerySchema(Schema):
    status = ma.String(validate=mv.OneOf(DELIVERY_STATUSES))
    limit = ma.Integer(load_default=50, validate=mv.Range(min=1, max=500))
