"""The navigation bar: ``(endpoint, label_key, min_role)`` per entry, in display order.

Entries whose endpoint is not registered in the app are skipped, so pages of other parts
of the service appear once their blueprint is in ``WEB_BLUEPRINTS``.
"""

from __future__ import annotations

from flask import current_app, request, url_for

from api.web.auth import current_user, has_role

NAV: tuple[tuple[str, str, str], ...] = (
    ("web_profiles.new_profile", "nav.new_profile", "officer"),
    ("web_cohorts.table", "nav.cohorts", "officer"),
    ("web_batches.upload", "nav.batches", "lead"),
    ("web_cohorts.compare", "nav.compare", "lead"),
    ("web_shortlists.build", "nav.shortlist", "lead"),
    ("web_outcomes.worklist", "outcomes.nav.worklist", "officer"),
    ("web_outcomes.import_file", "outcomes.nav.import", "lead"),
    ("web_outcomes_eval.evaluation", "evaluation.nav", "officer"),
    ("governance_web.model_card", "nav.model_card", "officer"),
    ("governance_web.fairness", "nav.fairness", "lead"),
    ("governance_web.drift", "nav.drift", "lead"),
    ("governance_web.models", "nav.models", "admin"),
    ("governance_web.ruleset_impact", "nav.ruleset_impact", "admin"),
    ("protection_web.processing_log", "nav.processing_log", "admin"),
    ("web_admin.users", "nav.users", "admin"),
    ("web_admin.keys", "nav.keys", "admin"),
    ("web_webhooks.webhooks", "webhooks.nav", "admin"),
)


def nav_items() -> list[dict]:
    """The entries the current user may open: ``{"url", "label_key", "active"}``."""
    user = current_user()
    items = []
    for endpoint, label_key, role in NAV:
        if endpoint in current_app.view_functions and has_role(user, role):
            items.append(
                {
                    "url": url_for(endpoint),
                    "label_key": label_key,
                    "active": request.endpoint == endpoint,
                }
            )
    return items
