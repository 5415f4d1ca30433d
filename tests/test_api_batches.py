"""Batches: uploads (Indonesian CSV, XLSX, JSON arrays), counts and row errors, results with
the change since the previous score, downloads that neutralise formulas, limits."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from api import store
from api.db import get_session
from api.errors import PROBLEM_JSON
from scoring import fields as F
from scoring.readers import read_table
from scoring.validate import validate_table

pytest_plugins = ["api_fixtures", "db_fixtures"]

DATA = Path(__file__).resolve().parent.parent / "data"
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
    header = ["sektor" if h == "sector" else h for h in header]
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
    from api import lookups

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
    shortlist = client.post(
        "/api/v1/shortlists", json={"cohort": "k", "capacity": 2}, headers=headers
    ).get_json()
    assert len(shortlist["selected"]) == 2
    assert client.delete("/api/v1/smes/BDG-2020-001", headers=headers).status_code == 204
    assert client.get("/api/v1/smes?cohort=k", headers=headers).get_json()["total"] == 2
