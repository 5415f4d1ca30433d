"""/api/v1/outcomes: export follow-ups one by one (typed JSON) or from an Indonesian office's
spreadsheet, the template in both languages and formats, an SME's decisions and outcomes,
the follow-up worklist, the evaluation of the score against the outcomes, the processing
log, subject access and erasure."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest

from api import store
from api.db import get_session
from api.http.errors import PROBLEM_JSON
from api.http.outcome_fields import office_today
from api.services import outcomes as outcome_service
from scoring.contract.outcomes import OUTCOME_COLUMNS
from scoring.outcomes.evaluation import ASSOCIATION_NOTE

pytest_plugins = ["api_fixtures", "db_fixtures"]

DAY = "2025-03-14"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UNKNOWN_SME = "Unknown SME: score it (or upload its profile) before recording follow-ups."
NAME = "UD Moda Harapan Parahyangan"


def key_actor(headers: dict) -> str:
    return f"key:{headers['X-API-Key'].split('_')[1]}"


def future_day() -> str:
    """A day after today wherever the machine's clock is (WIB is at most a day ahead)."""
    return (dt.date.today() + dt.timedelta(days=2)).isoformat()


def errors_of(response) -> list[dict]:
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == PROBLEM_JSON
    return response.get_json()["errors"]


def exported(sme_id: str = "D-1", **fields) -> dict:
    return {
        "sme_id": sme_id,
        "followup_date": "2026-03-14",
        "exported": True,
        "learned_via": "phone_call",
        "first_export_date": "2025-09-01",
        "destination_markets": ["JP", "ASEAN"],
        "export_value_usd": 12500.5,
        "contracts": 3,
        "note": "Pembeli dari Osaka.",
        **fields,
    }


def not_exported(sme_id: str = "D-2", **fields) -> dict:
    return {
        "sme_id": sme_id,
        "followup_date": "2026-03-14",
        "exported": False,
        "learned_via": "visit",
        **fields,
    }


def score_all(client, headers, profile, sme_ids, cohort: str = "a") -> None:
    for sme_id in sme_ids:
        body = {**profile, "sme_id": sme_id}
        response = client.post(f"/api/v1/scores?cohort={cohort}", json=body, headers=headers)
        assert response.status_code == 201, response.get_json()


@pytest.fixture
def decided(client, auth, profile) -> list[dict]:
    """D-1, D-2 and D-3 scored; D-1 and D-3 supported, D-2 not, all on 2025-03-14."""
    score_all(client, auth("score", "personal"), profile, ("D-1", "D-2", "D-3"))
    body = {
        "decisions": [
            {
                "sme_id": "D-1",
                "decision": "support",
                "support_kind": "trade_fair",
                "decided_on": DAY,
            },
            {"sme_id": "D-2", "decision": "no_support", "reason": "Belum siap.", "decided_on": DAY},
            {
                "sme_id": "D-3",
                "decision": "support",
                "support_kind": "export_coaching",
                "decided_on": DAY,
            },
        ]
    }
    response = client.post("/api/v1/decisions/bulk", json=body, headers=auth("score"))
    assert response.status_code == 201
    return response.get_json()["decisions"]


# --- one follow-up -----------------------------------------------------------------------------


def test_a_followup_is_recorded_and_labels_the_decision(client, auth, decided):
    headers = auth("score")
    response = client.post("/api/v1/outcomes", json=exported(), headers=headers)
    assert response.status_code == 201
    followup = response.get_json()
    assert response.headers["Location"] == f"/api/v1/outcomes/{followup['id']}"
    stamps = {k: followup[k] for k in ("id", "recorded_by", "recorded_at", "updated_at")}
    assert followup == {**exported(), **stamps}
    assert (followup["id"], followup["recorded_by"]) == (1, key_actor(headers))
    assert client.get("/api/v1/outcomes/1", headers=auth("read")).get_json() == followup
    decision = client.get("/api/v1/decisions/1", headers=auth("read")).get_json()
    assert (decision["exported_within_12m"], decision["label_basis"]) == (1, "exported_in_window")


def test_a_followup_without_an_export_leaves_optional_fields_empty(client, auth, decided):
    body = not_exported(followup_date="2026-03-13", destination_markets=[], note="   ")
    followup = client.post("/api/v1/outcomes", json=body, headers=auth("score")).get_json()
    assert {k: followup[k] for k in OUTCOME_COLUMNS} == {
        "sme_id": "D-2",
        "followup_date": "2026-03-13",
        "exported": False,
        "learned_via": "visit",
        "first_export_date": None,
        "destination_markets": [],
        "export_value_usd": None,
        "contracts": None,
        "note": None,
    }
    # Before day 365 of the decision a "not yet" leaves the label unknown; from it on, 0.
    decision = client.get("/api/v1/decisions/2", headers=auth("read")).get_json()
    assert (decision["exported_within_12m"], decision["label_basis"]) == (None, "window_open")
    client.post("/api/v1/outcomes", json=not_exported(), headers=auth("score"))
    decision = client.get("/api/v1/decisions/2", headers=auth("read")).get_json()
    assert (decision["exported_within_12m"], decision["label_basis"]) == (
        0,
        "no_export_at_day_365",
    )


def test_the_same_followup_sent_again_is_not_stored_twice(client, auth, decided):
    first = client.post("/api/v1/outcomes", json=exported(), headers=auth("score"))
    again = client.post("/api/v1/outcomes", json=exported(), headers=auth("score"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    other = client.post("/api/v1/outcomes", json=exported(contracts=4), headers=auth("score"))
    assert (other.status_code, other.get_json()["id"]) == (201, 2)


def test_every_followup_error_is_named_at_once(client, auth, decided):
    body = {
        "sme_id": "D 1",
        "followup_date": future_day(),
        "exported": "Ya",
        "learned_via": "Telepon",
        "first_export_date": "2025-02-30",
        "destination_markets": ["EU", "MARS"],
        "export_value_usd": "12.500,50",
        "contracts": 2.5,
        "note": "x" * 1001,
        "buyer_phone": "+81 3 1234",
    }
    assert errors_of(client.post("/api/v1/outcomes", json=body, headers=auth("score"))) == [
        {
            "field": "sme_id",
            "message": "Must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.",
        },
        {"field": "exported", "message": "Not a valid boolean."},
        {
            "field": "learned_via",
            "message": "Must be one of: phone_call, visit, customs_peb, self_report.",
        },
        {"field": "first_export_date", "message": "Not a valid date."},
        {
            "field": "destination_markets.1",
            "message": "Must be one of: EU, US, JP, CN, GCC, ASEAN, AU, OTHER.",
        },
        {"field": "export_value_usd", "message": "Not a valid number."},
        {"field": "contracts", "message": "Not a valid integer."},
        {"field": "note", "message": "Longer than maximum length 1000."},
        {"field": "buyer_phone", "message": "Unknown field."},
        {"field": "followup_date", "message": "Must not be in the future."},
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            not_exported(
                first_export_date="2025-09-01",
                destination_markets=["EU"],
                export_value_usd=10,
                contracts=1,
            ),
            [
                {"field": name, "message": "Must be empty when exported is no."}
                for name in (
                    "first_export_date",
                    "destination_markets",
                    "export_value_usd",
                    "contracts",
                )
            ],
        ),
        (
            exported(first_export_date="2026-03-15"),
            [{"field": "first_export_date", "message": "Must not be after the follow-up date."}],
        ),
        (
            exported(followup_date="1999-12-31", first_export_date=None),
            [{"field": "followup_date", "message": "Must not be before 2000-01-01."}],
        ),
        (
            exported(export_value_usd=-1, contracts=100_001),
            [
                {
                    "field": "export_value_usd",
                    "message": (
                        "Must be greater than or equal to 0 and less than or equal to 10000000000."
                    ),
                },
                {
                    "field": "contracts",
                    "message": (
                        "Must be greater than or equal to 0 and less than or equal to 100000."
                    ),
                },
            ],
        ),
        (
            {"sme_id": "D-1"},
            [
                {"field": "followup_date", "message": "Missing data for required field."},
                {"field": "exported", "message": "Missing data for required field."},
                {"field": "learned_via", "message": "Missing data for required field."},
            ],
        ),
    ],
)
def test_cross_field_rules_of_a_followup(client, auth, decided, body, expected):
    assert errors_of(client.post("/api/v1/outcomes", json=body, headers=auth("score"))) == expected


def test_a_followup_of_an_unknown_sme_is_422(client, auth, decided):
    response = client.post("/api/v1/outcomes", json=exported("X-404"), headers=auth("score"))
    assert errors_of(response) == [{"field": "sme_id", "message": UNKNOWN_SME}]


def test_a_followup_is_replaced_but_stays_with_its_sme(client, auth, decided):
    client.post("/api/v1/outcomes", json=exported(), headers=auth("score"))
    body = {k: v for k, v in not_exported().items() if k != "sme_id"}
    response = client.put("/api/v1/outcomes/1", json=body, headers=auth("score"))
    assert response.status_code == 200
    replaced = response.get_json()
    assert {k: replaced[k] for k in OUTCOME_COLUMNS} == {
        **dict.fromkeys(OUTCOME_COLUMNS),
        **not_exported("D-1"),
        "destination_markets": [],
    }
    assert replaced["updated_at"] > replaced["recorded_at"]
    moved = client.put("/api/v1/outcomes/1", json={**body, "sme_id": "D-2"}, headers=auth("score"))
    assert errors_of(moved) == [
        {"field": "sme_id", "message": "Cannot be changed: record a new follow-up instead."}
    ]
    wrong = client.put(
        "/api/v1/outcomes/1", json={**body, "first_export_date": DAY}, headers=auth("score")
    )
    assert errors_of(wrong) == [
        {"field": "first_export_date", "message": "Must be empty when exported is no."}
    ]
    assert client.get("/api/v1/outcomes/1", headers=auth("read")).get_json() == replaced


def test_a_withdrawn_followup_is_gone(client, auth, decided):
    client.post("/api/v1/outcomes", json=exported(), headers=auth("score"))
    response = client.delete("/api/v1/outcomes/1", headers=auth("score"))
    assert (response.status_code, response.data) == (204, b"")
    assert client.get("/api/v1/outcomes/1", headers=auth("read")).status_code == 404
    decision = client.get("/api/v1/decisions/1", headers=auth("read")).get_json()
    assert decision["label_basis"] == "no_followup"


@pytest.mark.parametrize(
    ("method", "scope", "body"),
    [
        ("get", "read", None),
        ("put", "score", {k: v for k, v in not_exported().items() if k != "sme_id"}),
        ("delete", "score", None),
    ],
)
@pytest.mark.parametrize("followup_id", [7, 2**31 - 1, 2**31])
def test_unknown_followups_are_404(client, auth, decided, method, scope, body, followup_id):
    kwargs = {"json": body} if body is not None else {}
    call = getattr(client, method)
    response = call(f"/api/v1/outcomes/{followup_id}", headers=auth(scope), **kwargs)
    assert (response.status_code, response.mimetype) == (404, PROBLEM_JSON)


# --- an SME's outcomes -------------------------------------------------------------------------


def test_an_smes_decisions_and_followups(client, auth, decided):
    headers = auth("score")
    later = {"sme_id": "D-1", "decision": "support", "support_kind": "other"}
    later.update(support_other="Foto produk", decided_on="2025-04-01")
    client.post("/api/v1/decisions", json=later, headers=headers)
    client.post("/api/v1/outcomes", json=exported(followup_date="2026-04-01"), headers=headers)
    client.post(
        "/api/v1/outcomes", json=not_exported("D-1", followup_date="2025-06-01"), headers=headers
    )
    response = client.get("/api/v1/smes/D-1/outcomes", headers=auth("read"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["sme_id"] == "D-1"
    assert [(d["id"], d["exported_within_12m"], d["label_basis"]) for d in body["decisions"]] == [
        (1, 1, "exported_in_window"),
        (4, 1, "exported_in_window"),
    ]
    assert [(f["id"], f["followup_date"], f["exported"]) for f in body["followups"]] == [
        (2, "2025-06-01", False),
        (1, "2026-04-01", True),
    ]
    assert (
        client.get("/api/v1/smes/D-2/outcomes", headers=auth("read")).get_json()["followups"] == []
    )
    missing = client.get("/api/v1/smes/X-404/outcomes", headers=auth("read"))
    assert (missing.status_code, missing.get_json()["detail"]) == (
        404,
        "No SME with sme_id 'X-404'.",
    )


# --- outcome files -----------------------------------------------------------------------------


def office_workbook() -> bytes:
    """Follow-ups as an Indonesian office keeps them: titles above the header, Ya/Tidak,
    day-first text dates beside real date cells, Indonesian numbers as text, names of
    values in Bahasa Indonesia, a totals row and a note. Rows 5 and 6 are valid; row 7 has
    a date that does not exist and a boolean nobody can read, row 8 names an unknown SME,
    row 9 is in the future and gives a value without an export."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Tindak lanjut"
    sheet.append(["Tindak lanjut ekspor UKM binaan"])
    sheet.append(["Dinas Koperasi dan UKM, periode Maret 2026"])
    sheet.append([])
    sheet.append(list(OUTCOME_COLUMNS))
    sheet.append(
        [
            "D-1",
            "14/03/2026",
            "Ya",
            "Telepon",
            dt.datetime(2025, 9, 1),
            "Jepang, ASEAN",
            "12.500,50",
            3,
            "Pembeli dari Osaka.",
        ]
    )
    sheet.append(
        ["D-2", dt.datetime(2026, 3, 14), "Tidak", "Kunjungan", None, None, None, None, None]
    )
    sheet.append(["D-3", "31/02/2026", "Mungkin", "Telepon", None, None, None, None, None])
    sheet.append(["X-404", "15/03/2026", "Tidak", "Kunjungan", None, None, None, None, None])
    sheet.append(
        ["D-2", "01/01/2999", "Tidak", "Laporan mandiri UKM", None, None, "1.000", None, None]
    )
    sheet.append([None, "Jumlah", None, None, None, None, 12500.5, 3, None])
    sheet.append(["Catatan: hasil survei lapangan bulan Maret"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


OFFICE_ERRORS = [
    {
        "row": 7,
        "sme_id": "D-3",
        "errors": [
            {
                "field": "followup_date",
                "message": "Not a valid date; write it as 2026-03-14 or 14/03/2026.",
                "column": "B",
                "value": "31/02/2026",
            },
            {
                "field": "exported",
                "message": "Not a valid boolean.",
                "column": "C",
                "value": "Mungkin",
            },
        ],
    },
    {"row": 8, "sme_id": "X-404", "errors": [{"field": "sme_id", "message": UNKNOWN_SME}]},
    {
        "row": 9,
        "sme_id": "D-2",
        "errors": [
            {
                "field": "followup_date",
                "message": "Must not be in the future.",
                "column": "B",
                "value": "01/01/2999",
            },
            {
                "field": "export_value_usd",
                "message": "Must be empty when exported is no.",
                "column": "G",
                "value": "1.000",
            },
        ],
    },
]
OFFICE_SKIPPED = [
    {"row": 10, "reason": "total row"},
    {"row": 11, "reason": "note or signature row"},
]
OFFICE_NOTICES = [
    {
        "code": "header_row",
        "message": "the header was found in row 4; rows above it are not read",
        "row": 4,
        "last_row": 4,
    }
]


def upload(client, headers, content: bytes, filename: str):
    data = {"file": (io.BytesIO(content), filename)}
    return client.post(
        "/api/v1/outcomes/import", data=data, headers=headers, content_type="multipart/form-data"
    )


def test_an_indonesian_office_workbook_is_imported_row_by_row(client, auth, decided):
    response = upload(client, auth("score"), office_workbook(), "tindak-lanjut.xlsx")
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {
        "received": 5,
        "stored": 2,
        "already_recorded": 0,
        "rejected": 3,
        "errors": OFFICE_ERRORS,
        "skipped": OFFICE_SKIPPED,
        "notices": OFFICE_NOTICES,
        "followup_ids": [1, 2],
    }
    first = client.get("/api/v1/outcomes/1", headers=auth("read")).get_json()
    assert {k: first[k] for k in OUTCOME_COLUMNS} == {
        "sme_id": "D-1",
        "followup_date": "2026-03-14",
        "exported": True,
        "learned_via": "phone_call",
        "first_export_date": "2025-09-01",
        "destination_markets": ["JP", "ASEAN"],
        "export_value_usd": 12500.5,
        "contracts": 3,
        "note": "Pembeli dari Osaka.",
    }
    second = client.get("/api/v1/outcomes/2", headers=auth("read")).get_json()
    assert (second["sme_id"], second["followup_date"], second["exported"]) == (
        "D-2",
        "2026-03-14",
        False,
    )
    assert second["learned_via"] == "visit"

    again = upload(client, auth("score"), office_workbook(), "tindak-lanjut.xlsx")
    assert again.status_code == 201
    assert again.get_json() == {
        "received": 5,
        "stored": 0,
        "already_recorded": 2,
        "rejected": 3,
        "errors": OFFICE_ERRORS,
        "skipped": OFFICE_SKIPPED,
        "notices": OFFICE_NOTICES,
        "followup_ids": [],
    }
    assert client.get("/api/v1/smes/D-1/outcomes", headers=auth("read")).get_json()[
        "followups"
    ] == [first]


def test_a_csv_outcome_file_with_decimal_commas(client, auth, decided):
    content = (
        "sme_id;followup_date;exported;learned_via;first_export_date;export_value_usd\r\n"
        "D-1;14 Maret 2026;ya;Data kepabeanan (PEB);01-09-2025;1.250,75\r\n"
        "D-3;2026-03-14;tidak;self_report;;\r\n"
    ).encode("utf-8-sig")
    summary = upload(client, auth("score"), content, "followups.csv").get_json()
    assert (summary["received"], summary["stored"], summary["rejected"]) == (2, 2, 0)
    first = client.get("/api/v1/outcomes/1", headers=auth("read")).get_json()
    assert (first["learned_via"], first["first_export_date"], first["export_value_usd"]) == (
        "customs_peb",
        "2025-09-01",
        1250.75,
    )


def test_an_unreadable_file_is_422_and_stores_nothing(client, auth, decided):
    response = upload(client, auth("score"), b"\x00\x01\x02 sampah", "data.bin")
    [error] = errors_of(response)
    assert error["field"] == "file"
    assert response.get_json()["detail"] == error["message"]
    assert client.get("/api/v1/outcomes/1", headers=auth("read")).status_code == 404


def test_a_file_with_unknown_or_missing_columns_is_422(client, auth, decided):
    unknown = upload(client, auth("score"), b"sme_id;tanggal;exported;learned_via\r\n", "a.csv")
    assert errors_of(unknown) == [
        {
            "field": "file",
            "message": (
                "a.csv: unknown column(s) tanggal; the columns of a follow-up file are "
                + ", ".join(OUTCOME_COLUMNS)
            ),
        }
    ]
    missing = upload(client, auth("score"), b"sme_id;exported\r\nD-1;Ya\r\n", "b.csv")
    assert errors_of(missing) == [
        {"field": "file", "message": "b.csv: missing required column(s) followup_date, learned_via"}
    ]


def test_an_upload_without_its_file_field_is_422(client, auth, decided):
    response = client.post(
        "/api/v1/outcomes/import",
        data={"upload": (io.BytesIO(b"x"), "x.csv")},
        headers=auth("score"),
        content_type="multipart/form-data",
    )
    assert errors_of(response) == [{"field": "file", "message": "Missing data for required field."}]


def test_an_upload_that_is_not_multipart_is_415(client, auth, decided):
    response = client.post("/api/v1/outcomes/import", json=[exported()], headers=auth("score"))
    assert response.status_code == 415
    assert (
        response.get_json()["detail"]
        == "Send the body as multipart/form-data, not application/json."
    )


def test_an_upload_over_the_size_limit_is_413(make_app, make_key):
    content = office_workbook()
    app = make_app(MAX_CONTENT_LENGTH=len(content) // 2)
    headers = {"X-API-Key": make_key(app, "score")}
    response = upload(app.test_client(), headers, content, "tindak-lanjut.xlsx")
    assert (response.status_code, response.mimetype) == (413, PROBLEM_JSON)


def test_a_file_over_the_row_limit_is_422(make_app, make_key, profile):
    app = make_app(BATCH_MAX_ROWS=2)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "admin")}
    score_all(client, headers, profile, ("D-1", "D-2"))
    response = upload(client, headers, office_workbook(), "tindak-lanjut.xlsx")
    assert errors_of(response) == [
        {"field": "file", "message": "A batch holds at most 2 rows; split the file."}
    ]
    assert client.get("/api/v1/outcomes/1", headers=headers).status_code == 404


# --- the template ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_csv_template_is_the_header_row(client, auth, lang):
    response = client.get(f"/api/v1/outcomes/template?lang={lang}&format=csv", headers=auth("read"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="export-followups-{lang}.csv"'
    )
    assert response.data == ("\ufeff" + ";".join(OUTCOME_COLUMNS) + "\r\n").encode("utf-8")


@pytest.mark.parametrize(
    ("lang", "yes_no", "learned", "guide"),
    [
        (
            "id",
            '"Ya,Tidak"',
            '"Telepon,Kunjungan,Data kepabeanan (PEB),Laporan mandiri UKM"',
            "petunjuk",
        ),
        ("en", '"Yes,No"', '"Phone call,Visit,Customs data (PEB),SME self-report"', "instructions"),
    ],
)
def test_the_xlsx_template_in_each_language(client, auth, lang, yes_no, learned, guide):
    response = client.get(f"/api/v1/outcomes/template?lang={lang}", headers=auth("read"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == XLSX
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="export-followups-{lang}.xlsx"'
    )
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["followups", guide]
    sheet = book["followups"]
    assert [cell.value for cell in sheet[1]] == list(OUTCOME_COLUMNS)
    assert [v.formula1 for v in sheet.data_validations.dataValidation] == [yes_no, learned]
    assert book[guide].cell(4, 1).value == "sme_id"


def test_the_default_template_is_the_indonesian_workbook(client, auth):
    response = client.get("/api/v1/outcomes/template", headers=auth("read"))
    assert response.headers["Content-Type"] == XLSX
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="export-followups-id.xlsx"'
    )
    assert openpyxl.load_workbook(io.BytesIO(response.data)).sheetnames == [
        "followups",
        "petunjuk",
    ]


@pytest.mark.parametrize(
    ("query", "field"), [("lang=fr", "lang"), ("format=pdf", "format"), ("format=", "format")]
)
def test_an_unknown_template_language_or_format_is_422(client, auth, query, field):
    response = client.get(f"/api/v1/outcomes/template?{query}", headers=auth("read"))
    assert [e["field"] for e in errors_of(response)] == [field]


@pytest.mark.parametrize("lang", ["id", "en"])
def test_a_filled_in_xlsx_template_imports(client, auth, decided, lang):
    template = client.get(f"/api/v1/outcomes/template?lang={lang}", headers=auth("read")).data
    book = openpyxl.load_workbook(io.BytesIO(template))
    sheet = book["followups"]
    yes, no = ("Ya", "Tidak") if lang == "id" else ("Yes", "No")
    phone, visit = ("Telepon", "Kunjungan") if lang == "id" else ("Phone call", "Visit")
    rows = [
        ["D-1", dt.date(2026, 3, 14), yes, phone, dt.date(2025, 9, 1), "JP", 1500, 1, None],
        ["D-2", dt.date(2026, 3, 14), no, visit, None, None, None, None, "Belum"],
    ]
    for number, values in enumerate(rows, start=2):  # typed in under the header
        for column, value in enumerate(values, start=1):
            sheet.cell(number, column, value)
    buffer = io.BytesIO()
    book.save(buffer)
    summary = upload(client, auth("score"), buffer.getvalue(), f"isian-{lang}.xlsx").get_json()
    assert {k: summary[k] for k in ("received", "stored", "rejected", "errors", "skipped")} == {
        "received": 2,
        "stored": 2,
        "rejected": 0,
        "errors": [],
        "skipped": [],
    }
    first = client.get("/api/v1/outcomes/1", headers=auth("read")).get_json()
    assert (first["exported"], first["learned_via"], first["destination_markets"]) == (
        True,
        "phone_call",
        ["JP"],
    )


def test_a_filled_in_csv_template_imports(client, auth, decided):
    template = client.get("/api/v1/outcomes/template?lang=id&format=csv", headers=auth("read"))
    filled = template.data + b"D-3;14/03/2026;Tidak;Kunjungan;;;;;\r\n"
    summary = upload(client, auth("score"), filled, "isian.csv").get_json()
    assert (summary["received"], summary["stored"], summary["errors"]) == (1, 1, [])


# --- the worklist ------------------------------------------------------------------------------


def test_the_worklist_lists_supported_smes_due_a_followup(client, auth, profile):
    headers = auth("admin")
    score_all(client, headers, profile, ("W-1", "W-2", "W-3", "W-4"))
    today = office_today()
    seven, four = store.add_months(today, -7), store.add_months(today, -4)
    decisions = [
        {"sme_id": "W-1", "decision": "support", "support_kind": "trade_fair"},
        {"sme_id": "W-2", "decision": "support", "support_kind": "business_matching"},
        {"sme_id": "W-3", "decision": "support", "support_kind": "trade_fair"},
        {"sme_id": "W-4", "decision": "no_support", "reason": "Belum siap."},
    ]
    for decision, day in zip(decisions, (seven, four, seven, seven), strict=True):
        decision["decided_on"] = day.isoformat()
    client.post("/api/v1/decisions/bulk", json={"decisions": decisions}, headers=headers)
    early = store.add_months(seven, 1)
    on_time = store.add_months(four, 3) + dt.timedelta(days=1)
    for body in (
        not_exported("W-1", followup_date=early.isoformat()),  # W-1: asked too early
        not_exported("W-2", followup_date=on_time.isoformat()),  # W-2: asked at 3 months
        exported("W-3", followup_date=early.isoformat(), first_export_date=None),  # known
    ):
        assert client.post("/api/v1/outcomes", json=body, headers=headers).status_code == 201

    response = client.get("/api/v1/outcomes/worklist", headers=auth("read"))
    assert response.status_code == 200
    due = store.add_months(seven, 6)
    assert response.get_json() == {
        "as_of": today.isoformat(),
        "items": [
            {
                "sme_id": "W-1",
                "name": NAME,
                "decision_id": 1,
                "support_kind": "trade_fair",
                "decided_on": seven.isoformat(),
                "months": 6,
                "due_on": due.isoformat(),
                "days_overdue": (today - due).days,
                "last_followup_date": early.isoformat(),
            }
        ],
    }


def test_an_empty_worklist(client, auth):
    body = client.get("/api/v1/outcomes/worklist", headers=auth("read")).get_json()
    assert body == {"as_of": office_today().isoformat(), "items": []}


# --- the evaluation ----------------------------------------------------------------------------


def test_too_few_outcomes_give_counts_only(client, auth, decided):
    client.post("/api/v1/outcomes", json=exported(), headers=auth("score"))
    response = client.get("/api/v1/outcomes/evaluation", headers=auth("read"))
    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "decision": "support",
        "minimum_known": 30,
        "enough": False,
        "message": (
            "too few outcomes to judge: 1 known outcome(s), at least 30 needed; "
            "1 decision(s) still without a known outcome"
        ),
        "counts": {
            "all": {"decisions": 2, "known": 1, "censored": 1, "exported": 1, "not_exported": 0},
            "supported": {
                "decisions": 2,
                "known": 1,
                "censored": 1,
                "exported": 1,
                "not_exported": 0,
            },
            "not_supported": {
                "decisions": 1,
                "known": 0,
                "censored": 1,
                "exported": 0,
                "not_exported": 0,
            },
        },
        "by_tier": None,
        "by_score_band": None,
        "discrimination": None,
        "calibration": None,
        "supported_vs_not": None,
        "filters": {
            "cohort": None,
            "sector": None,
            "support_kind": None,
            "decided_from": None,
            "decided_until": None,
        },
    }


def cohort_profiles(profile: dict, n: int) -> list[dict]:
    """``n`` profiles whose facts (and so scores) differ: E-00 ... E-<n-1>."""
    out = []
    for i in range(n):
        out.append(
            {
                **profile,
                "sme_id": f"E-{i:02d}",
                "has_website": i % 2 == 0,
                "has_nib": i % 7 != 3,
                "trademark_registered": i % 3 == 0,
                "export_packaging": i % 4 < 2,
                "knows_incoterms": i % 5 < 3,
                "foreign_buyer_contacts": i % 6,
                "employees": 5 + 3 * i,
            }
        )
    return out


@pytest.fixture
def programme(client, auth, profile) -> dict:
    """40 SMEs scored in a batch; decided 400 days ago (E-00..E-31 supported, the rest
    not); followed up 370 days after for E-00..E-35, exporting when ``i % 3 == 0`` or
    ``i < 6``."""
    headers = auth("admin")
    response = client.post(
        "/api/v1/batches?cohort=kohort-e", json=cohort_profiles(profile, 40), headers=headers
    )
    assert response.get_json()["scored"] == 40
    decided_on = office_today() - dt.timedelta(days=400)
    decisions = [
        {"sme_id": f"E-{i:02d}", "decided_on": decided_on.isoformat()}
        | (
            {"decision": "support", "support_kind": ("trade_fair", "export_coaching")[i % 2]}
            if i < 32
            else {"decision": "no_support", "reason": "Kuota penuh."}
        )
        for i in range(40)
    ]
    response = client.post("/api/v1/decisions/bulk", json={"decisions": decisions}, headers=headers)
    assert response.status_code == 201
    followup_day = decided_on + dt.timedelta(days=370)
    first_export = decided_on + dt.timedelta(days=100)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["sme_id", "followup_date", "exported", "learned_via", "first_export_date"])
    exporters = {i for i in range(36) if i % 3 == 0 or i < 6}
    for i in range(36):
        yes = i in exporters
        writer.writerow(
            [
                f"E-{i:02d}",
                followup_day.strftime("%d/%m/%Y"),
                "Ya" if yes else "Tidak",
                "Telepon",
                first_export.strftime("%d/%m/%Y") if yes else "",
            ]
        )
    summary = upload(client, headers, out.getvalue().encode("utf-8-sig"), "e.csv").get_json()
    assert (summary["stored"], summary["rejected"]) == (36, 0), summary["errors"]
    return {"exporters": exporters, "decided_on": decided_on}


def test_enough_outcomes_give_every_figure(app, client, auth, programme, scorer):
    response = client.get("/api/v1/outcomes/evaluation", headers=auth("read"))
    assert response.status_code == 200
    body = response.get_json()
    supported_exporters = len([i for i in programme["exporters"] if i < 32])
    assert (body["enough"], body["message"], body["decision"]) == (True, None, "support")
    assert body["counts"] == {
        "all": {
            "decisions": 32,
            "known": 32,
            "censored": 0,
            "exported": supported_exporters,
            "not_exported": 32 - supported_exporters,
        },
        "supported": {
            "decisions": 32,
            "known": 32,
            "censored": 0,
            "exported": supported_exporters,
            "not_exported": 32 - supported_exporters,
        },
        "not_supported": {
            "decisions": 8,
            "known": 4,
            "censored": 4,
            "exported": 1,
            "not_exported": 3,
        },
    }
    tiers = [tier.id for tier in scorer.ruleset.tiers]
    assert [row["tier"] for row in body["by_tier"]] == tiers
    assert sum(row["n"] for row in body["by_tier"]) == 32
    assert sum(row["n"] for row in body["by_score_band"]) == 32
    assert sum(row["exported"] for row in body["by_tier"]) == supported_exporters
    assert body["calibration"]["base_rate"] == round(supported_exporters / 32, 4)
    assert body["discrimination"]["score"]["ci_low"] <= body["discrimination"]["score"]["auc"]
    assert body["supported_vs_not"]["note"] == ASSOCIATION_NOTE
    compared = body["supported_vs_not"]["bands"]
    assert sum(band["not_supported"]["n"] for band in compared) == 4
    with app.app_context():
        expected = outcome_service.evaluation(
            get_session(), store.DecisionFilter(), tiers=tiers, decision="support"
        )
    assert body == expected


def test_the_evaluation_filters_and_the_decision_kind(client, auth, programme):
    read = auth("read")
    every = client.get("/api/v1/outcomes/evaluation?decision=all", headers=read).get_json()
    assert (every["decision"], every["counts"]["all"]["decisions"], every["enough"]) == (
        None,
        40,
        True,
    )
    refused = client.get("/api/v1/outcomes/evaluation?decision=no_support", headers=read).get_json()
    assert (refused["counts"]["all"]["known"], refused["enough"]) == (4, False)
    day = programme["decided_on"].isoformat()
    query = (
        "support_kind=trade_fair&cohort=kohort-e&sector=apparel"
        f"&decided_from={day}&decided_until={day}"
    )
    kind = client.get(f"/api/v1/outcomes/evaluation?{query}", headers=read).get_json()
    assert kind["filters"] == {
        "cohort": "kohort-e",
        "sector": "apparel",
        "support_kind": "trade_fair",
        "decided_from": day,
        "decided_until": day,
    }
    assert (kind["counts"]["all"]["decisions"], kind["enough"]) == (16, False)
    later = client.get("/api/v1/outcomes/evaluation?decided_from=2999-01-01", headers=read)
    assert later.get_json()["counts"]["supported"]["decisions"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("decision=maybe", "decision"),
        ("decided_from=kemarin", "decided_from"),
        ("sector=x", "sector"),
    ],
)
def test_bad_evaluation_parameters_are_422(client, auth, query, field):
    response = client.get(f"/api/v1/outcomes/evaluation?{query}", headers=auth("read"))
    assert [e["field"] for e in errors_of(response)] == [field]


# --- keys and scopes ---------------------------------------------------------------------------

ROUTES = [
    ("post", "/api/v1/outcomes", "score", {"json": exported()}),
    ("get", "/api/v1/outcomes/1", "read", {}),
    (
        "put",
        "/api/v1/outcomes/1",
        "score",
        {"json": {k: v for k, v in exported().items() if k != "sme_id"}},
    ),
    ("delete", "/api/v1/outcomes/1", "score", {}),
    ("get", "/api/v1/smes/D-1/outcomes", "read", {}),
    ("post", "/api/v1/outcomes/import", "score", {"content_type": "multipart/form-data"}),
    ("get", "/api/v1/outcomes/template", "read", {}),
    ("get", "/api/v1/outcomes/worklist", "read", {}),
    ("get", "/api/v1/outcomes/evaluation", "read", {}),
]


@pytest.mark.parametrize(("method", "path", "scope", "kwargs"), ROUTES)
def test_every_operation_needs_a_key_with_its_scope(
    client, auth, decided, method, path, scope, kwargs
):
    call = getattr(client, method)
    if path.endswith("/import"):
        kwargs = {**kwargs, "data": lambda: {"file": (io.BytesIO(office_workbook()), "t.xlsx")}}

    def send(**headers):
        options = dict(kwargs)
        if "data" in options:
            options["data"] = options["data"]()
        return call(path, **options, **headers)

    client.post(
        "/api/v1/outcomes", json=exported(followup_date="2026-01-01"), headers=auth("score")
    )
    missing = send()
    assert missing.status_code == 401
    wrong = "read" if scope == "score" else "score"
    forbidden = send(headers=auth(wrong))
    assert forbidden.status_code == 403
    assert forbidden.get_json()["detail"] == f"This API key lacks the '{scope}' scope."
    assert send(headers=auth("admin")).status_code < 300


# --- the processing log, subject access and erasure --------------------------------------------


def test_every_followup_change_is_in_the_processing_log(client, auth, decided):
    headers = auth("score")
    client.post("/api/v1/outcomes", json=exported(), headers=headers)
    upload(client, headers, office_workbook(), "tindak-lanjut.xlsx")
    body = {k: v for k, v in not_exported().items() if k != "sme_id"}
    client.put("/api/v1/outcomes/1", json=body, headers=headers)
    client.delete("/api/v1/outcomes/2", headers=headers)
    log = client.get("/api/v1/processing-log?per_page=500", headers=auth("admin")).get_json()
    events = [
        (e["action"], e["actor"], e["subject"], e["details"])
        for e in reversed(log["items"])
        if e["action"].startswith("followup.")
    ]
    actor = key_actor(headers)
    file = "file:tindak-lanjut.xlsx"
    assert events == [
        (
            "followup.record",
            actor,
            "D-1",
            {"followup_id": 1, "followup_date": "2026-03-14", "exported": True, "source": "api"},
        ),
        (
            "followup.record",
            actor,
            "D-2",
            {"followup_id": 2, "followup_date": "2026-03-14", "exported": False, "source": file},
        ),
        (
            "followup.update",
            actor,
            "D-1",
            {"followup_id": 1, "followup_date": "2026-03-14", "exported": False},
        ),
        (
            "followup.delete",
            actor,
            "D-2",
            {"followup_id": 2, "followup_date": "2026-03-14", "exported": False},
        ),
    ]
    # The import's first row repeated the follow-up recorded through the API: not stored.
    assert all("Osaka" not in str(e) for e in log["items"])


def test_subject_access_holds_the_decisions_and_followups(client, auth, decided):
    client.post("/api/v1/outcomes", json=exported(), headers=auth("score"))
    response = client.get("/api/v1/smes/D-1/export", headers=auth("personal"))
    assert response.status_code == 200
    held = response.get_json()
    [decision] = held["decisions"]
    assert decision == {
        **decided[0],
        "exported_within_12m": 1,
        "label_basis": "exported_in_window",
        "profile": decision["profile"],
    }
    assert decision["profile"]["sme_id"] == "D-1" and "owner_name" not in decision["profile"]
    assert held["followups"] == [client.get("/api/v1/outcomes/1", headers=auth("read")).get_json()]
    actions = {e["action"] for e in held["processing_log"]}
    assert {"decision.record", "followup.record"} <= actions


def test_erasure_removes_the_smes_decisions_and_followups(client, auth, decided):
    client.post("/api/v1/outcomes", json=exported(), headers=auth("score"))
    assert client.delete("/api/v1/smes/D-1", headers=auth("admin")).status_code == 204
    read = auth("read")
    assert client.get("/api/v1/decisions/1", headers=read).status_code == 404
    assert client.get("/api/v1/outcomes/1", headers=read).status_code == 404
    assert client.get("/api/v1/decisions?sme_id=D-1", headers=read).get_json()["total"] == 0
    assert client.get("/api/v1/smes/D-1/outcomes", headers=read).status_code == 404
    assert [
        d["sme_id"] for d in client.get("/api/v1/decisions", headers=read).get_json()["items"]
    ] == [
        "D-3",
        "D-2",
    ]


# --- both databases ----------------------------------------------------------------------------


def test_outcomes_end_to_end_on_sqlite_and_postgresql(db_url, make_app, make_key, profile):
    app = make_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "admin")}
    score_all(client, headers, profile, ("D-1", "D-2", "D-3"))
    decisions = [
        {"sme_id": "D-1", "decision": "support", "support_kind": "trade_fair", "decided_on": DAY},
        {"sme_id": "D-2", "decision": "support", "support_kind": "trade_fair", "decided_on": DAY},
    ]
    assert (
        client.post(
            "/api/v1/decisions/bulk", json={"decisions": decisions}, headers=headers
        ).status_code
        == 201
    )
    first = upload(client, headers, office_workbook(), "tindak-lanjut.xlsx")
    assert first.status_code == 201
    summary = first.get_json()
    assert (summary["stored"], summary["errors"], summary["skipped"]) == (
        2,
        OFFICE_ERRORS,
        OFFICE_SKIPPED,
    )
    again = upload(client, headers, office_workbook(), "tindak-lanjut.xlsx").get_json()
    assert (again["stored"], again["already_recorded"]) == (0, 2)
    put = client.put(
        "/api/v1/outcomes/2",
        json={"followup_date": "2026-03-01", "exported": True, "learned_via": "customs_peb"},
        headers=headers,
    )
    assert put.get_json()["learned_via"] == "customs_peb"
    outcomes = client.get("/api/v1/smes/D-1/outcomes", headers=headers).get_json()
    assert [(d["exported_within_12m"], d["label_basis"]) for d in outcomes["decisions"]] == [
        (1, "exported_in_window")
    ]
    labels = {
        d["sme_id"]: d["exported_within_12m"]
        for d in client.get("/api/v1/decisions", headers=headers).get_json()["items"]
    }
    assert labels == {"D-1": 1, "D-2": 1}
    evaluation = client.get("/api/v1/outcomes/evaluation", headers=headers).get_json()
    assert (evaluation["enough"], evaluation["counts"]["all"]["known"]) == (False, 2)
    assert client.get("/api/v1/outcomes/worklist", headers=headers).get_json()["items"] == []
    assert client.delete("/api/v1/outcomes/1", headers=headers).status_code == 204
    template = client.get("/api/v1/outcomes/template?lang=en&format=xlsx", headers=headers)
    assert template.headers["Content-Type"] == XLSX


# --- the OpenAPI document ----------------------------------------------------------------------


def test_every_operation_is_in_the_openapi_document_with_its_scope(client):
    document = client.get("/api/openapi.json").get_json()
    scopes = {
        (method.upper(), path): operation["x-required-scope"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method != "parameters" and ("/decisions" in path or "/outcomes" in path)
    }
    assert scopes == {
        ("POST", "/api/v1/decisions"): "score",
        ("GET", "/api/v1/decisions"): "read",
        ("POST", "/api/v1/decisions/bulk"): "score",
        ("GET", "/api/v1/decisions/{decision_id}"): "read",
        ("PATCH", "/api/v1/decisions/{decision_id}"): "score",
        ("DELETE", "/api/v1/decisions/{decision_id}"): "score",
        ("POST", "/api/v1/outcomes"): "score",
        ("GET", "/api/v1/outcomes/{followup_id}"): "read",
        ("PUT", "/api/v1/outcomes/{followup_id}"): "score",
        ("DELETE", "/api/v1/outcomes/{followup_id}"): "score",
        ("GET", "/api/v1/smes/{sme_id}/outcomes"): "read",
        ("POST", "/api/v1/outcomes/import"): "score",
        ("GET", "/api/v1/outcomes/template"): "read",
        ("GET", "/api/v1/outcomes/worklist"): "read",
        ("GET", "/api/v1/outcomes/evaluation"): "read",
    }
    schemas = document["components"]["schemas"]
    evaluation = schemas["Evaluation"]
    assert "an association, not the effect of support" in evaluation["description"]
    comparison = evaluation["properties"]["supported_vs_not"]["description"]
    assert "an association, not the effect of support" in comparison
    figures = (
        "Evaluation",
        "EvaluationCounts",
        "Counts",
        "Rate",
        "TierRate",
        "BandRate",
        "Discrimination",
        "Auc",
        "Calibration",
        "CalibrationBand",
        "Comparison",
        "ComparisonBand",
        "EvaluationFilters",
    )
    assert [name for name in figures if not schemas[name].get("description")] == []
    undescribed = [
        f"{name}.{field}"
        for name in figures
        for field, spec in schemas[name]["properties"].items()
        if not spec.get("description")
    ]
    assert undescribed == []
    assert {"decisions", "followups"} <= set(schemas["SubjectAccess"]["required"])
    assert "profile" in schemas["HeldDecision"]["required"]
    for name in ("DecisionRequest", "DecisionChanges", "FollowUpRequest", "FollowUpReplacement"):
        assert schemas[name]["additionalProperties"] is False
