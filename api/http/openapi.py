"""The REST extension: flask-smorest with problem+json errors, the API-key security
scheme, and Swagger UI served from a local package (no CDN).

``GET /api/openapi.json`` is the OpenAPI 3 document generated from the schemas on the
routes; ``GET /api/docs`` the interactive documentation, whose scripts come from the
``swagger-ui-bundle`` package and are served under ``/api/docs/assets/``.
"""

from __future__ import annotations

import http

from apispec import BasePlugin
from flask import Blueprint, Flask, send_from_directory
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import HTTPException

from api.http.conditional import ConditionalGetDocs
from api.http.errors import PROBLEM_JSON, http_problem
from api.http.negotiation import is_json
from api.http.schemas import ProblemSchema

API_KEY_HEADER = "X-API-Key"
SECURITY_SCHEME = "ApiKeyAuth"
SCOPES_TEXT = (
    "Keys carry scopes: `score` (score profiles, upload batches, build shortlists), `read` "
    "(SMEs, scores, batches and their results, the active model and ruleset), `personal` "
    "(an SME's owner, contacts and district, with `read`) and `admin` (every scope, and the "
    "administrative operations such as erasure and model governance). Each operation names "
    "the scope it needs in `x-required-scope`."
)


class JsonBodyErrors(BasePlugin):
    """Every operation that takes a JSON body documents the 400 of a malformed one."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            content = operation.get("requestBody", {}).get("content", {})
            if any(is_json(media_type) for media_type in content):
                operation.setdefault("responses", {}).setdefault("400", "BAD_REQUEST")


def nullable_reference(self, field, ret: dict, **kwargs) -> dict:
    """A nullable nested schema as ``allOf: [$ref]`` + ``nullable`` (OpenAPI 3.0), not
    apispec's ``anyOf`` with an untyped object, which client generators read as a second,
    untyped model."""
    alternatives = ret.get("anyOf")
    if (
        getattr(field, "allow_none", False)
        and isinstance(alternatives, list)
        and len(alternatives) == 2
        and {"type": "object", "nullable": True} in alternatives
    ):
        (reference,) = [a for a in alternatives if "$ref" in a]
        del ret["anyOf"]
        return {"allOf": [reference], "nullable": True}
    return {}


def one_of_references(self, field, ret: dict, **kwargs) -> dict:
    """A field that holds one of several schemas (its ``one_of``) as ``anyOf`` of their
    references, each schema a component of the document (``anyOf``, as schemas that allow
    more members than they name may each fit)."""
    schemas = getattr(field, "one_of", None)
    if not schemas:
        return {}
    return {"anyOf": [self.resolve_nested_schema(schema) for schema in schemas]}


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
                    "and says what to fix first. Send an API key in the `X-API-Key` header. "
                    f"{SCOPES_TEXT} Errors are `application/problem+json` (RFC 9457)."
                )
            },
            "extra_plugins": [JsonBodyErrors(), ConditionalGetDocs()],
        },
    )
    rest.ma_plugin.converter.add_attribute_function(nullable_reference)
    rest.ma_plugin.converter.add_attribute_function(one_of_references)
    rest.spec.components.security_scheme(
        SECURITY_SCHEME,
        {
            "type": "apiKey",
            "in": "header",
            "name": API_KEY_HEADER,
            "description": f"An API key made with `sme-export keys create`. {SCOPES_TEXT}",
        },
    )
    app.register_blueprint(_docs_assets())
    app.extensions["sme_export.rest"] = rest
    return rest
