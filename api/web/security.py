"""CSRF protection for the web forms and security headers for the pages.

Every state-changing request to a web blueprint needs the session's CSRF token (a form
field or the ``X-CSRFToken`` header); the ``/api`` blueprints authenticate with API keys
instead and are left alone. Pages get a Content-Security-Policy that allows only the
service's own scripts and styles (no inline script, nothing from the internet), and
must not be framed or sniffed.
"""

from __future__ import annotations

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
    def _page_headers(response: Response) -> Response:
        if request.blueprint in names or request.endpoint == "static":
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):
        return render_template("errors/400.html", reason=error.description), 400
