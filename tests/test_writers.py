"""Writers: flat result tables out, formula-safe in CSV and XLSX, chunked or whole."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.files.readers import FORMATS, read_table
from scoring.files.writers import TableWriter, neutralise_formulas, write_table

DANGEROUS = ["=SUM(A1)", "+1+1", "-2+3", "@x", "\tx", "\rx"]


def results_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sme_id": ["BDG-001", "BDG-002", "BDG-003"],
            "score": [71.4, np.nan, 0.1],
            "rank": [1, 2, 3],
            "knocked_out": [False, True, False],
            "tier": ["near_ready", "not_ready", None],
            "missing": [["NIB", "NPWP"], [], None],
        }
    )


def sheet_values(data: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# --- round trips ----------------------------------------------------------------------


def test_csv_round_trip_is_utf8_comma_separated_with_point_decimals(tmp_path):
    path = tmp_path / "out.csv"
    write_table(results_frame(), path, format="csv")
    assert path.read_bytes() == (
        b"sme_id,score,rank,knocked_out,tier,missing\r\n"
        b"BDG-001,71.4,1,False,near_ready,NIB; NPWP\r\n"
        b"BDG-002,,2,True,not_ready,\r\n"
        b"BDG-003,0.1,3,False,,\r\n"
    )
    table = read_table(path)
    assert table.decimal == "."
    assert table.frame.to_dict("records")[0] == {
        "sme_id": "BDG-001",
        "score": "71.4",
        "rank": "1",
        "knocked_out": "False",
        "tier": "near_ready",
        "missing": "NIB; NPWP",
    }
    assert table.frame["score"].tolist() == ["71.4", None, "0.1"]


def test_json_round_trip_has_numbers_and_null_for_nan(tmp_path):
    path = tmp_path / "out.json"
    write_table(results_frame(), path, format="json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document == [
        {
            "sme_id": "BDG-001",
            "score": 71.4,
            "rank": 1,
            "knocked_out": False,
            "tier": "near_ready",
            "missing": ["NIB", "NPWP"],
        },
        {
            "sme_id": "BDG-002",
            "score": None,
            "rank": 2,
            "knocked_out": True,
            "tier": "not_ready",
            "missing": [],
        },
        {
            "sme_id": "BDG-003",
            "score": 0.1,
            "rank": 3,
            "knocked_out": False,
            "tier": None,
            "missing": None,
        },
    ]
    assert read_table(path).frame.to_dict("records") == document


def test_jsonl_round_trip(tmp_path):
    path = tmp_path / "out.jsonl"
    write_table(results_frame(), path, format="jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1] == (
        '{"sme_id":"BDG-002","score":null,"rank":2,"knocked_out":true,'
        '"tier":"not_ready","missing":[]}'
    )
    table = read_table(path)
    assert table.frame.to_dict("records") == [json.loads(line) for line in lines]
    assert table.first_row_number == 1


def test_parquet_round_trip_keeps_types_and_lists(tmp_path):
    path = tmp_path / "out.parquet"
    write_table(results_frame(), path, format="parquet")
    frame = read_table(path).frame
    assert frame["sme_id"].tolist() == ["BDG-001", "BDG-002", "BDG-003"]
    assert frame["score"].tolist()[::2] == [71.4, 0.1]
    assert np.isnan(frame["score"][1])
    assert frame["rank"].dtype == np.int64
    assert frame["rank"].tolist() == [1, 2, 3]
    assert frame["knocked_out"].tolist() == [False, True, False]
    assert frame["tier"].tolist() == ["near_ready", "not_ready", None]
    assert frame["missing"].tolist() == [["NIB", "NPWP"], [], None]


def test_xlsx_round_trip_keeps_native_values(tmp_path):
    path = tmp_path / "out.xlsx"
    write_table(results_frame(), path, format="xlsx")
    assert sheet_values(path.read_bytes()) == [
        ["sme_id", "score", "rank", "knocked_out", "tier", "missing"],
        ["BDG-001", 71.4, 1, False, "near_ready", "NIB; NPWP"],
        ["BDG-002", None, 2, True, "not_ready", None],
        ["BDG-003", 0.1, 3, False, None, None],
    ]
    assert openpyxl.load_workbook(path).worksheets[0]["A1"].font.b is True
    table = read_table(path)
    assert table.frame.to_dict("records")[1] == {
        "sme_id": "BDG-002",
        "score": None,
        "rank": 2,
        "knocked_out": True,
        "tier": "not_ready",
        "missing": None,
    }
    assert table.first_row_number == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips_its_identifiers(tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    write_table(results_frame(), path, format=fmt)
    assert read_table(path).frame["sme_id"].tolist() == ["BDG-001", "BDG-002", "BDG-003"]


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        write_table(results_frame(), tmp_path / "x", format="xml")


# --- formula injection ----------------------------------------------------------------


def test_neutralise_formulas_prefixes_text_that_would_run():
    frame = pd.DataFrame(
        {
            "text": [*DANGEROUS, "-12.5", "+3", "plain", None],
            "number": [-1.5, -2.0, 3.0, -4.0, 5.0, 6.0, 7.0, 8.0, 9.0, np.nan],
            "mixed": ["=1", -3, None, "x", 2.5, True, "-1", "a", "@b", "-"],
        }
    )
    out = neutralise_formulas(frame)
    assert out["text"].dtype == frame["text"].dtype
    assert out["text"].tolist()[:9] == [
        "'=SUM(A1)",
        "'+1+1",
        "'-2+3",
        "'@x",
        "'\tx",
        "'\rx",
        "-12.5",
        "+3",
        "plain",
    ]
    assert pd.isna(out["text"][9])
    pd.testing.assert_series_equal(out["number"], frame["number"])
    assert out["mixed"].tolist() == ["'=1", -3, None, "x", 2.5, True, "-1", "a", "'@b", "'-"]
    assert frame["text"][0] == "=SUM(A1)"  # the input is not changed


def test_neutralise_formulas_handles_pandas_string_dtype():
    frame = pd.DataFrame({"t": pd.Series(["=x", "ok", None], dtype="string")})
    assert neutralise_formulas(frame)["t"].tolist() == ["'=x", "ok", pd.NA]


def formula_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "note": [*DANGEROUS, "-12.5"],
            "value": [-1, -2, 3, -4, 5, -12, 0],
            "ratio": [-0.5, 1.0, -2.25, 0.0, 3.5, -12.5, np.nan],
        }
    )


def test_csv_output_neutralises_formulas_but_not_numbers():
    buffer = io.BytesIO()
    write_table(formula_frame(), buffer, format="csv")
    assert csv_rows(buffer.getvalue()) == [
        ["note", "value", "ratio"],
        ["'=SUM(A1)", "-1", "-0.5"],
        ["'+1+1", "-2", "1.0"],
        ["'-2+3", "3", "-2.25"],
        ["'@x", "-4", "0.0"],
        ["'\tx", "5", "3.5"],
        ["'\rx", "-12", "-12.5"],
        ["-12.5", "0", ""],
    ]


def test_xlsx_output_neutralises_formulas_but_not_numbers():
    buffer = io.BytesIO()
    write_table(formula_frame(), buffer, format="xlsx")
    assert sheet_values(buffer.getvalue()) == [
        ["note", "value", "ratio"],
        ["'=SUM(A1)", -1, -0.5],
        ["'+1+1", -2, 1.0],
        ["'-2+3", 3, -2.25],
        ["'@x", -4, 0.0],
        ["'\tx", 5, 3.5],
        ["'\nx", -12, -12.5],  # line breaks are stored as LF: XML would read a CR as LF
        ["-12.5", 0, None],
    ]
    sheet = openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).worksheets[0]
    assert {row[0].data_type for row in sheet.iter_rows(min_row=2, max_col=1)} == {"s"}


def test_json_output_is_not_neutralised():
    buffer = io.BytesIO()
    write_table(formula_frame().head(1), buffer, format="jsonl")
    assert buffer.getvalue() == b'{"note":"=SUM(A1)","value":-1,"ratio":-0.5}\n'


@given(st.text(max_size=20))
def test_neutralised_text_never_starts_a_formula(text):
    out = neutralise_formulas(pd.DataFrame({"t": [text]}))["t"][0]
    if out != text:
        assert out == "'" + text
    elif text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        assert text.lstrip("+-").replace(".", "").replace(",", "")[:1].isdigit()


# --- chunked writing ------------------------------------------------------------------


def chunked_frame() -> list[pd.DataFrame]:
    frame = pd.DataFrame(
        {
            "sme_id": [f"S{i}" for i in range(7)],
            "score": [71.4, np.nan, 0.1, 55.0, 12.25, np.nan, 99.9],
            "rank": [1, 2, 3, 4, 5, 6, 7],
            "tier": ["ready", None, "=HYPERLINK(1)", "developing", "-3", "x", "@y"],
        }
    )
    return [frame.iloc[0:2], frame.iloc[2:5], frame.iloc[5:7]]


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_table_writer_in_chunks_writes_the_same_bytes_as_write_table(fmt):
    parts = chunked_frame()
    whole, chunked = io.BytesIO(), io.BytesIO()
    write_table(pd.concat(parts), whole, format=fmt)
    with TableWriter.open(chunked, format=fmt) as writer:
        for part in parts:
            writer.write(part)
    assert chunked.getvalue() == whole.getvalue()
    assert not chunked.closed


def test_table_writer_in_chunks_writes_the_same_parquet_table(tmp_path):
    parts = chunked_frame()
    write_table(pd.concat(parts), tmp_path / "whole.parquet", format="parquet")
    with TableWriter(tmp_path / "chunked.parquet", format="parquet") as writer:
        for part in parts:
            writer.write(part)
    chunked = pq.read_table(tmp_path / "chunked.parquet")
    assert chunked.num_rows == 7
    assert chunked.equals(pq.read_table(tmp_path / "whole.parquet"))
    pd.testing.assert_frame_equal(
        read_table(tmp_path / "chunked.parquet").frame,
        read_table(tmp_path / "whole.parquet").frame,
    )


def test_table_writer_in_chunks_writes_the_same_xlsx_cells(tmp_path):
    parts = chunked_frame()
    write_table(pd.concat(parts), tmp_path / "whole.xlsx", format="xlsx")
    with TableWriter(tmp_path / "chunked.xlsx", format="xlsx") as writer:
        for part in parts:
            writer.write(part)
    chunked = sheet_values((tmp_path / "chunked.xlsx").read_bytes())
    assert chunked == sheet_values((tmp_path / "whole.xlsx").read_bytes())
    assert chunked[3] == ["S2", 0.1, 3, "'=HYPERLINK(1)"]
    assert len(chunked) == 8


def test_table_writer_refuses_chunks_with_other_columns():
    with TableWriter(io.BytesIO(), format="csv") as writer:
        writer.write(pd.DataFrame({"a": [1]}))
        with pytest.raises(ValueError, match="every chunk must have the columns"):
            writer.write(pd.DataFrame({"b": [1]}))


def test_table_writer_refuses_writes_after_close():
    writer = TableWriter(io.BytesIO(), format="jsonl")
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(pd.DataFrame({"a": [1]}))


@pytest.mark.parametrize(("fmt", "expected"), [("json", b"[]\n"), ("jsonl", b""), ("csv", b"")])
def test_table_writer_without_chunks_writes_an_empty_table(fmt, expected):
    buffer = io.BytesIO()
    TableWriter(buffer, format=fmt).close()
    assert buffer.getvalue() == expected


def test_table_writer_closes_the_files_it_opens(tmp_path):
    writer = TableWriter(tmp_path / "out.csv", format="csv")
    writer.write(pd.DataFrame({"a": [1]}))
    writer.close()
    assert writer._handle.closed
    assert (tmp_path / "out.csv").read_bytes() == b"a\r\n1\r\n"


def test_abort_deletes_the_file_the_writer_created(tmp_path):
    for fmt in FORMATS:
        path = tmp_path / f"partial.{fmt}"
        writer = TableWriter(path, format=fmt)
        writer.write(results_frame())
        writer.abort()
        assert not path.exists()
        writer.close()  # closing after abort does nothing


def test_an_exception_inside_the_with_block_aborts(tmp_path):
    path = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), TableWriter(path, format="csv") as writer:
        writer.write(results_frame())
        raise RuntimeError("scoring failed")
    assert not path.exists()
