"""Conditional GET for the API: every JSON answer of a GET under ``/api/v1/`` carries a
strong ``ETag`` (the SHA-256 of the body as sent), and a request whose ``If-None-Match``
names it is answered ``304 Not Modified`` without a body (RFC 9110).

One ``after_request`` hook does it for every operation, and ``ConditionalGetDocs`` puts
the header, the ``If-None-Match`` parameter and the 304 in the OpenAPI document. A
streamed body (a whole batch's results) gets no ETag: it is never held to be hashed.
The view still runs for a 304 (a read of personal data is still in the processing log);
what is saved is the body on the wire.
"""

from __future__ import annotations

import hashlib

from apispec import BasePlugin
from flask import Flask, Response, request

API_PREFIX = "/api/v1/"
JSON = "application/json"
_READS = ("GET", "HEAD")

ETAG_HEADER = {
    "description": "A strong validator of this body (its SHA-256): send it back in "
    "`If-None-Match` to be answered 304 while the resource is unchanged.",
    "schema": {"type": "string"},
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": "The `ETag` of a copy the client holds: 304 without a body while it "
    "is still current.",
    "schema": {"type": "string"},
}


def body_etag(body: bytes) -> str:
    """The entity tag of a body (unquoted)."""
    return hashlib.sha256(body).hexdigest()


def add_etag(response: Response) -> Response:
    """A JSON answer to a GET of the API with its ETag, or 304 if the client holds it."""
    if (
        request.method not in _READS
        or response.status_code != 200
        or response.mimetype != JSON
        or not request.path.startswith(API_PREFIX)
        or response.is_streamed
    ):
        return response
    response.set_etag(body_etag(response.get_data()))
    # The body depends on the key's scopes (personal fields): caches keep one per key.
    response.vary.add("X-API-Key")
    return response.make_conditional(request)


class ConditionalGetDocs(BasePlugin):
    """Documents ``add_etag``: on every GET of the API that answers JSON, the ``ETag``
    header of the 200, the ``If-None-Match`` parameter and the 304."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        if not (path or "").startswith(API_PREFIX):
            return
        operation = (operations or {}).get("get")
        if operation is None:
            return
        responses = operation.get("responses", {})
        ok = responses.get(200, responses.get("200"))  # flask-smorest's keys are numbers
        if not isinstance(ok, dict) or JSON not in ok.get("content", {}):
            return
        ok.setdefault("headers", {})["ETag"] = ETAG_HEADER
        responses.setdefault(304, "NOT_MODIFIED")
        operation.setdefault("parameters", []).append(dict(IF_NONE_MATCH))


def init_app(app: Flask) -> None:
    app.after_request(add_etag)
