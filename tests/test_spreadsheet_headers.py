"""Headers as offices write them: Indonesian names and the staff pages' labels read as the
contract's columns, merged header cells and headers over two rows, blank rows skipped and
counted; every assumption told with the result of a batch, an outcome import, the web page
and the command line."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml
from openpyxl.styles import Border, Side
from web_helpers import csrf_token

from api.services import ingest
from api.services.batch_jobs import Worker
from api.services.outcome_files import read_outcome_file
from api.web.i18n import load_catalogues
from scoring.contract.fields import ALL_COLUMNS, LABEL
from scoring.contract.headers import (
    TABLE_COLUMNS,
    HeaderAliasError,
    header_aliases,
    load_header_aliases,
)
from scoring.contract.outcomes import OUTCOME_COLUMNS
from scoring.errors import FileFormatError
from scoring.files import merged
from scoring.files.layout import header_kind, is_header
from scoring.files.readers import iter_tables, read_table

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

HEADERS_FILE = Path(__file__).resolve().parents[1] / "scoring" / "labels" / "headers.yaml"
THIN = Border(bottom=Side(style="thin"))


# --- the table of header names --------------------------------------------------------------


def test_every_column_of_the_contract_has_an_indonesian_header_name():
    table = yaml.safe_load(HEADERS_FILE.read_text(encoding="utf-8"))
    columns = {"profile": (*ALL_COLUMNS, LABEL), "followup": OUTCOME_COLUMNS}
    assert columns == TABLE_COLUMNS
    for kind, names in columns.items():
        assert set(table[kind]) == set(names), kind
        for name in names:
            indonesian = table[kind][name]["id"]
            assert indonesian, (kind, name)
            assert {header_aliases().column(kind, text) for text in indonesian} == {name}


def test_the_staff_pages_labels_are_read_as_their_columns():
    """What the web form and the follow-up form call a field is a header files may give."""
    for lang, catalogue in load_catalogues().items():
        for name in ALL_COLUMNS:
            label = catalogue[f"field.{name}.label"]
            assert header_aliases().column("profile", label) == name, (lang, label)
        for name in OUTCOME_COLUMNS:
            label = catalogue[f"outcomes.field.{name}"]
            assert header_aliases().column("followup", label) == name, (lang, label)


@pytest.mark.parametrize(
    "written",
    [
        "Omzet Tahunan (Rp)",
        "omzet tahunan (rp.)",
        "OMZET_TAHUNAN_RP",
        "  Omzet   Tahunan-Rp ",
        "Omzet Tahunan\n(Rp)",
        "Omzet Tahunan (Rupiah)",  # a unit in brackets the table does not list
        "annual revenue (IDR)",
        "annual_revenue_idr",
    ],
)
def test_headers_match_whatever_the_case_spaces_and_punctuation(written):
    assert header_aliases().column("profile", written) == "annual_revenue_idr"


def test_a_name_is_read_by_the_kind_of_table_it_heads():
    aliases = header_aliases()
    assert aliases.column("profile", "Sudah Ekspor") == "has_exported"
    assert aliases.column("followup", "Sudah Ekspor") == "exported"
    assert aliases.column("profile", "Tanggal") is None


def test_a_header_name_meaning_two_columns_is_refused_when_the_table_is_loaded(tmp_path):
    path = tmp_path / "headers.yaml"
    path.write_text(
        "profile:\n"
        "  employees: {id: [Jumlah Karyawan, Karyawan], en: [Employees]}\n"
        "  english_capable_staff: {id: [karyawan], en: []}\n"
        "  name: {id: [has_nib]}\n"
        "followup:\n"
        "  exported: {id: [Karyawan]}\n",
        encoding="utf-8",
    )
    with pytest.raises(HeaderAliasError) as raised:
        load_header_aliases(path)
    assert str(raised.value) == (
        "headers.yaml: profile: 'karyawan' would mean both 'employees' and "
        "'english_capable_staff'; profile: 'has_nib' would mean both 'has_nib' and 'name'"
    )


def test_a_broken_header_table_names_every_problem(tmp_path):
    path = tmp_path / "headers.yaml"
    path.write_text(
        "profile:\n"
        "  employes: {id: [Karyawan]}\n"
        "  employees: {en: [Employees]}\n"
        "  name: {id: ['(-)']}\n"
        "invoice: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(HeaderAliasError) as raised:
        load_header_aliases(path)
    assert str(raised.value) == (
        "headers.yaml: unknown table kind 'invoice'; expected profile, followup; "
        "profile: 'employes' is not a column of a profile table; "
        "profile.employees: no Indonesian name; profile.name: '(-)' has no letter or digit"
    )


def test_a_header_row_written_in_indonesian_is_recognised():
    row = ["ID UMKM", "Nama UMKM", "Sektor", "Jumlah Karyawan", "Omzet Tahunan (Rp)"]
    assert is_header(row) and header_kind(row) == "profile"
    followup = ["ID UMKM", "Tgl Tindak Lanjut", "Sudah Ekspor", "Sumber Informasi"]
    assert header_kind(followup) == "followup"
    assert not is_header(["DAFTAR UMKM BINAAN", "Tahun 2026"])
    assert not is_header(["Nama UMKM", "Sektor", "Jumlah Karyawan"])  # no SME id


# --- profile files ----------------------------------------------------------------------------

TITLE = ["DAFTAR UMKM BINAAN DINAS KUKMPERINDAG KOTA BANDUNG"]
INDONESIAN = ["ID UMKM", "Nama UMKM", "Sektor", "Tahun Berdiri", "Jumlah Karyawan"]
INDONESIAN += ["Omzet Tahunan (Rp)", "Punya NIB", "NPWP"]
ROWS = [
    ["BDG-001", "Batik Sari", "Kerajinan", 2015, 12, "850.000.000", "Ya", "Ya"],
    ["BDG-002", "Kopi Lembang", "Kopi", 2018, 5, "120.000.000", "Ya", "Tidak"],
    ["BDG-003", "Rotan Jaya", "Mebel dan kayu", 2009, 30, "2.400.000.000", "Ya", "Ya"],
]
NOT_A_SECTOR = (
    "Unknown value 'Kopi'. Must be one of: apparel, textile, footwear_leather, "
    "jewelry_accessories, handicraft, furniture_wood, food_beverage, cosmetics_herbal, "
    "medical_devices, other."
)
ALIASES = [
    {"column": "A", "header": "ID UMKM", "field": "sme_id"},
    {"column": "B", "header": "Nama UMKM", "field": "name"},
    {"column": "C", "header": "Sektor", "field": "sector"},
    {"column": "D", "header": "Tahun Berdiri", "field": "year_established"},
    {"column": "E", "header": "Jumlah Karyawan", "field": "employees"},
    {"column": "F", "header": "Omzet Tahunan (Rp)", "field": "annual_revenue_idr"},
    {"column": "G", "header": "Punya NIB", "field": "has_nib"},
    {"column": "H", "header": "NPWP", "field": "has_npwp"},
]


def alias_notices(aliases: list[dict] = ALIASES) -> list[dict]:
    return [
        {
            "code": "column_alias",
            "message": f"column {a['column']} {a['header']!r} read as {a['field']}",
            **a,
        }
        for a in aliases
    ]


def blank_notice(count: int, text: str, runs: list[tuple[int, int]]) -> dict:
    return {
        "code": "blank_rows",
        "message": text,
        "count": count,
        "rows": [{"first": first, "last": last} for first, last in runs],
    }


def office_csv(*, header: list[str] = INDONESIAN) -> bytes:
    lines = [TITLE, ["Tahun 2026"], [], header, ROWS[0], [], ROWS[1], [";;;"], ROWS[2]]
    lines += [[None, "Jumlah", None, None, 47], [], []]
    text = "\n".join(";".join("" if c is None else str(c) for c in line) for line in lines)
    return ("\ufeff" + text + "\n").encode("utf-8")


def test_a_csv_with_indonesian_headers_and_blank_rows_through_the_upload_service():
    intake = ingest.read_file(io.BytesIO(office_csv()), filename="umkm.csv", max_rows=100)
    assert (intake.received, intake.scored, len(intake.errors)) == (3, 2, 1)
    assert intake.errors[0].to_dict() == {
        "row": 7,
        "sme_id": "BDG-002",
        "errors": [{"field": "sector", "message": NOT_A_SECTOR, "column": "C", "value": "Kopi"}],
    }
    assert [row.to_dict() for row in intake.skipped] == [{"row": 10, "reason": "total row"}]
    assert [notice.to_dict() for notice in intake.notices] == [
        {
            "code": "header_row",
            "message": "the header was found in row 4; rows above it are not read",
            "row": 4,
            "last_row": 4,
        },
        *alias_notices(),
        blank_notice(4, "4 blank rows skipped: rows 6, 8, 11, 12", [(6, 6), (8, 8), (11, 12)]),
    ]
    assert intake.chunks[0].profiles["sector"].tolist() == ["handicraft", "furniture_wood"]


def test_blank_rows_are_counted_across_chunks():
    data = office_csv()
    tables = list(iter_tables(io.BytesIO(data), filename="umkm.csv", chunk_rows=2))
    assert [t.source_rows().tolist() for t in tables] == [[5], [7], [9, 10], []]
    blank = [[n.message for n in t.notices if n.code == "blank_rows"] for t in tables]
    assert blank == [
        ["1 blank row skipped: row 6"],
        ["1 blank row skipped: row 8"],
        [],
        ["2 blank rows skipped: rows 11, 12"],
    ]
    whole = read_table(io.BytesIO(data), filename="umkm.csv")
    assert whole.notices[-1].message == "4 blank rows skipped: rows 6, 8, 11, 12"


def test_two_headers_naming_one_column_are_refused_naming_both():
    header = [*INDONESIAN, "employees"]
    with pytest.raises(FileFormatError) as raised:
        read_table(io.BytesIO(office_csv(header=header)), filename="umkm.csv")
    assert str(raised.value) == (
        "umkm.csv: duplicate column(s): 'Jumlah Karyawan' and 'employees' both mean "
        "'employees'; each column must appear once"
    )


def test_a_header_not_recognised_keeps_the_contracts_spelling_only():
    """A first row taken as the header for want of a better one is not read by office
    names: its cells name nothing the file could be checked against."""
    table = read_table(b"id;Nama\nA1;B\n", filename="a.csv")
    assert list(table.frame.columns) == ["id", "nama"]
    assert table.notices == []


# --- merged header cells in XLSX --------------------------------------------------------------


def office_workbook() -> bytes:
    """A letterhead merged across the sheet, a header over rows 4 and 5 (merged "ID UMKM",
    "Omzet", "Tahun Berdiri" and "Jenis Kelamin" cells over both rows; "Profil Usaha" and
    "Legalitas" as group titles over the names in row 5), blank rows between the data,
    a totals row, a signature and two bordered empty rows at the end."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([*TITLE, *[None] * 8])
    sheet.append(["Tahun 2026"])
    sheet.append([])
    sheet.append(["ID UMKM", "Profil Usaha", None, None, "Legalitas", None])
    sheet["G4"], sheet["H4"], sheet["I4"] = "Omzet Tahunan (Rp)", "Tahun Berdiri", "Jenis Kelamin"
    sheet.append([None, "Nama UMKM", "Sektor", "Jumlah Karyawan", "Punya NIB", "NPWP"])
    for number, row in zip((6, 8, 9), ROWS, strict=True):
        sme_id, name, sector, year, employees, revenue, nib, npwp = row
        values = [sme_id, name, sector, employees, nib, npwp, revenue, year, "Perempuan"]
        for column, value in enumerate(values, 1):
            sheet.cell(number, column, value)
    sheet["B12"], sheet["D12"], sheet["G12"] = "Jumlah", 47, 3_370_000_000
    sheet["B13"] = "Bandung, 3 Desember 2026"
    for number in (14, 15):
        sheet.cell(number, 2).border = THIN
    for cells in ("A1:I1", "A4:A5", "B4:D4", "E4:F4", "G4:G5", "H4:H5", "I4:I5"):
        sheet.merge_cells(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


MERGED_NOTICES = [
    {
        "code": "header_row",
        "message": "the header was found in rows 4 to 5 (read together); rows above it are "
        "not read",
        "row": 4,
        "last_row": 5,
    },
    {
        "code": "merged_header",
        "message": "merged cell A4:A5 'ID UMKM' read as the header of column A",
        "cells": "A4:A5",
        "header": "ID UMKM",
        "columns": "A",
    },
    {
        "code": "merged_group",
        "message": "merged cell B4:D4 'Profil Usaha' taken as a group title over columns B-D, "
        "named in row 5",
        "cells": "B4:D4",
        "header": "Profil Usaha",
        "columns": "B-D",
        "row": 5,
    },
    {
        "code": "merged_group",
        "message": "merged cell E4:F4 'Legalitas' taken as a group title over columns E-F, "
        "named in row 5",
        "cells": "E4:F4",
        "header": "Legalitas",
        "columns": "E-F",
        "row": 5,
    },
    {
        "code": "merged_header",
        "message": "merged cell G4:G5 'Omzet Tahunan (Rp)' read as the header of column G",
        "cells": "G4:G5",
        "header": "Omzet Tahunan (Rp)",
        "columns": "G",
    },
    {
        "code": "merged_header",
        "message": "merged cell H4:H5 'Tahun Berdiri' read as the header of column H",
        "cells": "H4:H5",
        "header": "Tahun Berdiri",
        "columns": "H",
    },
    {
        "code": "merged_header",
        "message": "merged cell I4:I5 'Jenis Kelamin' read as the header of column I",
        "cells": "I4:I5",
        "header": "Jenis Kelamin",
        "columns": "I",
    },
    *alias_notices(
        [
            {"column": "A", "header": "ID UMKM", "field": "sme_id"},
            {"column": "B", "header": "Nama UMKM", "field": "name"},
            {"column": "C", "header": "Sektor", "field": "sector"},
            {"column": "D", "header": "Jumlah Karyawan", "field": "employees"},
            {"column": "E", "header": "Punya NIB", "field": "has_nib"},
            {"column": "F", "header": "NPWP", "field": "has_npwp"},
            {"column": "G", "header": "Omzet Tahunan (Rp)", "field": "annual_revenue_idr"},
            {"column": "H", "header": "Tahun Berdiri", "field": "year_established"},
            {"column": "I", "header": "Jenis Kelamin", "field": "owner_gender"},
        ]
    ),
    blank_notice(5, "5 blank rows skipped: rows 7, 10, 11, 14, 15", [(7, 7), (10, 11), (14, 15)]),
]


def upload(client, headers, content: bytes, filename: str):
    data = {"file": (io.BytesIO(content), filename)}
    return client.post(
        "/api/v1/batches", data=data, headers=headers, content_type="multipart/form-data"
    )


def test_a_workbook_with_merged_two_row_headers_through_the_api(app, make_key):
    headers = {"X-API-Key": make_key(app, "score", "personal", "read")}
    client = app.test_client()
    response = upload(client, headers, office_workbook(), "umkm.xlsx")
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    assert (batch["received"], batch["scored"], batch["rejected"]) == (3, 2, 1)
    assert [(e["row"], e["sme_id"]) for e in batch["errors"]] == [(8, "BDG-002")]
    assert batch["errors"][0]["errors"] == [{"field": "sector", "message": NOT_A_SECTOR}]
    assert batch["skipped"] == [
        {"row": 12, "reason": "total row"},
        {"row": 13, "reason": "note or signature row"},
    ]
    assert batch["notices"] == MERGED_NOTICES
    again = client.get(f"/api/v1/batches/{batch['id']}", headers=headers).get_json()
    assert (again["skipped"], again["notices"]) == (batch["skipped"], MERGED_NOTICES)
    results = client.get(f"/api/v1/batches/{batch['id']}/results", headers=headers).get_json()
    assert [r["sme_id"] for r in results["results"]] == ["BDG-001", "BDG-003"]


def test_a_queued_workbook_tells_the_same(make_app, make_key, tmp_path):
    app = make_app(
        BATCH_BACKGROUND_BYTES=200,
        BATCH_BACKGROUND_ROWS=1,
        BATCH_STAGING_DIR=str(tmp_path / "staging"),
    )
    headers = {"X-API-Key": make_key(app, "score", "personal", "read")}
    client = app.test_client()
    response = upload(client, headers, office_workbook(), "umkm.xlsx")
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["notices"] == []
    assert Worker(app).run_once() == response.get_json()["id"]
    batch = client.get(f"/api/v1/batches/{response.get_json()['id']}", headers=headers).get_json()
    assert (batch["status"], batch["received"], batch["scored"]) == ("complete", 3, 2)
    assert batch["notices"] == MERGED_NOTICES


def test_a_header_cell_merged_over_two_rows_above_sub_headers():
    """Row 1 holds only "ID UMKM" (merged A1:A2) and a group title; the names are in row 2."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ID UMKM", "Profil Usaha", None, None, "Keuangan"])
    sheet.append([None, "Nama UMKM", "Sektor", "Tahun Berdiri", "Omzet"])
    sheet.append(["BDG-001", "Batik Sari", "apparel", 2015, 1000])
    sheet.merge_cells("A1:A2")
    sheet.merge_cells("B1:D1")
    out = io.BytesIO()
    book.save(out)
    table = read_table(out.getvalue(), filename="u.xlsx")
    assert list(table.frame.columns) == [
        "sme_id",
        "name",
        "sector",
        "year_established",
        "annual_revenue_idr",
    ]
    assert table.header_row == 2 and table.source_rows().tolist() == [3]
    assert [n.message for n in table.notices[:3]] == [
        "the header was found in row 2; rows above it are not read",
        "merged cell A1:A2 'ID UMKM' read as the header of column A",
        "merged cell B1:D1 'Profil Usaha' taken as a group title over columns B-D, named in row 2",
    ]


def test_merged_ranges_are_found_in_the_sheet_xml_read_in_pieces(monkeypatch):
    """Ranges split between two pieces, with a namespace prefix, are found once each; only
    those beginning in the rows asked for are kept."""
    refs = [f"B{row}:D{row}" for row in range(1, 400)]
    xml = "<x:worksheet><x:sheetData/><x:mergeCells>"
    xml += "".join(f'<x:mergeCell ref="{ref}"/>' for ref in refs) + "</x:mergeCells></x:worksheet>"
    archive_bytes = io.BytesIO()
    with zipfile.ZipFile(archive_bytes, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", xml)
    monkeypatch.setattr(merged, "_PIECE_BYTES", 97)
    monkeypatch.setattr(merged, "_OVERLAP_BYTES", 60)
    with zipfile.ZipFile(archive_bytes) as archive:
        found = merged.merged_ranges(archive, "xl/worksheets/sheet1.xml", max_row=20, max_col=9)
    assert [m.ref for m in found] == refs[:20]


def test_a_value_under_a_merged_group_title_without_a_name_says_where():
    """A column under a group title whose own header cell is empty cannot be read: the
    message names the column, the row and what was expected."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ID UMKM", "Nama UMKM", "Sektor", "Omzet", "Legalitas", None])
    sheet.append([None, None, None, None, "Punya NIB", None])
    sheet.append(["BDG-001", "Batik Sari", "apparel", 1000, "Ya", "Ya"])
    for cells in ("A1:A2", "B1:B2", "C1:C2", "D1:D2", "E1:F1"):
        sheet.merge_cells(cells)
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(FileFormatError) as raised:
        read_table(out.getvalue(), filename="u.xlsx")
    assert str(raised.value) == (
        "u.xlsx: column F has a value in row 3 but no header; give the column a name or delete it"
    )
    assert (raised.value.code, raised.value.params) == ("no_header", {"column": "F", "row": 3})


# --- follow-up files --------------------------------------------------------------------------

FOLLOWUP_HEADER = ["ID UMKM", "Tgl Tindak Lanjut", "Sudah Ekspor", "Sumber Informasi"]
FOLLOWUP_HEADER += ["Nilai Ekspor (USD)", "Keterangan"]


def test_a_follow_up_file_with_indonesian_headers_and_blank_rows():
    lines = [
        ["Rekap tindak lanjut ekspor 2026"],
        [],
        FOLLOWUP_HEADER,
        ["D-1", "16/06/2026", "Ya", "Telepon", "12.500", "Pembeli Osaka"],
        [],
        ["D-2", "16/06/2026", "Tidak", "Kunjungan", "", ""],
        ["Jumlah", "", "", "", "12.500", ""],
        [],
    ]
    text = "\n".join(";".join(line) for line in lines) + "\n"
    rows = read_outcome_file(
        io.BytesIO(text.encode()), filename="rekap.csv", today=dt.date(2026, 12, 3), max_rows=10
    )
    assert [(r["row"], r["sme_id"], r["exported"]) for r in rows.records] == [
        (4, "D-1", True),
        (6, "D-2", False),
    ]
    assert rows.records[0]["export_value_usd"] == 12500.0
    assert rows.errors == [] and rows.skipped == [{"row": 7, "reason": "total row"}]
    followup_aliases = [
        {"column": "A", "header": "ID UMKM", "field": "sme_id"},
        {"column": "B", "header": "Tgl Tindak Lanjut", "field": "followup_date"},
        {"column": "C", "header": "Sudah Ekspor", "field": "exported"},
        {"column": "D", "header": "Sumber Informasi", "field": "learned_via"},
        {"column": "E", "header": "Nilai Ekspor (USD)", "field": "export_value_usd"},
        {"column": "F", "header": "Keterangan", "field": "note"},
    ]
    assert rows.notices == [
        {
            "code": "header_row",
            "message": "the header was found in row 3; rows above it are not read",
            "row": 3,
            "last_row": 3,
        },
        *alias_notices(followup_aliases),
        blank_notice(2, "2 blank rows skipped: rows 5, 8", [(5, 5), (8, 8)]),
    ]


# --- the web page and the command line --------------------------------------------------------


def _page_text(response) -> str:
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(text).split())


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "id",
            [
                "Baris diterima 3 Dinilai 2 Ditolak 1 Dilewati 2",
                "Cara berkas dibaca Judul kolom ditemukan di baris 4 sampai 5, dibaca bersama; "
                "baris di atasnya tidak dibaca.",
                "Sel gabungan A4:A5 “ID UMKM” dibaca sebagai nama kolom A.",
                "Sel gabungan B4:D4 “Profil Usaha” dianggap judul kelompok di atas kolom B-D, "
                "yang namanya ada di baris 5.",
                "Kolom D “Jumlah Karyawan” dibaca sebagai employees (Jumlah pekerja).",
                "5 baris kosong dilewati: baris 7, 10, 11, 14, 15.",
            ],
        ),
        (
            "en",
            [
                "Rows received 3 Scored 2 Rejected 1 Skipped 2",
                "How the file was read The column names were found in rows 4 to 5, read "
                "together; the rows above them were not read.",
                "Merged cell A4:A5 “ID UMKM” was read as the name of column A.",
                "Merged cell B4:D4 “Profil Usaha” was taken as a group title over columns B-D, "
                "named in row 5.",
                "Column D “Jumlah Karyawan” was read as employees (Employees).",
                "5 blank rows skipped: rows 7, 10, 11, 14, 15.",
            ],
        ),
    ],
)
def test_the_batch_page_tells_how_the_file_was_read(login, lang, expected):
    client = login("lead")
    token = csrf_token(client, "/batches")
    assert client.post("/language", data={"lang": lang, "csrf_token": token}).status_code == 302
    data = {
        "file": (io.BytesIO(office_workbook()), "umkm.xlsx"),
        "csrf_token": csrf_token(client, "/batches"),
    }
    response = client.post("/batches", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, _page_text(response)
    page = _page_text(client.get(response.headers["Location"]))
    for text in expected:
        assert text in page, (text, page)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            [
                "the header was found in row 4; rows above it are not read",
                *(notice["message"] for notice in alias_notices()),
                "4 blank rows skipped: rows 6, 8, 11, 12",
                "skipped 1 non-data rows: 10",
                "received 3, scored 2, rejected 1",
            ],
        ),
        (
            "id",
            [
                "Judul kolom ditemukan di baris 4; baris di atasnya tidak dibaca.",
                "Kolom A “ID UMKM” dibaca sebagai sme_id (ID UMKM).",
                "Kolom B “Nama UMKM” dibaca sebagai name (Nama usaha).",
                "Kolom C “Sektor” dibaca sebagai sector (Sektor).",
                "Kolom D “Tahun Berdiri” dibaca sebagai year_established (Tahun berdiri).",
                "Kolom E “Jumlah Karyawan” dibaca sebagai employees (Jumlah pekerja).",
                "Kolom F “Omzet Tahunan (Rp)” dibaca sebagai annual_revenue_idr "
                "(Omzet tahunan (Rp)).",
                "Kolom G “Punya NIB” dibaca sebagai has_nib (Memiliki NIB).",
                "Kolom H “NPWP” dibaca sebagai has_npwp (Memiliki NPWP).",
                "4 baris kosong dilewati: baris 6, 8, 11, 12.",
                "1 baris bukan data dilewati: 10",
                "diterima 3, dinilai 2, ditolak 1",
            ],
        ),
    ],
)
def test_the_command_line_tells_how_the_file_was_read(tmp_path, lang, expected):
    from click.testing import CliRunner

    from api.cli import main

    path = tmp_path / "umkm.csv"
    path.write_bytes(office_csv())
    result = CliRunner().invoke(main, ["score", str(path), "--lang", lang])
    assert result.exit_code == 3, result.stderr
    assert result.stderr.splitlines()[-len(expected) :] == expected
