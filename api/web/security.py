"""CSRF protection for the web forms and security headers for the pages.

Every state-changing request to a web blueprint needs the session's CSRF token (a form
field or the ``X-CSRFToken`` header); the ``/api`` blueprints authenticate with API keys
instead and are left alone.

Every response (pages, API answers, error answers such as 404) gets a
Content-Security-Policy that allows only the service's own scripts and styles (no inline
script, nothing from the internet) and must not be framed or sniffed; the interactive
API docs (``/api/docs``, flask-smorest's Swagger UI page) get the same policy with the
SHA-256 of the page's one inline script allowed. Every response but the package's static
files is ``Cache-Control: no-store``: pages and API answers may carry personal data and
must not stay in a browser's or a proxy's cache.
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Endpoints of files that may be cached: the pages' scripts and styles, the docs' assets.
CACHEABLE_ENDPOINTS = frozenset({"static", "docs_assets.asset"})
DOCS_ENDPOINT = "api-docs.openapi_swagger_ui"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_policy(page: str) -> str:
    """The docs page's policy: the page policy plus the hashes of its inline scripts (and
    inline styles, which Swagger UI sets)."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(page)
    )
    return CONTENT_SECURITY_POLICY.replace(
        "script-src 'self'", f"script-src 'self' {hashes}".rstrip()
    ).replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


csrf = CSRFProtect()


def init_app(app: Flask, web_blueprints: tuple[str, ...]) -> None:
    """Protect the forms of ``web_blueprints`` (names) and add headers to their pages."""
    # flask-wtf would otherwise check every POST, the API's included.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    names = frozenset(web_blueprints)

    @app.before_request
    def _check_csrf() -> None:
        if request.method not in _SAFE_METHODS and request.blueprint in names:
            csrf.protect()

    @app.after_request
    def _security_headers(response: Response) -> Response:
        if request.endpoint == DOCS_ENDPOINT and response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = docs_policy(
                response.get_data(as_text=True)
            )
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint not in CACHEABLE_ENDPOINTS or response.status_code >= 400:
            response.headers["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):
        return render_template("errors/400.html", reason=error.description), 400
