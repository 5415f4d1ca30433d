"""The HTTP API's blueprints, registered in this order by ``api.create_app``."""

from __future__ import annotations

from api.blueprints import (
    batches,
    cohorts,
    decisions,
    events,
    governance,
    invitations,
    meta,
    outcomes,
    protection,
    reports,
    scores,
    shortlists,
    smes,
    webhooks,
)

BLUEPRINTS = (
    scores.blp,
    smes.blp,
    batches.blp,
    cohorts.blp,
    shortlists.blp,
    decisions.blp,
    outcomes.blp,
    meta.models,
    meta.health,
    protection.blp,
    governance.blp,
    events.blp,
    webhooks.blp,
    reports.blp,
    invitations.blp,
)
