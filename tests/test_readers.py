"""Readers: real-world CSV/XLSX/Parquet/JSON files in, RawTable out, with source row numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import numpy as np
import openpyxl
import openpyxl.xml
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.errors import FileFormatError
from scoring.files.layout import normalise_header
from scoring.files.readers import FORMATS, detect_format, iter_tables, read_table
from scoring.files.table import RawTable


def records(table: RawTable) -> list[dict]:
    return table.frame.to_dict("records")


class OneWayStream(io.RawIOBase):
    """A pipe-like stream: no seeking, short reads."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(min(len(buffer), 777))
        buffer[: len(chunk)] = chunk
        return len(chunk)


# --- header names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Has NIB ", "has_nib"),
        ("\ufeffsme_id", "sme_id"),
        ("Annual  Revenue-IDR", "annual_revenue_idr"),
        ("trade - fairs\tlast 3y", "trade_fairs_last_3y"),
        ("EXPORT_YEARS", "export_years"),
        ("", ""),
    ],
)
def test_normalise_header(raw, expected):
    assert normalise_header(raw) == expected


# --- CSV ------------------------------------------------------------------------------


def test_semicolon_csv_with_bom_keeps_indonesian_numbers_as_exact_text(tmp_path):
    path = tmp_path / "kohort.csv"
    path.write_bytes(
        b"\xef\xbb\xbfsme_id;  Has NIB ;Annual Revenue IDR;contact_phone;capacity_utilization\r\n"
        b"BDG-001;Ya;1.500.000,50;0812345;0,75\r\n"
        b"BDG-002;tidak;;;\r\n"
    )
    table = read_table(path)
    assert table.decimal == ","
    assert table.first_row_number == 2
    assert table.row_numbers is None
    assert table.source == "kohort.csv"
    assert list(table.frame.columns) == [
        "sme_id",
        "has_nib",
        "annual_revenue_idr",
        "contact_phone",
        "capacity_utilization",
    ]
    assert records(table) == [
        {
            "sme_id": "BDG-001",
            "has_nib": "Ya",
            "annual_revenue_idr": "1.500.000,50",
            "contact_phone": "0812345",
            "capacity_utilization": "0,75",
        },
        {
            "sme_id": "BDG-002",
            "has_nib": "tidak",
            "annual_revenue_idr": None,
            "contact_phone": None,
            "capacity_utilization": None,
        },
    ]
    assert all(dtype == np.dtype(object) for dtype in table.frame.dtypes)


def test_comma_csv_uses_decimal_point():
    table = read_table(b'sme_id,name,employees\nA1,"Batik, Jaya",012\n', filename="a.csv")
    assert table.decimal == "."
    assert records(table) == [{"sme_id": "A1", "name": "Batik, Jaya", "employees": "012"}]


def test_tab_csv():
    table = read_table(b"sme_id\tcertifications\nA1\tHALAL, PIRT\n", filename="a.tsv")
    assert table.decimal == "."
    assert records(table) == [{"sme_id": "A1", "certifications": "HALAL, PIRT"}]


def test_separator_is_found_outside_quotes_in_the_header():
    table = read_table(b'"a;b;c",d,e\n1,2,3\n', filename="a.csv")
    assert list(table.frame.columns) == ["a;b;c", "d", "e"]
    assert table.decimal == "."


def test_blank_lines_are_skipped_and_row_numbers_stay_those_of_the_file():
    data = b"\n;;\nsme_id;name\nA1;x\n\n;\nA2;\n\n\n"
    table = read_table(data, filename="a.csv")
    assert records(table) == [{"sme_id": "A1", "name": "x"}, {"sme_id": "A2", "name": None}]
    assert table.first_row_number == 4
    assert table.row_numbers.tolist() == [4, 7]
    assert table.source_rows().tolist() == [4, 7]


def test_quoted_cells_may_hold_newlines_and_separators():
    table = read_table(b'id;note\nA1;"line 1\nline 2; still"\nA2;ok\n', filename="a.csv")
    assert records(table) == [
        {"id": "A1", "note": "line 1\nline 2; still"},
        {"id": "A2", "note": "ok"},
    ]
    assert table.row_numbers is None  # one record, one row, as a spreadsheet shows it


def test_trailing_separator_column_without_header_is_dropped_when_empty():
    table = read_table(b"a;b;\n1;2;\n", filename="a.csv")
    assert records(table) == [{"a": "1", "b": "2"}]


def test_value_in_a_column_without_header_is_refused():
    with pytest.raises(FileFormatError, match=r"column C has a value in row 3 but no header"):
        read_table(b"a;b;\n1;2;\n3;4;x\n", filename="a.csv")


def test_header_only_gives_an_empty_frame_with_its_columns():
    table = read_table(b"sme_id;Has NIB\n\n", filename="a.csv")
    assert list(table.frame.columns) == ["sme_id", "has_nib"]
    assert len(table.frame) == 0
    assert table.first_row_number == 2


def test_duplicate_headers_after_normalising_are_refused():
    with pytest.raises(FileFormatError) as raised:
        read_table(b"sme_id;Has NIB;has_nib\nA;1;1\n", filename="a.csv")
    assert str(raised.value) == (
        "a.csv: duplicate column(s): 'Has NIB' and 'has_nib' both mean 'has_nib'; "
        "each column must appear once"
    )


def test_invalid_utf8_is_refused_with_byte_offset_and_line():
    data = b"sme_id;name\nA1;Kopi Luwak\nA2;Caf\xe9 Bandung\n"  # cp1252 "é"
    with pytest.raises(FileFormatError) as raised:
        read_table(data, filename="ansi.csv")
    assert str(raised.value) == (
        "ansi.csv: not valid UTF-8 at byte offset 32 (line 3); "
        "save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    )
    assert isinstance(raised.value.__cause__, UnicodeDecodeError)


def test_invalid_utf8_far_into_a_large_file_is_located_exactly():
    rows = b"A;x\n" * 30_000
    data = b"id;name\n" + rows + b"B;\xff\n"
    with pytest.raises(FileFormatError, match=r"at byte offset 120010 \(line 30002\)"):
        read_table(OneWayStream(data), filename="big.csv")


def test_row_with_more_cells_than_the_header_is_refused_with_its_row():
    with pytest.raises(FileFormatError) as raised:
        read_table(b"a;b\n1;2\n3;4\n5;6;7\n", filename="a.csv")
    assert str(raised.value) == (
        "a.csv: row 4 has 3 cells but the header has 2; check the separator and the quotes "
        "in that row"
    )


def test_first_row_with_more_cells_than_the_header_is_refused():
    with pytest.raises(FileFormatError, match=r"^a.csv: row 2 has more cells than the header"):
        read_table(b"a;b\n1;2;3;4\n", filename="a.csv")


def test_unclosed_quote_is_refused_with_its_row():
    with pytest.raises(FileFormatError, match=r"row 3 opens a quote that is never closed"):
        read_table(b'a;b\n1;2\n3;"4\n5;6\n', filename="a.csv")


def test_empty_csv_is_refused():
    with pytest.raises(FileFormatError, match="the file is empty; expected a header row"):
        read_table(b"\xef\xbb\xbf\n\n", filename="a.csv")


def test_iter_tables_chunks_a_large_csv_with_source_row_numbers(tmp_path):
    path = tmp_path / "big.csv"
    lines = ["sme_id;employees;annual_revenue_idr"]
    lines += [f"S{i:05d};{i % 37};{i}.000,{i % 100:02d}" for i in range(10_050)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")

    chunks = list(iter_tables(path, chunk_rows=1_000))
    whole = read_table(path)

    assert [len(c.frame) for c in chunks] == [1_000] * 10 + [50]
    assert [c.first_row_number for c in chunks] == [2 + 1_000 * i for i in range(11)]
    assert all(c.row_numbers is None and c.decimal == "," for c in chunks)
    combined = pd.concat([c.frame for c in chunks], ignore_index=True)
    pd.testing.assert_frame_equal(combined, whole.frame)
    assert whole.first_row_number == 2
    assert whole.frame.loc[10_049].to_dict() == {
        "sme_id": "S10049",
        "employees": str(10_049 % 37),
        "annual_revenue_idr": "10049.000,49",
    }


def test_chunks_keep_row_numbers_when_blank_rows_are_skipped():
    data = b"id\nA\n\nB\nC\n\nD\n"
    chunks = list(iter_tables(data, chunk_rows=2, filename="a.csv"))
    assert [c.source_rows().tolist() for c in chunks] == [[2], [4, 5], [7]]
    assert [c.first_row_number for c in chunks] == [2, 4, 7]
    whole = read_table(data, filename="a.csv")
    assert whole.source_rows().tolist() == [2, 4, 5, 7]
    assert whole.frame["id"].tolist() == ["A", "B", "C", "D"]


cell_text = st.one_of(
    st.text(alphabet="aZ09 .,;:'\"\t\r\n-=é€", max_size=12),
    st.sampled_from(["1.500.000,50", "0812", "Ya", "  Tidak  ", "HALAL; PIRT"]),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(cell_text, cell_text), min_size=1, max_size=8))
def test_csv_cells_come_back_exactly_as_written(rows):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["id", "a", "b"])
    writer.writerows([(f"R{i}", a, b) for i, (a, b) in enumerate(rows)])
    table = read_table(buffer.getvalue().encode(), filename="x.csv")
    assert records(table) == [
        {"id": f"R{i}", "a": a or None, "b": b or None} for i, (a, b) in enumerate(rows)
    ]


# --- XLSX -----------------------------------------------------------------------------


def make_workbook(path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "cohort"
    sheet.append([])  # row 1 empty: the header is the first non-empty row
    sheet.append(["  SME_ID ", "Has NIB", "employees", "Annual Revenue  IDR", "joined", None])
    sheet.append(["BDG-001", True, 12, 1_500_000.5, dt.datetime(2020, 3, 1), None])
    sheet.append([None, None, None, None, None, None])  # an empty row in between
    sheet.append(["BDG-002", False, 0, None, dt.datetime(2021, 5, 6, 7, 8, 9), None])
    sheet.append(["0812", "Ya", "", None, None, None])
    other = workbook.create_sheet("notes")
    other.append(["not", "a", "profile"])
    workbook.save(path)


def test_xlsx_reads_first_sheet_with_native_values_and_sheet_row_numbers(tmp_path):
    path = tmp_path / "cohort.xlsx"
    make_workbook(path)
    table = read_table(path)
    assert list(table.frame.columns) == [
        "sme_id",
        "has_nib",
        "employees",
        "annual_revenue_idr",
        "joined",
    ]
    assert records(table) == [
        {
            "sme_id": "BDG-001",
            "has_nib": True,
            "employees": 12,
            "annual_revenue_idr": 1_500_000.5,
            "joined": "2020-03-01",
        },
        {
            "sme_id": "BDG-002",
            "has_nib": False,
            "employees": 0,
            "annual_revenue_idr": None,
            "joined": "2021-05-06T07:08:09",
        },
        {
            "sme_id": "0812",
            "has_nib": "Ya",
            "employees": None,
            "annual_revenue_idr": None,
            "joined": None,
        },
    ]
    assert type(records(table)[0]["has_nib"]) is bool
    assert type(records(table)[0]["employees"]) is int
    assert table.first_row_number == 3
    assert table.row_numbers.tolist() == [3, 5, 6]
    assert table.decimal == "auto"  # text cells: the Indonesian rules first


def test_xlsx_chunks_keep_sheet_row_numbers(tmp_path):
    path = tmp_path / "cohort.xlsx"
    make_workbook(path)
    chunks = list(iter_tables(path, chunk_rows=2))
    assert [c.source_rows().tolist() for c in chunks] == [[3, 5], [6]]
    assert [c.first_row_number for c in chunks] == [3, 6]


def test_xlsx_value_outside_the_header_is_refused(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["sme_id", "name"])
    workbook.active.append(["A", "B", "stray"])
    path = tmp_path / "stray.xlsx"
    workbook.save(path)
    with pytest.raises(FileFormatError, match=r"column C has a value in row 2 but no header"):
        read_table(path)


def test_empty_xlsx_is_refused(tmp_path):
    path = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(FileFormatError, match="the first worksheet is empty"):
        read_table(path)


def test_corrupt_xlsx_is_refused_with_a_chained_error():
    with pytest.raises(FileFormatError, match=r"^bad.xlsx: not a readable XLSX workbook") as raised:
        read_table(b"PK\x03\x04 this is not a zip archive", filename="bad.xlsx")
    assert raised.value.__cause__ is not None


def test_openpyxl_parses_xml_with_defusedxml():
    assert openpyxl.xml.DEFUSEDXML is True


# --- Parquet --------------------------------------------------------------------------


def make_parquet(path):
    table = pa.table(
        {
            "SME ID": ["A1", "A2", None],
            "certifications": [["HALAL", "PIRT"], [], None],
            "employees": pa.array([3, 4, 5], pa.int64()),
            "annual_revenue_idr": [1.5, None, 2.0],
            "has_nib": [True, False, True],
        }
    )
    pq.write_table(table, path, row_group_size=2)


def test_parquet_list_columns_become_python_lists(tmp_path):
    path = tmp_path / "p.parquet"
    make_parquet(path)
    table = read_table(path)
    assert list(table.frame.columns) == [
        "sme_id",
        "certifications",
        "employees",
        "annual_revenue_idr",
        "has_nib",
    ]
    assert table.frame["sme_id"].tolist() == ["A1", "A2", None]
    assert table.frame["certifications"].tolist() == [["HALAL", "PIRT"], [], None]
    assert type(table.frame["certifications"][0]) is list
    assert table.frame["employees"].tolist() == [3, 4, 5]
    assert table.frame["employees"].dtype == np.int64
    assert table.frame["annual_revenue_idr"].tolist()[0] == 1.5
    assert np.isnan(table.frame["annual_revenue_idr"][1])
    assert table.frame["has_nib"].tolist() == [True, False, True]
    assert table.first_row_number == 1
    assert table.row_numbers is None


def test_parquet_chunks_count_rows_from_one(tmp_path):
    path = tmp_path / "p.parquet"
    make_parquet(path)
    chunks = list(iter_tables(path, chunk_rows=2))
    assert [c.first_row_number for c in chunks] == [1, 3]
    assert [len(c.frame) for c in chunks] == [2, 1]


def test_not_a_parquet_file_is_refused():
    with pytest.raises(FileFormatError, match=r"^x.parquet: not a readable Parquet file") as raised:
        read_table(b"PAR1 truncated", filename="x.parquet")
    assert raised.value.__cause__ is not None


# --- JSON and JSON Lines --------------------------------------------------------------


def test_json_array_of_objects_missing_keys_become_none():
    data = json.dumps(
        [
            {"sme_id": "A1", "Has NIB": True, "certifications": ["HALAL"], "employees": 3},
            {"sme_id": "A2", "annual_revenue_idr": 1.5},
        ]
    ).encode()
    table = read_table(data, filename="p.json")
    assert records(table) == [
        {
            "sme_id": "A1",
            "has_nib": True,
            "certifications": ["HALAL"],
            "employees": 3,
            "annual_revenue_idr": None,
        },
        {
            "sme_id": "A2",
            "has_nib": None,
            "certifications": None,
            "employees": None,
            "annual_revenue_idr": 1.5,
        },
    ]
    assert table.first_row_number == 1


def test_json_array_chunks_share_columns_and_count_items_from_one():
    data = json.dumps([{"a": 1}, {"b": 2}, {"a": 3}]).encode()
    chunks = list(iter_tables(data, chunk_rows=2, filename="p.json"))
    assert [list(c.frame.columns) for c in chunks] == [["a", "b"], ["a", "b"]]
    assert [c.first_row_number for c in chunks] == [1, 3]
    assert records(chunks[1]) == [{"a": 3, "b": None}]


def test_broken_json_is_refused_with_line_and_column():
    with pytest.raises(FileFormatError) as raised:
        read_table(b'[\n  {"sme_id": "A1"},\n  {"sme_id": }\n]', filename="p.json")
    assert str(raised.value) == (
        "p.json: invalid JSON at line 3, column 14: Expecting value; expected an array of objects"
    )
    assert isinstance(raised.value.__cause__, json.JSONDecodeError)


def test_json_object_instead_of_array_is_refused():
    with pytest.raises(FileFormatError, match=r"the JSON document is an object; expected an"):
        read_table(b'{\n "sme_id": "A1"\n}', filename="p.json")


def test_json_array_item_that_is_not_an_object_is_refused():
    with pytest.raises(FileFormatError, match=r"item 2 of the JSON array is a string"):
        read_table(b'[{"a": 1}, "b"]', filename="p.json")


def test_json_lines_reads_one_object_per_line_with_line_numbers():
    data = b'\xef\xbb\xbf{"sme_id": "A1", "employees": 3}\n\n{"sme_id": "A2", "tags": [1]}\n'
    table = read_table(data, filename="p.jsonl")
    assert records(table) == [
        {"sme_id": "A1", "employees": 3, "tags": None},
        {"sme_id": "A2", "employees": None, "tags": [1]},
    ]
    assert table.source_rows().tolist() == [1, 3]


def test_broken_json_line_is_refused_with_its_line():
    with pytest.raises(FileFormatError) as raised:
        read_table(b'{"a": 1}\n{"a": 2,}\n', filename="p.jsonl")
    assert str(raised.value) == (
        "p.jsonl: invalid JSON at line 2, column 9: Expecting property name enclosed in "
        "double quotes; expected one JSON object per line"
    )


def test_json_line_that_is_not_an_object_is_refused():
    with pytest.raises(FileFormatError, match=r"line 2 is an array; expected one JSON object"):
        read_table(b'{"a": 1}\n[1, 2]\n', filename="p.jsonl")


# --- format detection and sources -----------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "head", "expected"),
    [
        ("a.CSV", b"x;y\n", "csv"),
        ("a.xlsx", b"PK\x03\x04", "xlsx"),
        ("a.parquet", b"PAR1", "parquet"),
        ("a.json", b"[", "json"),
        ("a.jsonl", b"{}", "jsonl"),
        ("a.ndjson", b"{}", "jsonl"),
        (None, b"PK\x03\x04rest", "xlsx"),
        ("upload.bin", b"PAR1rest", "parquet"),
        (None, b'\xef\xbb\xbf  [{"a": 1}]', "json"),
        (None, b'{"a": 1}\n{"a": 2}\n', "jsonl"),
        (None, b'{\n  "a": 1\n}', "json"),
        (None, b"sme_id;name\nA;B\n", "csv"),
    ],
)
def test_detect_format(filename, head, expected):
    assert detect_format(filename, head) == expected
    assert expected in FORMATS


@pytest.mark.parametrize(
    ("filename", "head", "message"),
    [
        (None, b"\x00\x01\x02binary", "unknown file format"),
        ("old.xls", b"", "old Excel .xls files are not supported"),
        (None, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old Excel .xls files are not supported"),
        ("u16.csv", b"\xff\xfea\x00", "UTF-16"),
    ],
)
def test_detect_format_refuses_what_it_cannot_read(filename, head, message):
    with pytest.raises(FileFormatError, match=message):
        detect_format(filename, head)


def test_sources_can_be_paths_bytes_or_streams(tmp_path):
    data = b"sme_id;name\nA1;Batik\n"
    path = tmp_path / "s.csv"
    path.write_bytes(data)
    expected = [{"sme_id": "A1", "name": "Batik"}]
    assert records(read_table(str(path))) == expected
    assert records(read_table(path)) == expected
    assert records(read_table(data, filename="s.csv")) == expected
    with path.open("rb") as handle:
        table = read_table(handle)
        assert not handle.closed
    assert records(table) == expected
    assert table.source == "s.csv"
    assert records(read_table(OneWayStream(data))) == expected


def test_non_seekable_stream_works_for_xlsx_and_parquet(tmp_path):
    make_workbook(tmp_path / "c.xlsx")
    make_parquet(tmp_path / "p.parquet")
    xlsx = read_table(OneWayStream((tmp_path / "c.xlsx").read_bytes()))
    parquet = read_table(OneWayStream((tmp_path / "p.parquet").read_bytes()))
    assert xlsx.frame["sme_id"].tolist() == ["BDG-001", "BDG-002", "0812"]
    assert parquet.frame["sme_id"].tolist() == ["A1", "A2", None]


def test_explicit_format_overrides_detection():
    table = read_table(b'{"a": 1}', format="jsonl")
    assert records(table) == [{"a": 1}]
    with pytest.raises(ValueError, match="format must be one of"):
        read_table(b"a", format="xml")


def test_column_letters_are_the_spreadsheets_own():
    from openpyxl.utils import get_column_letter

    from scoring.files.layout import column_letter

    assert [column_letter(n) for n in range(1, 18_279)] == [
        get_column_letter(n) for n in range(1, 18_279)
    ]


def test_rescoring_csv_and_parquet_never_imports_openpyxl(tmp_path):
    """openpyxl takes a tenth of a second to import: a run over CSV or Parquet does not."""
    import subprocess
    import sys

    frame = pd.DataFrame({"sme_id": ["SME-1", "SME-2"], "sector": ["food", "coffee"]})
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "import scoring.batch.rescore\n"
        "from scoring.batch.chunks import InputChunks\n"
        "for name in ('in.csv', 'in.parquet'):\n"
        "    chunks = list(InputChunks(Path(sys.argv[1]) / name, chunk_rows=10, skip=0))\n"
        "    assert len(chunks) == 1, chunks\n"
        "print(sorted(m for m in sys.modules if m.startswith('openpyxl')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"
