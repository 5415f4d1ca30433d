"""The HTTP API's blueprints, registered in this order by ``api.create_app``."""

from __future__ import annotations

from api.blueprints import batches, governance, meta, protection, scores, shortlists, smes

BLUEPRINTS = (
    scores.blp,
    smes.blp,
    batches.blp,
    shortlists.blp,
    meta.models,
    meta.health,
    protection.blp,
    governance.blp,
)
