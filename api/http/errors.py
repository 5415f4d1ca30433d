"""One error envelope for everything: ``application/problem+json`` (RFC 9457).

Every error has ``type``, ``title``, ``status`` and ``detail``; validation errors (422)
add ``errors``, a list of ``{"field", "message"}``. Views raise errors with
``flask_smorest.abort(status, message=..., errors=[...], headers={...})``; routing
errors (404, 405), oversized uploads (413) and unexpected exceptions (500) end here too,
so no API client ever sees an HTML page or a stack trace. A browser asking for a staff
page (a path outside ``/api/`` and ``Accept: text/html``) is shown a page in its language
instead, with a link home (``error_page``).
"""

from __future__ import annotations

import http
import logging
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, json, render_template, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from api.services.scorer import ScorerUnavailable
from scoring.contract.schema import schema_errors_to_list

PROBLEM_JSON = "application/problem+json"
#: RFC 9457: "about:blank" means the problem is what the HTTP status says.
BLANK = "about:blank"
#: Headers of an HTTP error worth passing on (werkzeug's own Content-Type is not).
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")

log = logging.getLogger(__name__)


def problem(
    status: int,
    detail: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    title: str | None = None,
    **extensions: Any,
) -> Response:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": BLANK,
        "title": title or http.HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or http.HTTPStatus(status).description,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extensions)
    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON
    )
    response.headers.extend(headers or {})
    return response


#: Statuses that have a staff page (``templates/errors/<status>.html``).
_PAGES = (404, 405, 422, 500)
_NOT_PAGES = ("/api/", "/healthz", "/readyz")


def wants_page() -> bool:
    """Whether the request is a browser's for a staff page (which gets its errors as pages):
    a path outside the API that asks for HTML by name, ahead of JSON."""
    if request.path == "/api" or request.path.startswith(_NOT_PAGES):
        return False
    accept = request.accept_mimetypes
    named = any(value == "text/html" and quality > 0 for value, quality in accept)
    return named and accept.best_match(("text/html", "application/json", PROBLEM_JSON)) == (
        "text/html"
    )


def error_page(
    status: int,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    reference: str | None = None,
) -> Response | None:
    """The staff page of an error, in the page's language; None if there is none to show
    (or it cannot be rendered: the problem+json answer is given instead)."""
    if status not in _PAGES or not wants_page():
        return None
    try:
        html = render_template(f"errors/{status}.html", errors=errors or [], reference=reference)
    except Exception:  # e.g. the database is down and the page needs the user
        log.warning("the %d page could not be rendered; answered as problem+json", status)
        return None
    response = current_app.response_class(html, status=status, mimetype="text/html")
    response.headers.extend(headers or {})
    return response


def field_errors(messages: Any) -> list[dict[str, str]]:
    """webargs' ``{location: {field: [messages]}}`` as a flat list of ``{field, message}``."""
    if not isinstance(messages, Mapping):
        return schema_errors_to_list(messages)
    out: list[dict[str, str]] = []
    for location, detail in messages.items():
        if isinstance(detail, Mapping):
            out.extend(schema_errors_to_list(detail))
        else:
            out.extend(schema_errors_to_list({"_" + str(location): detail}))
    return out


def http_problem(error: HTTPException) -> Response:
    """An ``HTTPException`` (werkzeug's, or raised by ``abort``) as problem+json."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = {name: value for name, value in error.get_headers() if name in _KEPT_HEADERS}
    headers.update(data.get("headers") or {})
    errors = data.get("errors")
    detail = data.get("message")
    if errors is None and "messages" in data:
        errors = field_errors(data["messages"])
        if status != 422:  # e.g. 400 "Invalid JSON body.": one sentence, no field list
            detail = detail or " ".join(e["message"] for e in errors)
            errors = None
    if status == 422 and errors is None:
        errors = []
    if detail is None and status == 422:
        detail = "The request has invalid fields; see errors."
    if detail is None and status != 500:
        detail = error.description
    reference = None
    if status == 500:
        reference = _log_unexpected(getattr(error, "original_exception", None) or error)
    page = error_page(status, errors=errors, headers=headers, reference=reference)
    if page is not None:
        return page
    return problem(status, detail, errors=errors, headers=headers)


def scorer_unavailable(error: ScorerUnavailable) -> Response:
    reasons = "; ".join(f"{part} cannot be loaded" for part in error.reasons)
    retry = max(1, round(current_app.config.get("SCORER_RETRY_SECONDS", 30)))
    return problem(
        503,
        f"Scoring is unavailable: {reasons}. See /readyz.",
        headers={"Retry-After": str(retry)},
    )


def database_unavailable(error: sa_exc.SQLAlchemyError) -> bool:
    """Whether ``error`` means the database cannot be used right now (down, unreachable,
    its file unreadable or not a database, the pool exhausted), as opposed to a bug."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    # SQLite reports "file is not a database" (and a corrupt file) with the bare class.
    return type(error) is sa_exc.DatabaseError


def database_error(error: sa_exc.SQLAlchemyError) -> Response:
    """A database outage is answered 503 with ``Retry-After``; the service recovers by
    itself (pooled connections are checked on checkout). Other database errors are bugs."""
    if not database_unavailable(error):
        return unexpected(error)
    log.warning(
        "database unavailable in %s %s: %s",
        request.method,
        request.url_rule.rule if request.url_rule else request.path,
        type(getattr(error, "orig", None) or error).__name__,
    )
    retry = max(1, round(current_app.config.get("DATABASE_RETRY_SECONDS", 5)))
    return problem(
        503,
        "The database is unavailable; try again shortly. See /readyz.",
        headers={"Retry-After": str(retry)},
    )


def unexpected(error: Exception) -> Response:
    """Anything not handled on purpose: logged without its message, answered as a plain 500."""
    if isinstance(error, HTTPException):  # pragma: no cover - routed to http_problem
        return http_problem(error)
    reference = _log_unexpected(error)
    page = error_page(500, reference=reference)
    if page is not None:
        return page
    return problem(
        500,
        "An unexpected error occurred; it was logged. Quote the instance when reporting it.",
        instance=reference,
    )


def _log_unexpected(error: BaseException) -> str:
    """Log where an unexpected error happened; the message is left out (it may hold
    personal data from the request), the stack is kept."""
    reference = f"urn:uuid:{uuid.uuid4()}"
    rule = request.url_rule.rule if request.url_rule else request.path
    stack = "".join(traceback.format_tb(error.__traceback__))
    log.error(
        "unexpected %s in %s %s (%s)\n%s",
        type(error).__name__,
        request.method,
        rule,
        reference,
        stack,
    )
    return reference


def register_errorhandlers(app: Flask) -> None:
    """HTTP errors are handled by the REST extension (``api.http.openapi.RestApi``) through
    ``http_problem``; here: the scorer's and the database's 503 and every other exception."""
    app.register_error_handler(ScorerUnavailable, scorer_unavailable)
    app.register_error_handler(sa_exc.SQLAlchemyError, database_error)
    app.register_error_handler(Exception, unexpected)
