"""Schemathesis, every check, against the app's own OpenAPI document.

One bounded run of schemathesis' engine (what its command line runs) over every
operation of ``/api/openapi.json``: all phases (examples, coverage, fuzzing, stateful
sequences of linked calls), positive and negative data, and every check it has: no 5xx,
responses conform to the document (status, content type, headers, body), schema-valid
requests are accepted and invalid ones refused, unsupported methods get 405 with
``Allow``, a request without its API key is refused (``ignored_auth``), deleted
resources stay deleted. Authorised calls carry a real admin key; the auth checks send
the same calls without it. Any failure fails the test with schemathesis' report.

The app is served by a real HTTP server in a thread: schemathesis' in-process WSGI
transport cannot send the unauthenticated probes of its auth checks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.engine import events
from werkzeug.serving import WSGIRequestHandler, make_server

pytest_plugins = ["api_fixtures"]

#: Generated cases per operation and phase: bounded so the run stays well under a minute.
MAX_EXAMPLES = 5
ACCEPTED = ["2xx", "3xx", 401, 403, 404, 409, 429]
REFUSED = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
#: Where a valid-looking request may still be refused, or an invalid-looking one accepted,
#: for a reason the OpenAPI document cannot state. Every other check still runs on them.
EXCEPTIONS = [
    # The document can describe a multipart file field, not what a readable CSV, XLSX or
    # Parquet file holds: 422 names what is wrong with the bytes.
    ("POST", "/api/v1/batches", "positive_data_acceptance", [*ACCEPTED, 422]),
    # `until` must be later than `since`: a rule between two parameters.
    ("GET", "/api/v1/processing-log", "positive_data_acceptance", [*ACCEPTED, 422]),
    # The profile contract reads spreadsheet forms on purpose (a whole number where text is
    # expected, "1.500.000,50" or "Ya" where a number or boolean is), so a value of another
    # JSON type than the documented one can be valid.
    ("POST", "/api/v1/scores", "negative_data_rejection", [*REFUSED, 200, 201]),
    # Decisions and follow-ups name a stored SME, may not be dated in the future (or before
    # 2000) and have rules between fields (support needs its kind, no export no value):
    # what the stored data and today's date allow, not the document. 422 names the field.
    *(
        (method, path, "positive_data_acceptance", [*ACCEPTED, 422])
        for method, path in (
            ("POST", "/api/v1/decisions"),
            ("POST", "/api/v1/decisions/bulk"),
            ("PATCH", "/api/v1/decisions/{decision_id}"),
            ("POST", "/api/v1/outcomes"),
            ("PUT", "/api/v1/outcomes/{followup_id}"),
            ("POST", "/api/v1/outcomes/import"),
        )
    ),
]


class QuietHandler(WSGIRequestHandler):
    """No access log line per generated request."""

    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture
def served(app, client, auth, profile) -> Iterator[str]:
    """The app behind a local HTTP server; the database holds one scored SME and a batch."""
    headers = auth("admin")
    assert client.post("/api/v1/scores?cohort=c", json=profile, headers=headers).status_code == 201
    assert client.post("/api/v1/batches?cohort=c", json=[profile], headers=headers).status_code in (
        201,
        202,
    )
    server = make_server("127.0.0.1", 0, app, threaded=False, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def run_config(api_key: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": 20261128,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True},
            "checks": {"enabled": True},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": 4},
            },
            "auth": {"openapi": {"ApiKeyAuth": {"api_key": api_key}}},
            "operations": [
                {
                    "include-path": path,
                    "include-method": method,
                    "checks": {check: {"expected-statuses": statuses}},
                }
                for method, path, check, statuses in EXCEPTIONS
            ],
            "request-timeout": 30,
            "max-failures": 50,
        }
    )


def describe(event: events.ScenarioFinished) -> Iterator[str]:
    """One paragraph per failed check: what failed, the request as curl, the answer."""
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            interaction = event.recorder.interactions.get(case_id)
            answer = ""
            if interaction is not None and interaction.response is not None:
                body = (interaction.response.content or b"")[:500]
                answer = f"\n  -> {interaction.response.status_code} {body!r}"
            yield (
                f"{event.label or 'stateful'}: {check.name}: {failure.title}\n"
                f"  {failure.message.strip()}\n  {check.failure_info.code_sample}{answer}"
            )


def test_every_check_passes_on_every_operation(served, api_keys):
    schema = schemathesis.openapi.from_url(
        f"{served}/api/openapi.json", config=run_config(api_keys["admin"])
    )
    documented = {operation.ok().label for operation in schema.get_all_operations()}
    tested: set[str] = set()
    failures: list[str] = []
    errors: list[str] = []
    finished = None
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.label:
                tested.add(event.label)
            failures.extend(describe(event))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(str(getattr(event, "value", None) or event.exception))
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert not errors, "\n".join(errors)
    assert not failures, f"{len(failures)} failed check(s):\n\n" + "\n\n".join(
        dict.fromkeys(failures)
    )
    assert finished is not None and finished.stop_reason == "completed"
    assert tested == documented
