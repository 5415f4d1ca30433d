"""A client generated from the app's own OpenAPI document works against a real server.

``openapi-python-client`` (the dev extra pins 0.29) turns ``/api/openapi.json`` into a typed
Python package; the tests import it and use it, as another department's system would,
against ``sme-export serve`` on a free loopback port: batch uploads (a CSV file and a JSON
array of profiles), the batch, its results as JSON, CSV and XLSX, a shortlist of a cohort,
an SME whose latest score is a typed record, the event feed with typed payloads, the SMEs
paged through by cursor and an unchanged SME answered 304.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pytest
from server_helpers import running_server

from api import create_app
from api.db import get_database, sqlite_url

DATA = Path(__file__).resolve().parent.parent / "data"
BIN = Path(sys.executable).parent
GENERATOR = BIN / "openapi-python-client"
PACKAGE = "sme_export_client"
#: Generation (with its ruff post-hooks) takes about a second; a loaded machine gets slack.
GENERATION_SECONDS = 60
COHORT = "generated-client"


def document(tmp_path: Path) -> dict:
    app = create_app({"TESTING": True, "DATABASE_URL": sqlite_url(tmp_path / "doc.db")})
    try:
        return app.test_client().get("/api/openapi.json").get_json()
    finally:
        get_database(app).engine.dispose()


@pytest.fixture(scope="module")
def generation(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """The generator's run on the document, and the generated package imported."""
    tmp = tmp_path_factory.mktemp("client")
    spec = tmp / "openapi.json"
    spec.write_text(json.dumps(document(tmp)), encoding="utf-8")
    out = tmp / "out" / PACKAGE
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.monotonic()
    command = [str(GENERATOR), "generate", "--path", str(spec), "--output-path", str(out)]
    run = subprocess.run(
        [*command, "--meta", "none"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(out.parent))
    try:
        yield SimpleNamespace(
            output=run.stdout + run.stderr,
            seconds=seconds,
            package=importlib.import_module(PACKAGE),
            module=lambda name: importlib.import_module(f"{PACKAGE}.{name}"),
        )
    finally:
        sys.path.remove(str(out.parent))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """``sme-export serve --port 0`` on a fresh SQLite file; (base URL, admin key)."""
    with running_server(tmp_path_factory.mktemp("server"), name="client") as running:
        yield running.base, running.key


@pytest.fixture(scope="module")
def api(generation, server):
    """The generated client, authenticated with the admin key against the server."""
    base, key = server
    client = generation.package.AuthenticatedClient(
        base_url=base, token=key, prefix="", auth_header_name="X-API-Key", timeout=300
    )
    with client:
        yield client


def cohort_csv(rows: int) -> bytes:
    """The header and first ``rows`` rows of the shipped Indonesian cohort CSV."""
    lines = (DATA / "cohort_bandung_2020.csv").read_bytes().splitlines(keepends=True)
    return b"".join(lines[: rows + 1])


@pytest.fixture(scope="module")
def uploaded(generation, api) -> SimpleNamespace:
    """A CSV file and a JSON array uploaded through the generated client, in one cohort."""
    m = generation.module
    types, models = m("types"), m("models")
    upload_file = m("api.batches.post_api_v1_batches")
    upload_profiles = m("api.batches.post_api_v1_batches_profiles")

    body = models.PostApiV1BatchesBody(
        file=types.File(
            payload=io.BytesIO(cohort_csv(4)), file_name="kohort.csv", mime_type="text/csv"
        ),
        cohort=COHORT,
    )
    from_file = upload_file.sync_detailed(client=api, body=body)

    profile = json.loads((DATA / "example_profile.json").read_text(encoding="utf-8"))
    profile["sme_id"] = "JSON-001"
    from_json = upload_profiles.sync_detailed(
        client=api, body=[models.Profile.from_dict(profile)], cohort=COHORT
    )
    return SimpleNamespace(file=from_file, json=from_json, models=models)


def test_the_document_generates_a_client_without_warnings_quickly(generation):
    assert "Warning" not in generation.output, generation.output
    assert generation.seconds < GENERATION_SECONDS


def test_a_csv_file_and_a_json_array_upload_as_typed_batches(uploaded):
    for response, filename, counts in (
        (uploaded.file, "kohort.csv", (4, 4, 0)),
        (uploaded.json, None, (1, 1, 0)),
    ):
        assert response.status_code == 201, response.content
        batch = response.parsed
        assert isinstance(batch, uploaded.models.Batch)
        assert (batch.status, batch.cohort, batch.filename) == ("complete", COHORT, filename)
        assert (batch.received, batch.scored, batch.rejected) == counts
        assert response.headers["Location"] == f"/api/v1/batches/{batch.id}"


def test_the_batch_and_its_results_as_json_csv_and_xlsx(generation, api, uploaded):
    m = generation.module
    batch_id = uploaded.file.parsed.id
    batch = m("api.batches.get_api_v1_batches_batch_id").sync(batch_id=batch_id, client=api)
    assert isinstance(batch, uploaded.models.Batch) and batch.scored == 4

    results = m("api.batches.get_api_v1_batches_batch_id_results").sync(
        batch_id=batch_id, client=api
    )
    assert isinstance(results, uploaded.models.BatchResults)
    assert results.batch_id == batch_id
    sme_ids = [row.sme_id for row in results.results]
    assert sme_ids == ["BDG-2020-001", "BDG-2020-002", "BDG-2020-003", "BDG-2020-004"]
    assert all(isinstance(row, uploaded.models.ResultRow) for row in results.results)
    assert {row.previous_score for row in results.results} == {None}

    text = m("api.batches.get_api_v1_batches_batch_id_results_csv").sync(
        batch_id=batch_id, client=api
    )
    assert isinstance(text, str)
    table = list(csv.DictReader(io.StringIO(text)))
    assert [row["sme_id"] for row in table] == sme_ids
    assert [float(row["score"]) for row in table] == [row.score for row in results.results]

    workbook = m("api.batches.get_api_v1_batches_batch_id_results_xlsx").sync(
        batch_id=batch_id, client=api
    )
    assert isinstance(workbook, m("types").File)
    sheet = openpyxl.load_workbook(workbook.payload, read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:2] == ("sme_id", "name")
    assert [row[0] for row in values[1:]] == sme_ids


def test_a_shortlist_of_the_cohort(generation, api, uploaded):
    shortlist = generation.module("api.shortlists.post_api_v1_shortlists").sync(
        client=api, body=uploaded.models.ShortlistRequest(cohort=COHORT, capacity=2)
    )
    assert isinstance(shortlist, uploaded.models.Shortlist)
    assert shortlist.capacity == 2
    assert len(shortlist.selected) + len(shortlist.excluded) >= 2
    assert [entry.rank for entry in shortlist.selected] == list(
        range(1, len(shortlist.selected) + 1)
    )


def test_an_sme_with_its_latest_score_typed(generation, api, uploaded):
    sme = generation.module("api.smes.get_api_v1_smes_sme_id").sync(sme_id="JSON-001", client=api)
    assert isinstance(sme, uploaded.models.Sme)
    assert type(sme.latest_score) is uploaded.models.ScoreRecord
    assert sme.latest_score.sme_id == "JSON-001"
    assert 0 <= sme.latest_score.score <= 100
    assert all(isinstance(c, uploaded.models.CriterionResult) for c in sme.latest_score.criteria)
    assert sme.cohorts == [COHORT]


def test_one_profile_scored_and_stored_typed(generation, api, uploaded):
    profile = json.loads((DATA / "example_profile.json").read_text(encoding="utf-8"))
    profile["sme_id"] = "ONE-001"
    answer = generation.module("api.scores.post_api_v1_scores").sync_detailed(
        client=api, body=uploaded.models.Profile.from_dict(profile)
    )
    assert answer.status_code == 201
    record = answer.parsed
    assert type(record) is uploaded.models.ScoreRecord
    assert record.sme_id == "ONE-001" and record.model_version and record.ruleset_version
    assert 0 <= record.score <= 100 and record.tier in {
        "ready",
        "near_ready",
        "developing",
        "not_ready",
    }


def test_the_event_feed_typed_and_paged_by_cursor(generation, api, uploaded):
    list_events = generation.module("api.events.get_api_v1_events")
    models = uploaded.models
    page = list_events.sync(client=api, limit=2)
    assert isinstance(page, models.FeedPage) and len(page.items) == 2 and page.has_more
    assert all(isinstance(item.data, models.ScoreCreatedData) for item in page.items)
    assert page.items[0].data.sme_id == page.items[0].data.to_dict()["sme_id"]
    batches = list_events.sync(
        client=api, after=page.next_cursor, types=[models.GetApiV1EventsTypesItem.BATCH_COMPLETED]
    )
    assert [item.type_ for item in batches.items] == ["batch.completed"] * 2
    assert all(isinstance(item.data, models.BatchEndedData) for item in batches.items)
    assert int(batches.next_cursor) > int(page.next_cursor)


def test_paging_through_the_smes_by_cursor(generation, api, uploaded):
    list_smes = generation.module("api.smes.get_api_v1_smes")
    unset = generation.module("types").UNSET
    seen, cursor, pages = [], unset, 0
    while True:
        response = list_smes.sync_detailed(client=api, cohort=COHORT, limit=2, cursor=cursor)
        assert response.status_code == 200, response.content
        page = response.parsed
        assert isinstance(page, uploaded.models.SmePage)
        assert page.limit == 2 and page.total is unset
        assert all(isinstance(item, uploaded.models.SmeSummary) for item in page.items)
        seen += [item.sme_id for item in page.items]
        pages += 1
        if page.next_cursor is None:
            assert "Link" not in response.headers
            break
        assert f"cursor={page.next_cursor}" in response.headers["Link"]
        cursor = page.next_cursor
    expected = ["BDG-2020-001", "BDG-2020-002", "BDG-2020-003", "BDG-2020-004", "JSON-001"]
    assert (seen, pages) == (expected, 3)


def test_an_unchanged_sme_is_answered_304(generation, api, uploaded):
    get_sme = generation.module("api.smes.get_api_v1_smes_sme_id")
    first = get_sme.sync_detailed(sme_id="JSON-001", client=api)
    etag = first.headers["ETag"]
    again = get_sme.sync_detailed(sme_id="JSON-001", client=api, if_none_match=etag)
    assert (again.status_code, again.content, again.parsed) == (304, b"", None)
