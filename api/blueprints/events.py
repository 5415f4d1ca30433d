"""GET /api/v1/events: the feed of events other systems poll, in commit order.

The cursor is the place of the last event read in the order of the commits
(``api.store.events``): asking with it never skips an event that commits later, nor gives
one twice. Webhooks deliver the same events (``api.blueprints.webhooks``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, request, url_for
from flask_smorest import Blueprint, abort

from api import store
from api.db import get_session
from api.http.auth import READ, require_scope
from api.http.event_schemas import FeedPageSchema, FeedQuerySchema
from api.http.paging import LINK_HEADER

blp = Blueprint(
    "events",
    __name__,
    url_prefix="/api/v1/events",
    description="Events for other systems: what changed, in the order it was committed.",
)


@blp.route("", methods=["GET"])
@require_scope(READ)
@blp.arguments(FeedQuerySchema, location="query", as_kwargs=True)
@blp.response(200, FeedPageSchema, headers=LINK_HEADER)
def list_events(after: str | None = None, limit: int | None = None, types: list[str] | None = None):
    """Events after a cursor, oldest commit first

    Poll with `after` set to the last `next_cursor`: events come in the order their
    changes were committed, and a cursor never skips one that commits later nor repeats
    one. Each event has a type (`types` filters) and a versioned payload of ids, scores
    and codes, never personal fields. An SME's events are left with its `sme_id` only
    once it is erased; `sme.erased` tells you to erase it too. The same events reach
    webhook subscribers (`POST /api/v1/webhooks`).
    """
    largest = current_app.config["PAGE_SIZE_MAX"]
    if limit is None:
        limit = min(current_app.config["PAGE_SIZE_DEFAULT"], largest)
    elif limit > largest:
        abort(422, errors=[{"field": "limit", "message": f"Must be at most {largest}."}])
    start = int(after) if after else 0
    items, cursor = store.read_events(get_session(), after=start, limit=limit, types=types)
    more = len(items) == limit
    headers = {}
    if more:  # like every list: the next page's address, in the Link header
        query = [(k, v) for k, v in request.args.items(multi=True) if k not in ("after", "limit")]
        query += [("after", str(cursor)), ("limit", str(limit))]
        headers["Link"] = f'<{url_for(request.endpoint)}?{urlencode(query)}>; rel="next"'
    return {"items": items, "next_cursor": str(cursor), "has_more": more}, 200, headers
