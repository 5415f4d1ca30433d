"""An office spreadsheet uploaded on the web page and through the API: title rows above the
header and totals, notes and signatures below the data are skipped and reported; row
errors name the field's label, the cell and the value; file errors are in the page language."""

from __future__ import annotations

import html
import io
import re

import openpyxl
import pytest
from web_helpers import csrf_token

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

HEADER = ["sme_id", "name", "sector", "year_established", "employees"]
HEADER += ["annual_revenue_idr", "has_nib", "has_npwp", "owner_gender"]
ROWS = [
    ["DAFTAR UMKM BINAAN DINAS KUKMPERINDAG KOTA BANDUNG"],
    ["Tahun 2026"],
    [],
    HEADER,
    ["BDG-001", "Batik Sari", "apparel", 2015, 12, 850_000_000, "Ya", "Ya", None],
    ["BDG-002", "Kopi Lembang", "Kopi", 2018, 5, 120_000_000, "Ya", "Tidak", "Pratiwi"],
    [],
    [None, "Jumlah", None, None, 17, 970_000_000],
    [None, "Bandung, 3 Desember 2026"],
    [None, "Kepala Dinas"],
]


def xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(client, content: bytes, filename: str = "umkm.xlsx"):
    data = {"file": (io.BytesIO(content), filename), "csrf_token": csrf_token(client, "/batches")}
    return client.post("/batches", data=data, content_type="multipart/form-data")


def _page_text(response) -> str:
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(text).split())


def _set_language(client, lang: str) -> None:
    token = csrf_token(client, "/batches")
    assert client.post("/language", data={"lang": lang, "csrf_token": token}).status_code == 302


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "id",
            [
                "Baris diterima 2 Dinilai 1 Ditolak 1 Dilewati 3",
                "6 BDG-002 Sektor (kolom C, isian “Kopi”): 'Kopi' tidak diperbolehkan.",
                "Jenis kelamin pemilik (kolom I): Isian ini tidak diperbolehkan "
                "(tidak ditampilkan: data pribadi).",
                "Baris yang dilewati (bukan profil, tidak dihitung sebagai diterima) "
                "Baris 8: baris jumlah Baris 9: baris catatan atau tanda tangan "
                "Baris 10: baris catatan atau tanda tangan",
            ],
        ),
        (
            "en",
            [
                "Rows received 2 Scored 1 Rejected 1 Skipped 3",
                "6 BDG-002 Sector (column C, value “Kopi”): 'Kopi' is not allowed.",
                "Owner's gender (column I): This value is not allowed (not shown: personal data).",
                "Skipped rows (no profiles, not counted as received) Row 8: total row "
                "Row 9: note or signature row Row 10: note or signature row",
            ],
        ),
    ],
)
def test_the_batch_page_shows_cells_labels_and_skipped_rows(login, lang, expected):
    client = login("lead")
    _set_language(client, lang)
    response = _upload(client, xlsx(ROWS))
    assert response.status_code == 302, _page_text(response)
    page = _page_text(client.get(response.headers["Location"]))
    for text in expected:
        assert text in page, (text, page)
    assert "Pratiwi" not in page


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "id",
            "Berkas tidak dapat dibaca sebagai tabel profil: kolom J berisi nilai di baris 6 "
            "tetapi tidak punya judul kolom; beri nama kolom itu atau hapus.",
        ),
        (
            "en",
            "The file cannot be read as a table of profiles: column J has a value in row 6 "
            "but no header; give the column a name or delete it.",
        ),
    ],
)
def test_a_file_error_is_told_in_the_page_language(login, lang, expected):
    client = login("lead")
    _set_language(client, lang)
    rows = [*ROWS[:5], [*ROWS[5], "catatan"]]
    response = _upload(client, xlsx(rows))
    assert response.status_code == 422
    assert expected in _page_text(response)


def test_the_api_result_lists_skipped_rows_and_notices(app, make_key):
    headers = {"X-API-Key": make_key(app, "score", "personal", "read")}
    data = {"file": (io.BytesIO(xlsx(ROWS)), "umkm.xlsx")}
    client = app.test_client()
    response = client.post(
        "/api/v1/batches", data=data, headers=headers, content_type="multipart/form-data"
    )
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    assert (batch["received"], batch["scored"], batch["rejected"]) == (2, 1, 1)
    assert batch["skipped"] == [
        {"row": 8, "reason": "total row"},
        {"row": 9, "reason": "note or signature row"},
        {"row": 10, "reason": "note or signature row"},
    ]
    assert batch["errors"][0]["errors"][0] == {
        "field": "sector",
        "message": "Unknown value 'Kopi'. Must be one of: apparel, textile, footwear_leather, "
        "jewelry_accessories, handicraft, furniture_wood, food_beverage, cosmetics_herbal, "
        "medical_devices, other.",
    }
    assert batch["notices"] == [
        {
            "code": "header_row",
            "message": "the header was found in row 4; rows above it are not read",
            "row": 4,
            "last_row": 4,
        },
        {
            "code": "blank_rows",
            "message": "1 blank row skipped: row 7",
            "count": 1,
            "rows": [{"first": 7, "last": 7}],
        },
    ]
    again = client.get(f"/api/v1/batches/{batch['id']}", headers=headers).get_json()
    assert (again["skipped"], again["notices"]) == (batch["skipped"], batch["notices"])


def test_the_cli_says_which_non_data_rows_it_skipped(tmp_path):
    from click.testing import CliRunner

    from api.cli import main

    path = tmp_path / "umkm.xlsx"
    path.write_bytes(xlsx([*ROWS[:5], *ROWS[6:]]))
    result = CliRunner().invoke(main, ["score", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-2:] == [
        "skipped 3 non-data rows: 7, 8, 9",
        "received 1, scored 1, rejected 0",
    ]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "id",
            "Berkas tidak dapat dibaca sebagai tabel profil: isinya tidak dapat dibaca "
            "(rincian teknis, dalam bahasa Inggris: cohort.csv: the file is UTF-16 text; "
            "save it as UTF-8 (CSV UTF-8))",
        ),
        (
            "en",
            "The file cannot be read as a table of profiles: cohort.csv: the file is UTF-16 "
            "text; save it as UTF-8 (CSV UTF-8)",
        ),
    ],
)
def test_a_file_error_without_a_code_is_a_technical_detail_said_to_be_english(
    login, lang, expected
):
    client = login("lead")
    _set_language(client, lang)
    upload = {
        "file": (io.BytesIO("sme_id;name\nA;B\n".encode("utf-16")), "cohort.csv"),
        "csrf_token": csrf_token(client, "/batches"),
    }
    response = client.post("/batches", data=upload, content_type="multipart/form-data")
    assert response.status_code == 422
    assert expected in _page_text(response)


def test_rescore_says_how_many_non_data_rows_it_skipped(tmp_path):
    from click.testing import CliRunner

    from api.cli import main

    path = tmp_path / "umkm.xlsx"
    path.write_bytes(xlsx([*ROWS[:5], *ROWS[6:]]))
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        main, ["rescore", str(path), "--out", str(out), "--quiet"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-2:] == [
        "skipped 3 non-data rows (totals, notes, signatures)",
        f"received 1, scored 1, rejected 0; wrote {out}",
    ]
