"""The HTTP API's blueprints, registered in this order by ``api.create_app``."""

from __future__ import annotations

from api.blueprints import batches, meta, scores, shortlists, smes

BLUEPRINTS = (scores.blp, smes.blp, batches.blp, shortlists.blp, meta.models, meta.health)
