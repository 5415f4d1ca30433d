"""Batches: uploads (Indonesian CSV, XLSX, JSON arrays), counts and row errors, results with
the change since the previous score, downloads that neutralise formulas, limits."""

from __future__ import annotations

import csv
import io
import tracemalloc
from pathlib import Path

import openpyxl
import pytest
from flask import jsonify

from api import store
from api.db import get_session
from api.http.errors import PROBLEM_JSON
from api.services import downloads
from api.services.lookups import sme_facts
from scoring.contract import fields as F
from scoring.contract.validate import validate_table
from scoring.files.readers import read_table

pytest_plugins = ["api_fixtures", "db_fixtures"]

DATA = Path(__file__).resolve().parent.parent / "data"
MAX_DOCUMENTED_ID = 2**31 - 1
FORMULA_NAME = '=HYPERLINK("http://evil.example/x","Klik")'


def cohort_rows(n: int) -> tuple[list[str], list[list[str]]]:
    """Header and the first ``n`` rows of the shipped Indonesian cohort CSV, as text cells."""
    text = (DATA / "cohort_bandung_2020.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    return rows[0], rows[1 : n + 1]


def indonesian_csv(header: list[str], rows: list[list[str]]) -> bytes:
    """';'-separated CSV with a UTF-8 BOM, as an Indonesian office's Excel saves it."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def set_cell(header: list[str], row: list[str], field: str, value: str) -> None:
    row[header.index(field)] = value


@pytest.fixture
def mixed_csv() -> bytes:
    """Five rows (file rows 2-6): rows 3 and 5 are invalid; row 4's name is a formula."""
    header, rows = cohort_rows(5)
    set_cell(header, rows[1], "employees", "banyak")
    set_cell(header, rows[2], "name", FORMULA_NAME)
    set_cell(header, rows[3], "sector", "space")
    set_cell(header, rows[3], "has_nib", "mungkin")
    set_cell(header, rows[3], "annual_revenue_idr", "1.500.000,50")
    return indonesian_csv(header, rows)


def upload(client, headers, content: bytes, filename: str, query: str = "", **form):
    data = {"file": (io.BytesIO(content), filename), **form}
    return client.post(
        f"/api/v1/batches{query}", data=data, headers=headers, content_type="multipart/form-data"
    )


def engine_records(scorer, content: bytes, filename: str) -> tuple[list[dict], list[dict]]:
    """What ``Scorer.score`` makes of the same file: records and row errors."""
    batch = validate_table(read_table(content, filename=filename))
    records = scorer.score(batch.profiles, assumed=batch.assumed).to_records()
    errors = [error.to_dict() for error in batch.errors]
    for error in errors:  # the API gives field and message; the cell is for the batch page
        error["errors"] = [{"field": e["field"], "message": e["message"]} for e in error["errors"]]
    return records, errors


def comparable(record: dict) -> dict:
    drop = {"scored_at", "previous_score", "change", "name", "sector"}
    return {k: v for k, v in record.items() if k not in drop}


# --- upload and counts ---------------------------------------------------------------------


def test_mixed_indonesian_csv_scores_valid_rows_and_reports_bad_ones(client, auth, mixed_csv):
    response = upload(
        client, auth("score", "personal"), mixed_csv, "kohort.csv", "?cohort=bdg-2020"
    )
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    assert response.headers["Location"] == f"/api/v1/batches/{batch['id']}"
    assert (batch["status"], batch["cohort"], batch["filename"]) == (
        "complete",
        "bdg-2020",
        "kohort.csv",
    )
    assert (batch["received"], batch["scored"], batch["rejected"]) == (5, 3, 2)
    assert [(e["row"], e["sme_id"]) for e in batch["errors"]] == [
        (3, "BDG-2020-002"),
        (5, "BDG-2020-004"),
    ]
    assert [e["field"] for e in batch["errors"][0]["errors"]] == ["employees"]
    assert [e["field"] for e in batch["errors"][1]["errors"]] == ["sector", "has_nib"]
    again = client.get(f"/api/v1/batches/{batch['id']}", headers=auth("read")).get_json()
    assert again == batch


def test_batch_results_are_identical_to_the_engine_on_the_same_file(
    client, auth, mixed_csv, scorer
):
    batch = upload(client, auth("score", "personal"), mixed_csv, "kohort.csv").get_json()
    results = client.get(f"/api/v1/batches/{batch['id']}/results", headers=auth("read"))
    assert results.status_code == 200
    body = results.get_json()
    assert body["batch_id"] == batch["id"]
    expected, errors = engine_records(scorer, mixed_csv, "kohort.csv")
    assert [comparable(r) for r in body["results"]] == [comparable(r) for r in expected]
    assert batch["errors"] == errors
    assert [r["name"] for r in body["results"]][1] == FORMULA_NAME
    assert {r["previous_score"] for r in body["results"]} == {None}
    assert {r["change"] for r in body["results"]} == {None}


def test_xlsx_upload_with_untidy_headers(client, auth, profile, scorer):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    columns = [c for c in F.ALL_COLUMNS if c in profile]
    sheet.append([f"  {c.replace('_', ' ').upper()} " for c in columns])
    for i in range(3):
        row = {**profile, "sme_id": f"X-{i}", "employees": i * 10}
        if i == 1:
            row["year_established"] = 1800
        sheet.append(
            [", ".join(v) if isinstance(v, list) else v for v in (row[c] for c in columns)]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    content = buffer.getvalue()

    response = upload(client, auth("score", "personal"), content, "kohort.xlsx")
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    assert (batch["received"], batch["scored"], batch["rejected"]) == (3, 2, 1)
    assert batch["errors"][0]["row"] == 3
    assert batch["errors"][0]["errors"][0]["field"] == "year_established"
    results = client.get(f"/api/v1/batches/{batch['id']}/results", headers=auth("read"))
    expected, _ = engine_records(scorer, content, "kohort.xlsx")
    assert [comparable(r) for r in results.get_json()["results"]] == [
        comparable(r) for r in expected
    ]


def test_json_array_body(client, auth, profile):
    rows = [profile, {**profile, "sme_id": "B-2", "employees": -1}, "not a profile"]
    response = client.post(
        "/api/v1/batches?cohort=json", json=rows, headers=auth("score", "personal")
    )
    assert response.status_code == 201
    batch = response.get_json()
    assert (batch["received"], batch["scored"], batch["rejected"]) == (3, 1, 2)
    assert [(e["row"], e["sme_id"]) for e in batch["errors"]] == [(2, "B-2"), (3, None)]
    assert batch["cohort"] == "json" and batch["filename"] is None


def test_cohort_can_come_as_a_form_field(client, auth, mixed_csv):
    batch = upload(
        client, auth("score", "personal"), mixed_csv, "k.csv", cohort="formulir"
    ).get_json()
    assert batch["cohort"] == "formulir"
    members = client.get("/api/v1/smes?cohort=formulir", headers=auth("read")).get_json()
    assert members["total"] == 3


def test_second_batch_shows_the_change_since_the_previous_score(client, auth):
    header, rows = cohort_rows(3)
    first = upload(
        client, auth("score", "personal"), indonesian_csv(header, rows), "r1.csv"
    ).get_json()
    before = client.get(f"/api/v1/batches/{first['id']}/results", headers=auth("read"))
    before = {r["sme_id"]: r["score"] for r in before.get_json()["results"]}

    improved = [list(row) for row in rows[:2]]
    for row in improved:
        for field in ("has_website", "knows_incoterms", "has_export_pricing", "export_packaging"):
            set_cell(header, row, field, "Ya")
    newcomer = list(rows[2])
    set_cell(header, newcomer, "sme_id", "BDG-NEW")
    content = indonesian_csv(header, [*improved, newcomer])
    second = upload(client, auth("score", "personal"), content, "r2.csv").get_json()
    results = client.get(f"/api/v1/batches/{second['id']}/results", headers=auth("read"))
    rows_out = {r["sme_id"]: r for r in results.get_json()["results"]}
    for sme_id in ("BDG-2020-001", "BDG-2020-002"):
        row = rows_out[sme_id]
        assert row["previous_score"] == before[sme_id]
        assert row["change"] == round(row["score"] - before[sme_id], 1)
        assert row["change"] > 0
    assert rows_out["BDG-NEW"]["previous_score"] is None
    assert rows_out["BDG-NEW"]["change"] is None
    # the first batch's results still compare with what came before it (nothing)
    again = client.get(f"/api/v1/batches/{first['id']}/results", headers=auth("read"))
    assert {r["previous_score"] for r in again.get_json()["results"]} == {None}


# --- downloads ---------------------------------------------------------------------------


def test_csv_results_neutralise_formulas(client, auth, mixed_csv):
    batch = upload(client, auth("score", "personal"), mixed_csv, "k.csv").get_json()
    response = client.get(f"/api/v1/batches/{batch['id']}/results?format=csv", headers=auth("read"))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["sme_id"] for row in table] == ["BDG-2020-001", "BDG-2020-003", "BDG-2020-005"]
    assert table[1]["name"] == "'" + FORMULA_NAME
    assert {"score", "previous_score", "change", "tier", "top_actions"} <= set(table[0])
    assert not any(name in table[0] for name in F.PERSONAL_COLUMNS)


def test_xlsx_results_neutralise_formulas(client, auth, mixed_csv):
    batch = upload(client, auth("score", "personal"), mixed_csv, "k.csv").get_json()
    response = client.get(
        f"/api/v1/batches/{batch['id']}/results?format=xlsx", headers=auth("read")
    )
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    names = [row[header.index("name")] for row in rows[1:]]
    assert names[1] == "'" + FORMULA_NAME
    cell = sheet.cell(row=3, column=header.index("name") + 1)
    assert cell.data_type == "s"
    assert not any(name in header for name in F.PERSONAL_COLUMNS)


def old_bodies(app, batch_id: int) -> tuple[bytes, bytes]:
    """The JSON and CSV result bodies as they were built before streaming: every row in
    memory, ``jsonify`` and ``write_table`` of the whole frame."""
    with app.test_request_context():
        session = get_session()
        rows = store.batch_results(session, batch_id)
        batch = store.get_batch(session, batch_id)
        facts = sme_facts(session, [r["sme_id"] for r in rows], cohort=batch["cohort"])
        for row in rows:
            row.update(facts.get(row["sme_id"], {"name": None, "sector": None}))
        json_body = jsonify({"batch_id": batch_id, "results": rows}).get_data()
        frame = downloads.results_frame(rows)
        csv_body = downloads.table_response(frame, format="csv", filename="x").get_data()
    return json_body, csv_body


@pytest.mark.parametrize("chunk_rows", [1, 2, 500])
def test_streamed_results_are_the_bodies_built_in_memory(
    app, client, auth, mixed_csv, monkeypatch, chunk_rows
):
    monkeypatch.setattr(downloads, "CHUNK_ROWS", chunk_rows)
    batch = upload(client, auth("admin"), mixed_csv, "k.csv", "?cohort=k").get_json()
    json_body, csv_body = old_bodies(app, batch["id"])
    url = f"/api/v1/batches/{batch['id']}/results"
    for query, body, mimetype in (
        ("", json_body, "application/json"),
        ("?format=csv", csv_body, "text/csv"),
    ):
        response = client.get(url + query, headers=auth("read"))
        assert response.status_code == 200
        assert response.is_streamed
        assert response.mimetype == mimetype
        assert response.get_data() == body
    response = client.get(f"{url}.csv", headers=auth("read"))
    assert response.is_streamed and response.get_data() == csv_body


def test_results_of_an_empty_batch(app, client, auth, profile):
    rows = [{**profile, "employees": -1}]
    batch = client.post("/api/v1/batches", json=rows, headers=auth("admin")).get_json()
    assert batch["scored"] == 0
    url = f"/api/v1/batches/{batch['id']}/results"
    assert client.get(url, headers=auth("read")).get_json() == {
        "batch_id": batch["id"],
        "results": [],
    }
    json_body, csv_body = old_bodies(app, batch["id"])
    assert client.get(url, headers=auth("read")).get_data() == json_body
    assert client.get(f"{url}.csv", headers=auth("read")).get_data() == csv_body == b"\r\n"
    workbook = client.get(f"{url}.xlsx", headers=auth("read")).get_data()
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).active
    assert list(sheet.iter_rows(values_only=True)) in ([], [(None,)])


LARGE_BATCH = 6000


@pytest.fixture
def large_batch(app, client, auth, profile) -> int:
    """A complete batch of 6,000 stored results (one scored profile under 6,000 ids)."""
    scored = client.post("/api/v1/scores?dry_run=true", json=profile, headers=auth("admin"))
    record = scored.get_json()
    ids = [f"BIG-{i:05d}" for i in range(LARGE_BATCH)]
    with app.app_context():
        session = get_session()
        batch_id = store.create_batch(session, cohort=None, filename="big.csv", actor="test")
        store.save_scored(
            session,
            profiles=[{**profile, "sme_id": sme_id} for sme_id in ids],
            personal=[{}] * LARGE_BATCH,
            records=[{**record, "sme_id": sme_id} for sme_id in ids],
            cohort=None,
            batch_id=batch_id,
            actor="test",
        )
        store.finish_batch(
            session, batch_id, received=LARGE_BATCH, scored=LARGE_BATCH, rejected=0, row_errors=[]
        )
        session.commit()
    return batch_id


def test_large_results_stream_with_memory_well_below_the_body(client, auth, large_batch):
    """Peak traced memory while a 6,000-row batch's JSON and CSV results are produced and
    read stays well below the JSON body (about 40 MB, the size of the rows themselves):
    the rows are never all in memory at once. Before streaming, the peak exceeded it."""
    url = f"/api/v1/batches/{large_batch}/results"
    sizes, peaks = {}, {}
    for suffix, last_row in (("", b'"sme_id":"BIG-05999"'), (".csv", b"BIG-05999,")):
        tracemalloc.start()
        try:
            response = client.get(url + suffix, headers=auth("read"), buffered=False)
            assert response.status_code == 200 and response.is_streamed
            size, end = 0, b""
            for piece in response.response:
                size += len(piece)
                end = (end + piece)[-20_000:]
            response.close()
            peaks[suffix] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert last_row in end
        sizes[suffix] = size
    assert sizes[""] > 30_000_000
    assert max(peaks.values()) < sizes[""] / 3, (peaks, sizes)


@pytest.mark.parametrize(
    ("accept", "mimetype"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("text/csv", "text/csv"),
        ("text/csv;q=0.5, application/json", "application/json"),
        (downloads.MEDIA_TYPES["xlsx"], downloads.MEDIA_TYPES["xlsx"]),
        ("text/html", "application/json"),
    ],
)
def test_accept_chooses_the_results_format_without_format(
    client, auth, mixed_csv, accept, mimetype
):
    batch = upload(client, auth("admin"), mixed_csv, "k.csv").get_json()
    headers = {**auth("read"), **({"Accept": accept} if accept else {})}
    response = client.get(f"/api/v1/batches/{batch['id']}/results", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    # ?format= wins over Accept
    query = f"/api/v1/batches/{batch['id']}/results?format=json"
    assert client.get(query, headers=headers).mimetype == "application/json"


def test_results_csv_and_xlsx_operations(client, auth, mixed_csv):
    batch = upload(client, auth("admin"), mixed_csv, "k.csv").get_json()
    url = f"/api/v1/batches/{batch['id']}/results"
    by_format = client.get(f"{url}?format=xlsx", headers=auth("read"))
    xlsx = client.get(f"{url}.xlsx", headers=auth("read"))
    assert xlsx.status_code == 200
    assert xlsx.mimetype == downloads.MEDIA_TYPES["xlsx"]
    assert xlsx.headers["Content-Disposition"] == (
        f'attachment; filename="batch-{batch["id"]}-results.xlsx"'
    )
    sheets = [
        list(openpyxl.load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True))
        for r in (by_format, xlsx)
    ]
    assert sheets[0] == sheets[1]
    assert [row[0] for row in sheets[0][1:]] == ["BDG-2020-001", "BDG-2020-003", "BDG-2020-005"]
    generic = client.get(
        f"{url}.xlsx", headers={**auth("read"), "Accept": "application/octet-stream"}
    )
    assert generic.mimetype == "application/octet-stream"
    assert generic.data[:2] == b"PK"
    csv_response = client.get(f"{url}.csv", headers=auth("read"))
    assert csv_response.mimetype == "text/csv"
    assert csv_response.headers["Content-Disposition"] == (
        f'attachment; filename="batch-{batch["id"]}-results.csv"'
    )
    assert (
        client.get(
            f"/api/v1/batches/{MAX_DOCUMENTED_ID}/results.csv", headers=auth("read")
        ).status_code
        == 404
    )


def test_profiles_operation_scores_a_json_array(client, auth, profile):
    rows = [profile, {**profile, "sme_id": "B-2", "employees": -1}]
    response = client.post("/api/v1/batches/profiles?cohort=json", json=rows, headers=auth("admin"))
    assert response.status_code == 201
    batch = response.get_json()
    assert (batch["received"], batch["scored"], batch["rejected"]) == (2, 1, 1)
    assert response.headers["Location"] == f"/api/v1/batches/{batch['id']}"
    assert batch["cohort"] == "json"
    upload_file = client.post(
        "/api/v1/batches/profiles",
        data={"file": (io.BytesIO(b"x"), "k.csv")},
        headers=auth("admin"),
        content_type="multipart/form-data",
    )
    assert upload_file.status_code == 415


def test_operations_with_a_json_body_document_the_400_of_a_malformed_one(client, auth):
    spec = client.get("/api/openapi.json").get_json()
    with_json = [
        (path, method)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
        and "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert ("/api/v1/batches/profiles", "post") in with_json
    assert ("/api/v1/shortlists", "post") in with_json
    assert ("/api/v1/scores", "post") in with_json
    for path, method in with_json:
        responses = spec["paths"][path][method]["responses"]
        assert responses["400"] == {"$ref": "#/components/responses/BAD_REQUEST"}, path
    assert list(spec["components"]["responses"]["BAD_REQUEST"]["content"]) == [PROBLEM_JSON]
    upload_body = spec["paths"]["/api/v1/batches"]["post"]["requestBody"]["content"]
    assert list(upload_body) == ["multipart/form-data"]
    profiles = spec["paths"]["/api/v1/batches/profiles"]["post"]["requestBody"]["content"]
    assert profiles["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Profile"},
    }
    for path in ("/api/v1/batches", "/api/v1/shortlists"):
        response = client.post(
            path, data=b"[{", headers={**auth("admin"), "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.mimetype == PROBLEM_JSON


def test_unknown_result_format_is_422(client, auth, mixed_csv):
    batch = upload(client, auth("score", "personal"), mixed_csv, "k.csv").get_json()
    response = client.get(f"/api/v1/batches/{batch['id']}/results?format=pdf", headers=auth("read"))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "format"


# --- not found, not ready, failures --------------------------------------------------------


def test_unknown_batch_is_404(client, auth):
    for path in ("/api/v1/batches/999", "/api/v1/batches/999/results"):
        response = client.get(path, headers=auth("read"))
        assert response.status_code == 404
        assert response.mimetype == PROBLEM_JSON


def test_results_of_a_running_batch_are_409(app, client, auth):
    with app.app_context():
        session = get_session()
        batch_id = store.create_batch(session, cohort=None, filename="x.csv", actor="test")
        session.commit()
    assert (
        client.get(f"/api/v1/batches/{batch_id}", headers=auth("read")).get_json()["status"]
        == "running"
    )
    response = client.get(f"/api/v1/batches/{batch_id}/results", headers=auth("read"))
    assert response.status_code == 409


def test_a_batch_that_fails_while_storing_is_marked_failed(client, auth, mixed_csv, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "save_scored", broken)
    response = upload(client, auth("score", "personal"), mixed_csv, "k.csv")
    assert response.status_code == 500
    assert response.mimetype == PROBLEM_JSON
    batch = client.get("/api/v1/batches/1", headers=auth("read")).get_json()
    assert (batch["status"], batch["reason"]) == ("failed", "RuntimeError")
    assert client.get("/api/v1/batches/1/results", headers=auth("read")).status_code == 409
    assert client.get("/api/v1/smes", headers=auth("read")).get_json()["total"] == 0


# --- bad uploads and limits --------------------------------------------------------------


def test_unreadable_file_is_422_and_creates_no_batch(client, auth):
    response = upload(client, auth("score", "personal"), b"\x00\x01\x02 garbage", "data.bin")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "file"
    assert client.get("/api/v1/batches/1", headers=auth("read")).status_code == 404


def test_unknown_column_is_422_with_a_suggestion(client, auth):
    header, rows = cohort_rows(2)
    header = ["sectr" if h == "sector" else h for h in header]
    response = upload(client, auth("score", "personal"), indonesian_csv(header, rows), "k.csv")
    assert response.status_code == 422
    assert "did you mean 'sector'?" in response.get_json()["detail"]


def test_missing_file_field_is_422(client, auth):
    response = client.post(
        "/api/v1/batches",
        data={"upload": (io.BytesIO(b"x"), "x.csv")},
        headers=auth("score", "personal"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "file", "message": "Missing data for required field."}
    ]


def test_json_body_must_be_an_array(client, auth, profile):
    response = client.post("/api/v1/batches", json=profile, headers=auth("score", "personal"))
    assert response.status_code == 422


def test_wrong_content_type_is_415(client, auth):
    response = client.post(
        "/api/v1/batches", data=b"a;b", content_type="text/csv", headers=auth("score", "personal")
    )
    assert response.status_code == 415


def test_too_many_rows_is_422(make_app, make_key, mixed_csv, profile):
    app = make_app(BATCH_MAX_ROWS=4)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "personal")}
    response = upload(client, headers, mixed_csv, "k.csv")
    assert response.status_code == 422
    assert "at most 4 rows" in response.get_json()["detail"]
    response = client.post("/api/v1/batches", json=[profile] * 5, headers=headers)
    assert response.status_code == 422


def test_too_large_upload_is_413(make_app, make_key, mixed_csv):
    app = make_app(MAX_CONTENT_LENGTH=len(mixed_csv) // 2)
    headers = {"X-API-Key": make_key(app, "score", "personal")}
    response = upload(app.test_client(), headers, mixed_csv, "k.csv")
    assert response.status_code == 413
    assert response.mimetype == PROBLEM_JSON


def test_names_in_results_do_not_depend_on_how_they_are_looked_up(
    client, auth, mixed_csv, monkeypatch
):
    from api.services import lookups

    batch = upload(client, auth("score", "personal"), mixed_csv, "k.csv").get_json()
    path = f"/api/v1/batches/{batch['id']}/results"
    scanned = client.get(path, headers=auth("read")).get_json()
    monkeypatch.setattr(lookups, "SCAN_RATIO", 0)  # one SME at a time
    one_by_one = client.get(path, headers=auth("read")).get_json()
    assert one_by_one == scanned
    assert [r["name"] for r in scanned["results"]][1] == FORMULA_NAME


def test_full_round_trip_on_sqlite_and_postgresql(db_url, make_app, make_key, mixed_csv, profile):
    """The batch flow end to end on each supported database."""
    app = make_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "admin")}
    assert client.get("/readyz").status_code == 200
    assert client.post("/api/v1/scores?cohort=k", json=profile, headers=headers).status_code == 201
    first = upload(client, headers, mixed_csv, "k.csv", "?cohort=k").get_json()
    assert (first["received"], first["scored"], first["rejected"]) == (5, 3, 2)
    results = client.get(f"/api/v1/batches/{first['id']}/results", headers=headers).get_json()
    by_id = {r["sme_id"]: r for r in results["results"]}
    assert by_id["BDG-2020-001"]["previous_score"] is not None  # scored alone before
    assert by_id["BDG-2020-003"]["previous_score"] is None
    csv_text = client.get(
        f"/api/v1/batches/{first['id']}/results?format=csv", headers=headers
    ).get_data(as_text=True)
    assert "'" + FORMULA_NAME.replace('"', '""') in csv_text
    streamed = client.get(f"/api/v1/batches/{first['id']}/results.csv", headers=headers)
    assert streamed.is_streamed and streamed.get_data(as_text=True) == csv_text
    shortlist = client.post(
        "/api/v1/shortlists", json={"cohort": "k", "capacity": 2}, headers=headers
    ).get_json()
    assert len(shortlist["selected"]) == 2
    assert client.delete("/api/v1/smes/BDG-2020-001", headers=headers).status_code == 204
    assert client.get("/api/v1/smes?cohort=k", headers=headers).get_json()["total"] == 2
