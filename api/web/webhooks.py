"""The webhooks page (admins only): every subscription, whether it is active and why not,
its most recent deliveries with the receiver's last answer, and a button that sends a
delivery again (the same store function as ``POST .../deliveries/<id>/resend``).

Subscriptions are made with ``sme-export webhooks create`` or ``POST /api/v1/webhooks``,
where the secret can be shown once to the one who asked for it.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from api import store
from api.db import get_session
from api.web.auth import actor, role_required
from api.web.i18n import t

bp = Blueprint("web_webhooks", __name__, url_prefix="/admin")
#: Deliveries shown per subscription, newest first.
RECENT_DELIVERIES = 10


@bp.route("/webhooks")
@role_required("admin")
def webhooks():
    session = get_session()
    subscriptions = store.list_subscriptions(session)
    deliveries = {
        item["id"]: store.list_deliveries(session, item["id"], limit=RECENT_DELIVERIES)
        for item in subscriptions
    }
    return render_template(
        "admin_webhooks.html", subscriptions=subscriptions, deliveries=deliveries
    )


@bp.route("/webhooks/deliveries/<int:delivery_id>/resend", methods=["POST"])
@role_required("admin")
def resend(delivery_id: int):
    session = get_session()
    try:
        resent = store.resend_delivery(session, delivery_id, actor=actor())
    except store.SubscriptionDisabled:
        flash(t("webhooks.resend_disabled"))
        return redirect(url_for("web_webhooks.webhooks"))
    if resent is None:
        return render_template("errors/404.html"), 404
    session.commit()
    flash(t("webhooks.resent", delivery=delivery_id))
    return redirect(url_for("web_webhooks.webhooks"))
