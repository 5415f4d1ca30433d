"""The REST extension: flask-smorest with problem+json errors, the API-key security
scheme, and Swagger UI served from a local package (no CDN).

``GET /api/openapi.json`` is the OpenAPI 3 document generated from the schemas on the
routes; ``GET /api/docs`` the interactive documentation, whose scripts come from the
``swagger-ui-bundle`` package and are served under ``/api/docs/assets/``.
"""

from __future__ import annotations

import http

from flask import Blueprint, Flask, send_from_directory
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import HTTPException

from api.errors import PROBLEM_JSON, http_problem
from api.schemas import ProblemSchema

API_KEY_HEADER = "X-API-Key"
SECURITY_SCHEME = "ApiKeyAuth"


class RestApi(Api):
    """flask-smorest's Api whose error responses are RFC 9457 problem details."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException):
        return http_problem(error)

    def _register_responses(self) -> None:
        """Every status' component response (and the default one) as problem+json."""
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (RFC 9457 problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def _docs_assets() -> Blueprint:
    assets = Blueprint("docs_assets", __name__, url_prefix="/api/docs/assets")

    @assets.get("/<path:filename>")
    def asset(filename: str):
        return send_from_directory(str(swagger_ui_path), filename, max_age=86400)

    return assets


def init_app(app: Flask) -> RestApi:
    """The REST extension for ``app``, with the API-key scheme and the docs' assets."""
    rest = RestApi(
        app,
        spec_kwargs={
            "info": {
                "description": (
                    "Scores how ready a small or medium enterprise is to export, explains why "
                    "and says what to fix first. Send an API key in the `X-API-Key` header; "
                    "keys carry scopes `score`, `read` or `admin`. Errors are "
                    "`application/problem+json` (RFC 9457)."
                )
            }
        },
    )
    rest.spec.components.security_scheme(
        SECURITY_SCHEME, {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
    )
    app.register_blueprint(_docs_assets())
    app.extensions["sme_export.rest"] = rest
    return rest
