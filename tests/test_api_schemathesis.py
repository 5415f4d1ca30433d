"""Property-based run of the generated OpenAPI document against the app (schemathesis):
for a bounded number of generated requests per operation and generation mode, no 5xx, and
every response conforms to the document (status code, content type, headers, body)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytest_plugins = ["api_fixtures"]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 20
OPERATIONS = [
    ("POST", "/api/v1/scores"),
    ("GET", "/api/v1/smes"),
    ("GET", "/api/v1/smes/{sme_id}"),
    ("DELETE", "/api/v1/smes/{sme_id}"),
    ("GET", "/api/v1/smes/{sme_id}/scores"),
    ("POST", "/api/v1/batches"),
    ("GET", "/api/v1/batches/{batch_id}"),
    ("GET", "/api/v1/batches/{batch_id}/results"),
    ("POST", "/api/v1/shortlists"),
    ("GET", "/api/v1/models/active"),
    ("GET", "/api/v1/rulesets/active"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]


@pytest.fixture
def api_schema(app, client, auth, profile):
    """The app's own document; the database holds one scored SME and one batch."""
    headers = auth("admin")
    client.post("/api/v1/scores?cohort=c", json=profile, headers=headers)
    client.post("/api/v1/batches?cohort=c", json=[profile], headers=headers)
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def test_every_operation_is_exercised(api_schema):
    found = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert found == set(OPERATIONS)


#: Operations without parameters or body: nothing to make invalid.
NO_INPUT = {("GET", "/healthz"), ("GET", "/readyz")}
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or (method, path) not in NO_INPUT
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_conforms_to_the_document(api_schema, auth, method, path, mode):
    operation = api_schema[path][method]
    headers = auth("admin")

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
