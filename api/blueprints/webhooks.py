"""Webhook subscriptions (admin): create one (its secret shown once), list, read, change,
delete, its deliveries, and sending a delivery again.

Deliveries are made and sent by the background worker (``api.services.webhooks``), never
in a request; every change of a subscription is in the processing log.
"""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint, abort

from api import store
from api.db import get_session
from api.http.auth import ADMIN, current_actor, require_scope
from api.http.event_schemas import (
    NewWebhookSchema,
    WebhookChangeSchema,
    WebhookDeliveryListSchema,
    WebhookDeliveryQuerySchema,
    WebhookDeliverySchema,
    WebhookListSchema,
    WebhookRequestSchema,
    WebhookSchema,
)
from api.http.negotiation import JSON, accepts
from api.http.schemas import MAX_ID
from api.services import webhooks

WEBHOOK_TEXT = (
    "Each event is POSTed to the subscription's URL as JSON, `{id, type, occurred_at, data}` "
    "(an event of `GET /api/v1/events` without its cursor), with the Standard Webhooks "
    "headers: `webhook-id` (the event's id, the same on every retry), `webhook-timestamp` "
    "(unix seconds of the attempt) and `webhook-signature`: `v1,` and the base64 "
    "HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded "
    "part of the secret after `whsec_`. Answer 2xx within the timeout (5 s by default); "
    "anything else is retried with growing waits (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, "
    "1.5 h, each with jitter), then the delivery fails, and 5 failed deliveries in a row "
    "disable the subscription with the reason. Delivery is at least once and not in "
    "order: deduplicate on `webhook-id`, and reject a timestamp far from now."
)

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Webhook subscriptions (admin). " + WEBHOOK_TEXT,
)


def _not_found(what: str, ident: int):
    abort(404, message=f"No {what} with id {ident}.")


def _subscription_or_404(session, subscription_id: int) -> dict:
    found = None
    if subscription_id <= MAX_ID:
        found = store.get_subscription(session, subscription_id)
    if found is None:
        _not_found("webhook", subscription_id)
    return found


def _checked_url(url: str) -> str:
    try:
        return webhooks.check_url(url, allow_loopback=webhooks.loopback_allowed(current_app.config))
    except webhooks.UrlRefused as exc:
        abort(422, message=str(exc), errors=[{"field": "url", "message": str(exc)}])


@blp.route("", methods=["POST"])
@require_scope(ADMIN)
@accepts(JSON)
@blp.arguments(WebhookRequestSchema)
@blp.response(201, NewWebhookSchema)
def create_webhook(body: dict):
    """Subscribe a URL to events; the answer holds the signing secret, shown this once

    The URL must be https (http only to 127.0.0.1, ::1 or localhost, where the service
    allows loopback receivers: not in production), else 422. `types` chooses the event
    types (left out: all). Events committed from now on are sent.
    """
    session = get_session()
    secret = webhooks.new_secret()
    created = store.create_subscription(
        session,
        url=_checked_url(body["url"]),
        secret=secret,
        types=body.get("types"),
        description=body.get("description"),
        actor=current_actor(),
    )
    session.commit()
    return {**created, "secret": secret}


@blp.route("", methods=["GET"])
@require_scope(ADMIN)
@blp.response(200, WebhookListSchema)
def list_webhooks():
    """Every webhook subscription, with whether it is active and why not"""
    return {"items": store.list_subscriptions(get_session())}


@blp.route("/<int:subscription_id>", methods=["GET"])
@require_scope(ADMIN)
@blp.response(200, WebhookSchema)
@blp.alt_response(404, response="NOT_FOUND")
def get_webhook(subscription_id: int):
    """Read one webhook subscription (never its secret)"""
    return _subscription_or_404(get_session(), subscription_id)


@blp.route("/<int:subscription_id>", methods=["PATCH"])
@require_scope(ADMIN)
@accepts(JSON)
@blp.arguments(WebhookChangeSchema)
@blp.response(200, WebhookSchema)
@blp.alt_response(404, response="NOT_FOUND")
def update_webhook(changes: dict, subscription_id: int):
    """Change a subscription's event types or description, disable or enable it

    Enabled again, its count of failures starts from 0; events committed while it was
    disabled are not sent.
    """
    session = get_session()
    _subscription_or_404(session, subscription_id)
    changed = store.update_subscription(session, subscription_id, actor=current_actor(), **changes)
    session.commit()
    return changed


@blp.route("/<int:subscription_id>", methods=["DELETE"])
@require_scope(ADMIN)
@blp.response(204)
@blp.alt_response(404, response="NOT_FOUND")
def delete_webhook(subscription_id: int):
    """Delete a subscription and its deliveries"""
    session = get_session()
    if subscription_id > MAX_ID or not store.delete_subscription(
        session, subscription_id, actor=current_actor()
    ):
        _not_found("webhook", subscription_id)
    session.commit()
    return None


@blp.route("/<int:subscription_id>/deliveries", methods=["GET"])
@require_scope(ADMIN)
@blp.arguments(WebhookDeliveryQuerySchema, location="query", as_kwargs=True)
@blp.response(200, WebhookDeliveryListSchema)
@blp.alt_response(404, response="NOT_FOUND")
def list_webhook_deliveries(subscription_id: int, limit: int, status: str | None = None):
    """A subscription's newest deliveries: attempts, the last answer and the next attempt"""
    session = get_session()
    _subscription_or_404(session, subscription_id)
    items = store.list_deliveries(session, subscription_id, status=status, limit=limit)
    return {"items": items}


@blp.route("/<int:subscription_id>/deliveries/<int:delivery_id>/resend", methods=["POST"])
@require_scope(ADMIN)
@blp.response(202, WebhookDeliverySchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT")
def resend_webhook_delivery(subscription_id: int, delivery_id: int):
    """Send a delivery again (whatever its status), with a fresh set of retries

    The worker sends it as soon as it can; 409 while the subscription is disabled.
    """
    session = get_session()
    delivery = store.get_delivery(session, delivery_id) if delivery_id <= MAX_ID else None
    if delivery is None or delivery["subscription_id"] != subscription_id:
        _not_found("delivery", delivery_id)
    try:
        resent = store.resend_delivery(session, delivery_id, actor=current_actor())
    except store.SubscriptionDisabled as exc:
        abort(409, message=f"{exc}: enable it first.")
    session.commit()
    return resent
