"""The two CSV readers agree: ``iter_tables(arrow=True)`` (Arrow's CSV reader, cells kept as
Arrow arrays, as batch rescoring reads files) gives the same chunks, cells, row numbers,
notices and refusals as the pandas reader, on hand-made awkward files, on generated ones
and on a file of several Arrow blocks."""

from __future__ import annotations

import random

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.batch.chunks import InputChunks
from scoring.errors import FileFormatError
from scoring.files.limits import ReadLimits
from scoring.files.readers import iter_tables

HEADER = "sme_id;sector;employees;annual_revenue_idr"


def read(data: bytes, chunk_rows: int, *, arrow: bool, limits: ReadLimits | None = None):
    """Every chunk as plain values (cells, row numbers, notices, next row), or the refusal."""
    options = {"limits": limits} if limits else {}
    try:
        tables = list(
            iter_tables(data, filename="x.csv", chunk_rows=chunk_rows, arrow=arrow, **options)
        )
    except FileFormatError as exc:
        return ("refused", str(exc))
    return [
        (
            list(table.frame.columns),
            [[None if pd.isna(v) else v for v in table.frame[c].tolist()] for c in table.frame],
            table.source_rows().tolist(),
            table.first_row_number,
            table.header_row,
            table.decimal,
            [notice.to_dict() for notice in table.notices],
        )
        for table in tables
    ]


def assert_same(data: bytes, chunk_rows: int, limits: ReadLimits | None = None):
    by_pandas = read(data, chunk_rows, arrow=False, limits=limits)
    assert read(data, chunk_rows, arrow=True, limits=limits) == by_pandas
    return by_pandas


def lines(*rows: str, end: str = "\n") -> bytes:
    return end.join(rows).encode()


CASES = {
    "plain": lines(HEADER, "a;x;1;2", "b;y;3;4", ""),
    "no final line end": lines(HEADER, "a;x;1;2", "b;y;3;4"),
    "crlf": lines(HEADER, "a;x;1;2", "b;y;3;4", "", end="\r\n"),
    "lone cr": lines(HEADER, "a;x;1;2", "b;y;3;4", "", end="\r"),
    "header only": lines(HEADER, ""),
    "header without line end": HEADER.encode(),
    "blank rows inside and after": lines(HEADER, "a;x;1;2", "", ";;;", "b;y;3;4", "", "", ""),
    "blank rows only": lines(HEADER, "", ";;;", ""),
    "blank rows first": lines(HEADER, "", "", "a;x;1;2", ""),
    "empty cells": lines(HEADER, "a;;;2", ";y;;", ""),
    "spaces kept": lines(HEADER, " a ; x ;1 ; 2", ""),
    "short rows": lines(HEADER, "a;x", "b", "c;z;5;6", "d;w;7", ""),
    "short row last": lines(HEADER, "a;x;1;2", "b;y"),
    "long row later": lines(HEADER, "a;x;1;2", "b;y;3;4;5;6", "c;z;5;6", ""),
    "long first row": lines(HEADER, "a;x;1;2;9", "b;y;3;4", ""),
    "long first row, longer later": lines(HEADER, "a;x;1;2;9", "b;y;3;4;5;6", ""),
    "long first row, short later": lines(HEADER, "a;x;1;2;9", "b;y", ""),
    "quoted separators": lines(HEADER, '"a;1";"x""y";"1,5";2', ""),
    "quoted line ends": lines(HEADER, 'a;"x\ny";1;2', 'b;"p\r\nq\n\nr";3;4', "c;z;5;6", ""),
    "quoted empty cell": lines(HEADER, 'a;"";1;2', ""),
    "unclosed quote at the end": lines(HEADER, "a;x;1;2", 'b;"y;3;4', ""),
    "unclosed quote, no line end": lines(HEADER, "a;x;1;2", 'b;"y;3;4'),
    "unclosed quote in the middle": lines(HEADER, 'a;"x;1;2', "b;y;3;4", "c;z;5;6", ""),
    "unclosed quote after a long row": lines(HEADER, "a;x;1;2;3;4", 'b;"y;3;4', ""),
    "quote inside a cell": lines(HEADER, 'a;x"y;1;2', ""),
    "comma separated": lines("sme_id,sector,employees,annual_revenue_idr", "a,x,1,2.5", ""),
    "tab separated": lines("sme_id\tsector\temployees\tannual_revenue_idr", "a\tx\t1\t2", ""),
    "titles above the header": lines("Cohort 2020;;;", "", HEADER, "a;x;1;2", ""),
    "unknown header": lines("p;q;r", "1;2;3", "4;5;6", ""),
    "byte order mark": b"\xef\xbb\xbf" + lines(HEADER, "a;x;1;2", ""),
    "the end mark as a cell": lines(HEADER, "\x02;;;", "\x02", ""),
    "a row of one empty quoted cell": lines(HEADER, '""', "a;x;1;2", ""),
    "not utf-8": lines(HEADER, "a;x;1;2", "") + b"b;\xff;3;4\n",
    "nul byte": lines(HEADER, "a;x;1;2", "") + b"b;\x00;3;4\n",
    "unicode cells": lines(HEADER, "Kopi Ciwidey;makanan ✓;1;2", ""),
}


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("name", sorted(CASES))
def test_both_readers_agree_on_awkward_files(name, chunk_rows):
    assert_same(CASES[name], chunk_rows)


def test_the_agreement_is_on_real_values():
    """Not two empty answers: the pandas reader's own results for some of the cases."""
    assert assert_same(CASES["short rows"], 2) == [
        (
            ["sme_id", "sector", "employees", "annual_revenue_idr"],
            [["a", "b"], ["x", None], [None, None], [None, None]],
            [2, 3],
            2,
            1,
            ",",
            [],
        ),
        (
            ["sme_id", "sector", "employees", "annual_revenue_idr"],
            [["c", "d"], ["z", "w"], ["5", "7"], ["6", None]],
            [4, 5],
            4,
            1,
            ",",
            [],
        ),
    ]
    assert assert_same(CASES["long row later"], 1000) == (
        "refused",
        "x.csv: row 3 has 6 cells but the header has 4; "
        "check the separator and the quotes in that row",
    )
    assert assert_same(CASES["unclosed quote at the end"], 1000) == (
        "refused",
        'x.csv: row 3 opens a quote that is never closed; expected quotes in pairs ("...")',
    )
    blank = assert_same(CASES["blank rows inside and after"], 3)
    assert [chunk[2] for chunk in blank] == [[2], [5]]
    assert [notice["message"] for chunk in blank for notice in chunk[6]] == [
        "2 blank rows skipped: rows 3, 4",
        "2 blank rows skipped: rows 6, 7",
    ]


def test_a_line_over_the_limit_is_refused_alike():
    limits = ReadLimits(max_line_bytes=256 * 1024)
    data = lines(HEADER, "a;x;1;2", "b;" + "y" * (300 * 1024) + ";3;4", "")
    refused = assert_same(data, 1000, limits)
    assert refused[0] == "refused" and "line 3 is longer than" in refused[1]


# --- generated files ------------------------------------------------------------------

cell = st.one_of(
    st.sampled_from(["", "a", "1", "2,5", " ", "x y", '""', '"q;r"', '"l\nm"', '"o""p"']),
    st.text(alphabet='ab1;"\n\r ', max_size=6),
)
row = st.lists(cell, min_size=0, max_size=6).map(";".join)
files = st.tuples(
    st.lists(row, max_size=12),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
).map(lambda f: (HEADER + f[1] + f[1].join(f[0]) + (f[1] if f[2] else "")).encode())


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=files, chunk_rows=st.sampled_from([1, 2, 5, 1000]))
def test_both_readers_agree_on_generated_files(data, chunk_rows):
    assert_same(data, chunk_rows)


# --- a file of several Arrow blocks ---------------------------------------------------


def big_file(rows: int, seed: int) -> tuple[bytes, int]:
    """About 50 bytes a row, blank and short rows and quoted line ends scattered through
    it, so records cross the reader's 4 MiB blocks and its chunks; and its blank rows."""
    pick = random.Random(seed)
    out = [HEADER]
    for n in range(rows):
        kind = pick.random()
        if kind < 0.01:
            out.append("")
        elif kind < 0.02:
            out.append(f"s{n};short")
        elif kind < 0.05:
            out.append(f'q{n};"sector\nwith a line end {"z" * pick.randrange(80)}";{n};7')
        else:
            out.append(f"r{n};{'k' * pick.randrange(60)};{n % 97};{n * 1000}")
    return ("\n".join(out) + "\n").encode(), out.count("")


def test_both_readers_agree_across_arrow_blocks():
    data, blank = big_file(200_000, seed=1)
    assert len(data) > 2 * 4 * 2**20 and blank > 1000
    chunks = assert_same(data, 25_000)
    assert len(chunks) == 8  # rows by record number, 25,000 to a chunk
    for n, chunk in enumerate(chunks):
        assert 2 + 25_000 * n <= chunk[2][0] < chunk[2][-1] < 2 + 25_000 * (n + 1)
    assert sum(len(chunk[2]) for chunk in chunks) == 200_000 - blank
    assert_same(data, 7_777)


@pytest.mark.parametrize(
    "ending", [b"r;k;1;2;3\n", b'r;"k;1;2\n'], ids=["long row", "unclosed quote"]
)
def test_a_refusal_at_the_end_of_a_file_of_several_blocks_is_the_same(ending):
    refused = assert_same(big_file(200_000, seed=2)[0] + ending, 25_000)
    assert refused[0] == "refused" and "row 200002 " in refused[1]


def test_the_rows_of_a_csv_file_are_estimated_from_its_first_chunk(tmp_path):
    """Arrow reads tens of MB ahead of the rows it hands over: the estimate (the progress
    bar's total; whether starting a pool process is worth it) counts the bytes read for the
    rows, not the stream's position."""
    data, blank = big_file(200_000, seed=3)
    path = tmp_path / "profiles.csv"
    path.write_bytes(data)
    chunks = InputChunks(path, chunk_rows=25_000, skip=0)
    first = next(iter(chunks))
    assert first.index == 0
    assert abs(chunks.rows - (200_000 - blank)) < 0.05 * 200_000


def test_a_row_over_two_of_arrows_blocks_is_refused_with_the_limit():
    cell = '"' + "y" * 900_000 + '\n"'
    data = lines(HEADER, "a;x;1;2", f"b;{cell};{cell};{cell}", "c;z;5;6", "")
    assert read(data, 1000, arrow=True) == (
        "refused",
        "x.csv: a row after row 2 is longer than 1.06 MiB with the line ends inside its quoted "
        "cells; expected rows shorter than that (check the quotes)",
    )
