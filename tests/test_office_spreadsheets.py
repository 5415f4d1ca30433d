"""Spreadsheets as offices save them: XLSX written by openpyxl with text and number cells,
title rows, totals and signatures, labels of the web form, Rp, %, dotted HS codes, dates."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml

from scoring.batch.rescore import rescore
from scoring.contract import fields as F
from scoring.contract.schema import validate_profile
from scoring.contract.seen_ids import SeenIds
from scoring.contract.validate import validate_records, validate_table
from scoring.errors import FileFormatError
from scoring.files.readers import iter_tables, read_table

HEADER = [
    "sme_id",
    "name",
    "sector",
    "year_established",
    "employees",
    "annual_revenue_idr",
    "has_nib",
    "has_npwp",
]
ROW = ["BDG-001", "Batik Sari", "apparel", 2015, 12, 850_000_000, "Ya", "Ya"]


def workbook(path: Path, rows: list[list], *, text_cells: bool = True) -> Path:
    """An XLSX file; str values become text cells (data_type 's'), numbers number cells."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                assert cell.data_type == "s"
    book.save(path)
    return path


def sheet_with(path: Path, **values) -> Path:
    """One profile row, ``values`` in extra (or replaced) columns."""
    header = HEADER + [k for k in values if k not in HEADER]
    base = dict(zip(HEADER, ROW, strict=True))
    row = [values.get(name, base.get(name)) for name in header]
    return workbook(path, [header, row])


def validated(path: Path):
    return validate_table(read_table(path))


# --- 1. text numbers in XLSX follow the Indonesian rules -----------------------------------


@pytest.mark.parametrize(
    ("field", "text", "expected", "ambiguous"),
    [
        ("monthly_capacity_units", "3.000", 3000.0, True),
        ("monthly_capacity_units", "20.000", 20000.0, True),
        ("export_value_usd_last_year", "12.500", 12500.0, True),
        ("annual_revenue_idr", "679.848.000", 679_848_000.0, False),
        ("annual_revenue_idr", "2.400.000.000", 2_400_000_000.0, False),
        ("annual_revenue_idr", "1.850.000.000,00", 1_850_000_000.0, False),
        ("capacity_utilization", "0,8", 0.8, False),
        ("capacity_utilization", "0.8", 0.8, False),
        ("export_value_usd_last_year", "1234.5", 1234.5, False),
        ("monthly_capacity_units", "3000", 3000.0, False),
    ],
)
def test_xlsx_text_numbers_follow_the_indonesian_rules(tmp_path, field, text, expected, ambiguous):
    batch = validated(sheet_with(tmp_path / "c.xlsx", **{field: text}))
    assert batch.errors == []
    assert batch.profiles[field].iloc[0] == expected
    assert bool(batch.assumed[field].iloc[0]) is ambiguous


def test_xlsx_number_cells_are_read_as_numbers_and_never_flagged(tmp_path):
    path = sheet_with(tmp_path / "c.xlsx", monthly_capacity_units=3000, capacity_utilization=0.8)
    batch = validated(path)
    assert batch.profiles["monthly_capacity_units"].iloc[0] == 3000
    assert batch.profiles["capacity_utilization"].iloc[0] == 0.8
    assert not batch.assumed[["monthly_capacity_units", "capacity_utilization"]].any(axis=None)


def test_ambiguous_xlsx_number_is_listed_in_the_score_assumed(tmp_path, scorer):
    batch = validated(sheet_with(tmp_path / "c.xlsx", export_value_usd_last_year="12.500"))
    record = scorer.score(batch.profiles, assumed=batch.assumed).to_records()[0]
    assert "export_value_usd_last_year" in record["assumed"]
    assert record["assumed"][-1] == "export_value_usd_last_year"


# --- 2. duplicate sme_ids ------------------------------------------------------------------

DUPLICATE = "Duplicate sme_id: row {row} of this file has the same sme_id; only that row is kept."


def test_duplicate_sme_ids_after_trimming_are_rejected_naming_the_first_row(tmp_path):
    rows = [HEADER, ROW, ["BDG-002", *ROW[1:]], [" BDG-001 ", *ROW[1:]], ["BDG-001", *ROW[1:]]]
    batch = validated(workbook(tmp_path / "c.xlsx", rows))
    assert batch.profiles["sme_id"].tolist() == ["BDG-001", "BDG-002"]
    assert [e.to_dict() for e in batch.errors] == [
        {
            "row": r,
            "sme_id": "BDG-001",
            "errors": [
                {
                    "field": "sme_id",
                    "message": DUPLICATE.format(row=2),
                    "column": "A",
                    "value": "BDG-001",
                }
            ],
        }
        for r in (4, 5)
    ]
    assert batch.received == batch.scored + batch.rejected == 4


def test_duplicates_across_chunks_are_caught_with_one_set_of_ids(tmp_path):
    text = "sme_id;name;sector;year_established;employees;annual_revenue_idr;has_nib;has_npwp\n"
    for sme_id in ("A", "B", "C", "A", "D", "B"):
        text += f"{sme_id};Batik;apparel;2015;3;1.000.000;Ya;Ya\n"
    path = tmp_path / "c.csv"
    path.write_text(text, encoding="utf-8")
    batches = [validate_table(raw) for raw in iter_tables(path, chunk_rows=2)]
    assert [b.profiles["sme_id"].tolist() for b in batches] == [["A", "B"], ["C"], ["D"]]
    errors = [e.to_dict() for b in batches for e in b.errors]
    assert [(e["row"], e["errors"][0]["message"]) for e in errors] == [
        (5, DUPLICATE.format(row=2)),
        (7, DUPLICATE.format(row=3)),
    ]


def test_ids_of_skipped_chunks_can_be_remembered(tmp_path):
    text = "sme_id;name;sector;year_established;employees;annual_revenue_idr;has_nib;has_npwp\n"
    for sme_id in ("A", "B", "A"):
        text += f"{sme_id};Batik;apparel;2015;3;1.000.000;Ya;Ya\n"
    first, second = iter_tables(text.encode(), filename="c.csv", chunk_rows=2)
    seen = SeenIds()
    seen.remember(first)
    batch = validate_table(second, seen_ids=seen)
    assert [(e.row, e.errors[0]["message"]) for e in batch.errors] == [(4, DUPLICATE.format(row=2))]


def test_duplicates_in_a_json_array_are_rejected():
    base = dict(zip(HEADER, ROW, strict=True))
    batch = validate_records([base, {**base, "sme_id": "X"}, base])
    assert [(e.row, e.errors) for e in batch.errors] == [
        (3, [{"field": "sme_id", "message": DUPLICATE.format(row=1)}])
    ]
    assert batch.scored == 2


def test_rescore_rejects_duplicates_across_chunks_also_after_resume(scorer, tmp_path):
    text = "sme_id;name;sector;year_established;employees;annual_revenue_idr;has_nib;has_npwp\n"
    for sme_id in ("A", "B", "C", "D", "A", "E"):
        text += f"{sme_id};Batik;apparel;2015;3;1.000.000;Ya;Ya\n"
    source = tmp_path / "in.csv"
    source.write_text(text, encoding="utf-8")

    class Killed(Exception):
        pass

    def kill(checkpoint):
        if checkpoint.chunks_done == 1:
            raise Killed

    options = {"scorer": scorer, "workers": 1, "chunk_rows": 2, "scored_at": "2026-01-01T00:00Z"}
    whole = rescore(source, tmp_path / "whole.csv", **options)
    with pytest.raises(Killed):
        rescore(source, tmp_path / "out.csv", on_chunk=kill, **options)
    resumed = rescore(source, tmp_path / "out.csv", resume=True, **options)
    for summary, out in ((whole, "whole"), (resumed, "out")):
        assert (summary.received, summary.scored, summary.rejected) == (6, 5, 1)
        rejected = pd.read_csv(tmp_path / f"{out}.rejected.csv", dtype=str)
        assert rejected.to_dict("records")[0]["row"] == "6"
        assert DUPLICATE.format(row=2) in rejected.to_dict("records")[0]["errors"]


# --- duplicates through the API -----------------------------------------------------------

pytest_plugins = ["api_fixtures", "db_fixtures"]


def test_api_batches_reject_duplicate_ids_across_chunks(make_app, make_key, profile, tmp_path):
    app = make_app(BATCH_CHUNK_ROWS=2)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "personal")}
    profile = {k: v for k, v in profile.items() if k not in F.PERSONAL_COLUMNS}
    rows = [profile, {**profile, "sme_id": "X-2"}, {**profile, "sme_id": "X-3"}, profile]
    batch = client.post("/api/v1/batches", json=rows, headers=headers).get_json()
    assert (batch["received"], batch["scored"], batch["rejected"]) == (4, 3, 1)
    assert batch["errors"] == [
        {
            "row": 4,
            "sme_id": profile["sme_id"],
            "errors": [{"field": "sme_id", "message": DUPLICATE.format(row=1)}],
        }
    ]
    path = workbook(tmp_path / "dup.xlsx", [HEADER, ROW, ["X-9", *ROW[1:]], ROW])
    data = {"file": (io.BytesIO(path.read_bytes()), "dup.xlsx")}
    response = client.post(
        "/api/v1/batches", data=data, headers=headers, content_type="multipart/form-data"
    )
    batch = response.get_json()
    assert (batch["received"], batch["scored"], batch["rejected"]) == (3, 2, 1)
    assert batch["errors"][0]["row"] == 4


# --- 3. what offices type: the web form's labels, Rp, %, dotted HS codes, "-", dates ------


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("sector", "Kerajinan", "handicraft"),
        ("sector", "furniture and WOOD", "furniture_wood"),
        ("legal_form", "Koperasi", "cooperative"),
        ("legal_form", "perorangan (ud)", "individual"),
        ("owner_gender", "Laki-laki", "male"),
        ("owner_gender", "Not disclosed", "undisclosed"),
    ],
)
def test_labels_of_the_web_form_are_read_as_values(tmp_path, field, text, expected):
    batch = validated(sheet_with(tmp_path / "c.xlsx", **{field: text}))
    assert batch.errors == []
    frame = batch.personal if field in F.PERSONAL_COLUMNS else batch.profiles
    assert frame[field].iloc[0] == expected
    one = validate_profile({**dict(zip(HEADER, ROW, strict=True)), field: text})
    frame = one.personal if field in F.PERSONAL_COLUMNS else one.profiles
    assert frame[field].iloc[0] == expected


def test_market_names_in_both_languages_are_read_as_markets(tmp_path):
    path = sheet_with(tmp_path / "c.xlsx", target_markets="Jepang; United States; uni eropa")
    batch = validated(path)
    assert batch.errors == []
    assert F.mask_to_list("target_markets", batch.profiles["target_markets"].iloc[0]) == [
        "EU",
        "US",
        "JP",
    ]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("annual_revenue_idr", "Rp 2.400.000.000", 2_400_000_000.0),
        ("annual_revenue_idr", "Rp2.400.000.000,00", 2_400_000_000.0),
        ("annual_revenue_idr", "rp. 850.000.000", 850_000_000.0),
        ("capacity_utilization", "80%", 0.8),
        ("capacity_utilization", "75,5 %", 0.755),
        ("hs_code", "0901.21", "090121"),
        ("hs_code", "0901.21.10", "09012110"),
        ("monthly_capacity_units", "-", None),
        ("legal_form", "-", None),
        ("year_established", dt.datetime(2015, 3, 1), 2015),
        ("year_established", dt.date(2009, 1, 1), 2009),
    ],
)
def test_office_spellings_are_read(tmp_path, field, value, expected):
    batch = validated(sheet_with(tmp_path / "c.xlsx", **{field: value}))
    assert batch.errors == []
    got = batch.profiles[field].iloc[0]
    if expected is None:
        assert got is None or np.isnan(got)
    else:
        assert got == pytest.approx(expected) if isinstance(expected, float) else got == expected


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("annual_revenue_idr", "Rp 2,400,000,000", 2_400_000_000.0),
        ("capacity_utilization", "80%", 0.8),
        ("hs_code", "0901.21", "090121"),
        ("legal_form", "-", None),
    ],
)
def test_json_reads_the_same_spellings(field, text, expected):
    data = {**dict(zip(HEADER, ROW, strict=True)), field: text}
    one = validate_profile(data).profiles
    table = validate_records([data]).profiles
    pd.testing.assert_frame_equal(one, table)
    assert one[field].iloc[0] == expected


def test_rp_and_percent_belong_to_their_fields_only(tmp_path):
    path = sheet_with(tmp_path / "c.xlsx", employees="12%", export_value_usd_last_year="Rp 5")
    assert [e["field"] for e in validated(path).errors[0].errors] == [
        "employees",
        "export_value_usd_last_year",
    ]


def test_web_form_option_names_are_the_names_files_may_give():
    """The pages read their option names from ``scoring/labels``: what the form shows is
    what a file may give."""
    from api.web.i18n import load_catalogues
    from scoring.contract.choices import choice_names

    catalogues = load_catalogues()
    for name in ("sector", "legal_form", "owner_gender"):
        for value, labels in choice_names()[name].items():
            assert labels == [
                catalogues["en"][f"{name}.{value}"],
                catalogues["id"][f"{name}.{value}"],
            ]


def test_option_names_live_only_in_scoring_labels():
    from api.web.i18n import TRANSLATIONS_DIR

    for path in TRANSLATIONS_DIR.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert not {"sector", "legal_form", "owner_gender"} & set(data), path.name


# --- 5. title rows above the header, totals and signatures below the data ------------------

TITLE = [
    ["DAFTAR UMKM BINAAN DINAS KUKMPERINDAG KOTA BANDUNG"],
    ["Tahun 2026"],
    [],
]
SECOND = ["BDG-002", "Kopi Lembang", "food_beverage", 2018, 5, 120_000_000, "Ya", "Tidak"]
FOOTER = [
    [],
    [None, "Jumlah", None, None, 17, 970_000_000],
    ["Catatan: data per November 2026"],
    [None, "Bandung, 3 Desember 2026"],
    [None, "Mengetahui,"],
    [None, "Kepala Dinas"],
    [None, "Drs. H. Asep Sukmana"],
]


def office_sheet(path: Path, *, header: list = HEADER) -> Path:
    return workbook(path, [*TITLE, header, ROW, SECOND, *FOOTER])


def office_csv(path: Path) -> Path:
    def line(cells):
        return ";".join("" if c is None else str(c) for c in cells)

    rows = [*TITLE, HEADER, ROW, SECOND, *FOOTER]
    path.write_text("\n".join(line(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_title_rows_above_the_header_are_skipped_keeping_sheet_row_numbers(tmp_path):
    table = read_table(office_sheet(tmp_path / "o.xlsx"))
    assert list(table.frame.columns) == [F.FIELD_BY_NAME[n].name for n in HEADER]
    assert table.header_row == 4
    assert table.source_rows()[:2].tolist() == [5, 6]
    assert table.columns == dict(zip(HEADER, "ABCDEFGH", strict=True))


def test_title_rows_above_a_csv_header_are_skipped(tmp_path):
    table = read_table(office_csv(tmp_path / "o.csv"))
    assert table.header_row == 4
    assert table.frame["sme_id"].tolist()[:2] == ["BDG-001", "BDG-002"]
    assert table.source_rows()[:2].tolist() == [5, 6]


def test_totals_notes_and_signatures_are_skipped_not_rejected(tmp_path):
    for path in (office_sheet(tmp_path / "o.xlsx"), office_csv(tmp_path / "o.csv")):
        batch = validated(path)
        assert (batch.received, batch.scored, batch.rejected) == (2, 2, 0)
        assert [s.to_dict() for s in batch.skipped] == [
            {"row": 8, "reason": "total row"},
            {"row": 9, "reason": "note or signature row"},
            {"row": 10, "reason": "note or signature row"},
            {"row": 11, "reason": "note or signature row"},
            {"row": 12, "reason": "note or signature row"},
            {"row": 13, "reason": "note or signature row"},
        ]


def test_non_data_rows_are_skipped_in_every_chunk(tmp_path):
    path = office_sheet(tmp_path / "o.xlsx")
    chunks = [validate_table(raw) for raw in iter_tables(path, chunk_rows=3)]
    assert sum(c.scored for c in chunks) == 2
    assert [s.row for c in chunks for s in c.skipped] == [8, 9, 10, 11, 12, 13]


def test_without_a_header_naming_sme_id_the_message_names_the_row_taken(tmp_path):
    path = workbook(tmp_path / "t.xlsx", [["DAFTAR UMKM"], ["Tahun 2026", "x", "y"], ["a", "b"]])
    with pytest.raises(
        FileFormatError,
        match=r"^t\.xlsx: column B has a value in row 2 but no header; give the column a name "
        r"or delete it \(row 1 was taken as the header; expected a header row naming sme_id "
        r"and the other columns within the first 20 rows\)$",
    ):
        read_table(path)


def test_a_data_row_without_sme_id_is_still_rejected(tmp_path):
    row = [None, *ROW[1:]]
    batch = validated(workbook(tmp_path / "r.xlsx", [HEADER, ROW, row]))
    assert (batch.received, batch.rejected, batch.skipped) == (2, 1, [])


def test_rescore_skips_title_and_footer_rows(scorer, tmp_path):
    path = office_sheet(tmp_path / "o.xlsx")
    out = tmp_path / "out.csv"
    summary = rescore(path, out, scorer=scorer, chunk_rows=3)
    assert (summary.received, summary.scored, summary.rejected) == (2, 2, 0)


def test_the_option_names_are_read_once_a_process(monkeypatch):
    """Every enum and list field's look-up reads the label files and the ruleset once in
    all (each process read them once for every such field before)."""
    from scoring.contract import choices
    from scoring.contract.fields import FIELD_BY_NAME

    reads: list[str] = []
    parse = yaml.safe_load

    def counted(text):
        reads.append(text[:20])
        return parse(text)

    monkeypatch.setattr(choices.yaml, "safe_load", counted)
    choices.choice_names.cache_clear()
    choices.choice_lookup.cache_clear()
    try:
        fields = [name for name, field in FIELD_BY_NAME.items() if field.choices]
        assert len(fields) == 6
        lookups = {name: choices.choice_lookup(name) for name in fields}
        assert lookups["sector"][choices.choice_key("Kerajinan")] == "handicraft"
        assert len(reads) == len(list(choices.CHOICE_LABELS_DIR.glob("choices.*.yaml"))) + 1
    finally:
        choices.choice_names.cache_clear()
        choices.choice_lookup.cache_clear()
