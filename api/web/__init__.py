"""The staff web pages, served by the same app as the API.

Server-rendered HTML in Bahasa Indonesia (default) or English, a little JavaScript,
charts as inline SVG, nothing fetched from the internet. Pages score and store through
the same functions as the API (``api.services.ingest``, ``api.store``); staff log in with
accounts made by ``sme-export users create``. ``create_app`` registers every blueprint
in ``WEB_BLUEPRINTS`` and calls ``init_app``.
"""

from __future__ import annotations

from flask import Flask, render_template

from api.services.scorer import ScorerUnavailable
from api.web import (
    admin,
    auth,
    batches,
    cohorts,
    evaluation,
    governance,
    i18n,
    invitations,
    nav,
    outcome_import,  # noqa: F401 - adds its routes to outcomes.bp
    outcome_shortlist,  # noqa: F401 - adds its routes to outcomes.bp
    outcomes,
    profiles,
    protection,
    reports,
    security,
    self_assessment,
    shortlists,
    webhooks,
)

WEB_BLUEPRINTS = (
    auth.bp,
    profiles.bp,
    cohorts.bp,
    batches.bp,
    shortlists.bp,
    admin.bp,
    webhooks.bp,
    protection.bp,
    governance.bp,
    evaluation.bp,
    outcomes.bp,
    reports.bp,
    invitations.bp,
    self_assessment.bp,
)


def _scoring_unavailable(error: ScorerUnavailable):
    """The model or ruleset cannot be loaded: a page that says so (the API answers 503 JSON)."""
    return render_template("errors/503.html"), 503


for _blueprint in (
    auth.bp,
    profiles.bp,
    cohorts.bp,
    batches.bp,
    shortlists.bp,
    admin.bp,
    evaluation.bp,
    outcomes.bp,
    reports.bp,
    invitations.bp,
    self_assessment.bp,
):
    _blueprint.register_error_handler(ScorerUnavailable, _scoring_unavailable)


def init_app(app: Flask) -> None:
    """Translations, CSRF and page headers, and what every template may use."""
    i18n.init_app(app)
    security.init_app(app, tuple(blueprint.name for blueprint in WEB_BLUEPRINTS))
    app.jinja_env.globals.update(
        current_user=auth.current_user,
        has_role=auth.has_role,
        nav_items=nav.nav_items,
    )
