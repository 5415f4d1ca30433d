"""Hostile files: zip bombs, XML entity expansion, a million columns, a 100 MB cell, NUL
bytes, invalid UTF-8. Each is built here, refused by the readers with a message that names
the problem, in bounded time and memory, and refused by the upload API with 413 or 422.

The big ones are read one after another in one child process, whose peak resident memory
measures the readers alone (C buffers of the CSV parser and Arrow included, which
tracemalloc misses): the peak after each file bounds what that file took.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scoring.errors import FileFormatError
from scoring.files.limits import ReadLimits
from scoring.files.readers import read_table

pytest_plugins = ["api_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
#: Generous but real bounds for refusing one hostile file.
MAX_SECONDS = 10.0
MAX_EXTRA_MB = 200

_MEASURE = """
import json, resource, sys, time
import openpyxl, pandas, pyarrow.parquet  # loaded before the baseline is taken
from scoring.errors import FileFormatError
from scoring.files.readers import read_table

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for path in sys.argv[1:]:
    start = time.perf_counter()
    try:
        read_table(path)
        refused = None
    except FileFormatError as exc:
        refused = str(exc)
    seconds = time.perf_counter() - start
    extra_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"seconds": seconds, "extra_mb": extra_mb, "refused": refused}))
"""


def read_in_child(paths: list[Path]) -> dict[str, dict]:
    """Read each file in one fresh interpreter: {file name: seconds, extra_mb, refused}."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=True,
    )
    lines = done.stdout.splitlines()
    return {path.name: json.loads(line) for path, line in zip(paths, lines, strict=True)}


@pytest.fixture(scope="module")
def big_files(tmp_path_factory) -> dict[str, dict]:
    """The large hostile files, built on disk (never committed) and read in the child."""
    folder = tmp_path_factory.mktemp("hostile")
    paths = [
        replace_parts(
            workbook_bytes(), {"xl/worksheets/sheet1.xml": spaces(200)}, folder / "bomb.xlsx"
        ),
        write_wide_csv(folder / "wide.csv"),
        write_big_cell(folder / "cell.csv", quoted=False),
        write_big_cell(folder / "quoted.csv", quoted=True),
        write_parquet_bomb(folder / "bomb.parquet"),
    ]
    return read_in_child(paths)


def refused_in_bounds(big_files: dict[str, dict], name: str) -> str:
    """The refusal of file ``name``, asserting it came within the time and memory bounds."""
    result = big_files[name]
    assert result["refused"] is not None, f"{name} was read, not refused"
    assert result["seconds"] < MAX_SECONDS, result
    assert result["extra_mb"] < MAX_EXTRA_MB, result
    return result["refused"]


def refuse(data: bytes, filename: str, **limits) -> str:
    """Read ``data`` in this process; assert it is refused quickly; the message."""
    start = time.perf_counter()
    with pytest.raises(FileFormatError) as raised:
        read_table(data, filename=filename, limits=ReadLimits(**limits))
    assert time.perf_counter() - start < MAX_SECONDS
    return str(raised.value)


# --- building the files ---------------------------------------------------------------


def workbook_bytes() -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.append(["sme_id", "name"])
    workbook.active.append(["A1", "Batik"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def replace_parts(
    xlsx: bytes, parts: dict[str, bytes | tuple[None, int]], target: Path | None = None
):
    """``xlsx`` with some parts replaced (the bytes, or the path of the file written to
    ``target``); a ``spaces(n)`` part is streamed as n blocks of 1 MiB of spaces, so a
    bomb never exists unpacked in memory."""
    out = target.open("wb") if target else io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx)) as source,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for info in source.infolist():
            if info.filename not in parts:
                archive.writestr(info, source.read(info))
                continue
            content = parts[info.filename]
            with archive.open(info.filename, "w", force_zip64=True) as part:
                if isinstance(content, bytes):
                    part.write(content)
                else:
                    block = b" " * MIB
                    for _ in range(content[1]):
                        part.write(block)
    if target is None:
        return out.getvalue()
    out.close()
    return target


def spaces(mebibytes: int) -> tuple[None, int]:
    return (None, mebibytes)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
SHEET_NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
ENTITY_SHEET = (
    BILLION_LAUGHS
    + b"<worksheet "
    + SHEET_NS
    + b'><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    + b"</sheetData></worksheet>"
)
EXTERNAL_ENTITY_SHEET = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
    + b"<worksheet "
    + SHEET_NS
    + b'><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&e;</t></is></c></row>'
    + b"</sheetData></worksheet>"
)
FAR_ROW_SHEET = (
    b'<?xml version="1.0"?>\n<worksheet '
    + SHEET_NS
    + b'><sheetData><row r="2000000000"><c r="A2000000000" t="inlineStr"><is><t>x</t></is>'
    + b"</c></row></sheetData></worksheet>"
)


# --- XLSX -----------------------------------------------------------------------------


def test_xlsx_zip_bomb_is_refused_by_its_ratio_before_inflating(big_files):
    message = refused_in_bounds(big_files, "bomb.xlsx")
    assert "part 'xl/worksheets/sheet1.xml' unpacks" in message
    assert "(at most 100); this looks like a zip bomb" in message


def test_xlsx_unpacking_past_the_size_limit_is_refused():
    message = refuse(workbook_bytes(), "big.xlsx", max_unpacked_bytes=4096)
    assert message.startswith("big.xlsx: the workbook unpacks to ")
    assert "more than the 4 KiB allowed; split it or save it as CSV" in message


@pytest.mark.parametrize(
    "part", ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml"]
)
def test_xml_entity_expansion_is_refused(part):
    content = ENTITY_SHEET if "sheet" in part else BILLION_LAUGHS + b"<x/>"
    message = refuse(replace_parts(workbook_bytes(), {part: content}), "laughs.xlsx")
    assert "XML entity or DTD declarations are not allowed (EntitiesForbidden)" in message


def test_external_entity_is_refused():
    xlsx = replace_parts(workbook_bytes(), {"xl/worksheets/sheet1.xml": EXTERNAL_ENTITY_SHEET})
    message = refuse(xlsx, "xxe.xlsx")
    assert "XML entity or DTD declarations are not allowed" in message
    assert "root:" not in message


def test_xlsx_row_past_the_last_excel_row_is_refused_quickly():
    xlsx = replace_parts(workbook_bytes(), {"xl/worksheets/sheet1.xml": FAR_ROW_SHEET})
    message = refuse(xlsx, "far.xlsx")
    assert "the first worksheet has rows past row 1048576" in message


def test_xlsx_header_wider_than_the_column_limit_is_refused():
    workbook = openpyxl.Workbook()
    workbook.active.append([f"c{i}" for i in range(1_001)])
    out = io.BytesIO()
    workbook.save(out)
    message = refuse(out.getvalue(), "wide.xlsx")
    assert message == (
        "wide.xlsx: 1001 columns, more than the 1000 a profile table may have; "
        "check the separator, or that this is the right file"
    )


# --- CSV ------------------------------------------------------------------------------


def write_wide_csv(path: Path) -> Path:
    path.write_bytes(b";".join(b"c%d" % i for i in range(1_000_000)) + b"\n1\n")
    return path


def test_csv_with_a_million_columns_is_refused_in_bounded_memory(big_files):
    message = refused_in_bounds(big_files, "wide.csv")
    assert "no end to the header row in the first 64 KiB" in message


def test_csv_row_with_a_million_cells_is_refused_by_its_length():
    message = refuse(b"sme_id;name\n" + b"1;" * 1_000_000 + b"\n", "cells.csv")
    assert message == (
        "cells.csv: line 2 is longer than 1 MiB; expected a table of profiles "
        "(check the line ends and the separator)"
    )


def test_csv_header_over_the_column_limit_is_refused():
    header = ";".join(f"c{i}" for i in range(2_000)).encode()
    message = refuse(header + b"\n", "wide.csv")
    assert message.startswith("wide.csv: 2000 columns, more than the 1000 a profile table")


def test_csv_column_limit_is_configurable():
    assert refuse(b"a;b;c\n1;2;3\n", "abc.csv", max_columns=2).startswith(
        "abc.csv: 3 columns, more than the 2"
    )
    assert list(read_table(b"a;b\n1;2\n", filename="ab.csv").frame.columns) == ["a", "b"]


def write_big_cell(path: Path, *, quoted: bool) -> Path:
    """A CSV whose second row holds one 100 MB cell (in quotes: one line per 100 bytes)."""
    block = (b"x" * 99 + b"\n") if quoted else b"x" * 100
    with path.open("wb") as out:
        out.write(b"sme_id;note\nA1;" + (b'"' if quoted else b""))
        for _ in range(10):
            out.write(block * 100_000)
        out.write(b'"\n' if quoted else b"\n")
    assert path.stat().st_size > 100_000_000
    return path


def test_csv_with_a_100_mb_cell_is_refused_in_bounded_memory_and_time(big_files):
    message = refused_in_bounds(big_files, "cell.csv")
    assert message == (
        "cell.csv: line 2 is longer than 1 MiB; expected a table of profiles "
        "(check the line ends and the separator)"
    )


def test_csv_with_a_100_mb_quoted_cell_over_many_lines_is_refused(big_files):
    message = refused_in_bounds(big_files, "quoted.csv")
    assert message == (
        "quoted.csv: the quoted cell opened on line 2 is longer than 1 MiB; expected quotes "
        'in pairs ("...")'
    )


def test_quoted_cells_below_the_limit_are_read():
    note = "line\n" * 100_000  # 500 kB over 100,000 lines, in quotes
    table = read_table(f'id;note\nA1;"{note}"\nA2;x\n'.encode(), filename="notes.csv")
    assert table.frame["note"].tolist() == [note, "x"]


def test_lines_ended_by_carriage_returns_alone_are_lines_too():
    rows = [b"sme_id;name"] + [b"A%d;Batik Jaya %d" % (i, i) for i in range(100_000)]
    table = read_table(b"\r".join(rows) + b"\r", filename="mac.csv")  # over 2 MB
    assert len(table.frame) == 100_000


def test_csv_with_nul_bytes_is_refused_with_its_position():
    message = refuse(b"sme_id;name\nA1;Batik\nA2;Ba\x00tik\n", "nul.csv")
    assert message == (
        "nul.csv: NUL byte at byte offset 26 (line 3); a CSV file is text, "
        "this looks like a binary file"
    )


@pytest.mark.parametrize(
    ("bad", "offset"),
    [
        (b"\xff", 21),  # never valid
        (b"\xc0\xaf", 21),  # overlong "/"
        (b"\xed\xa0\x80", 21),  # a UTF-16 surrogate
        (b"\xe2\x82", 21),  # cut character at the end of the file
    ],
)
def test_csv_with_invalid_utf8_is_refused_with_its_position(bad, offset):
    message = refuse(b"sme_id;name\nA1;Batik\n" + bad, "bad.csv")
    assert message == (
        f"bad.csv: not valid UTF-8 at byte offset {offset} (line 3); "
        "save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    )


# --- JSON, JSON Lines, Parquet --------------------------------------------------------


def test_json_lines_line_over_the_limit_is_refused_without_reading_it_whole():
    message = refuse(b'{"a": "' + b"x" * (2 * MIB) + b'"}\n', "long.jsonl")
    assert message == "long.jsonl: line 1 is longer than 1 MiB; expected one JSON object per line"


def test_json_array_over_the_size_limit_is_refused():
    message = refuse(b'[{"a": 1}]' + b" " * 5000, "big.json", max_json_bytes=4096)
    assert message == (
        "big.json: a JSON array file may hold at most 4 KiB; write larger files as JSON Lines "
        "(.jsonl, one object per line)"
    )


@pytest.mark.parametrize(("filename", "where"), [("n.json", ""), ("n.jsonl", " at line 1")])
def test_json_number_of_thousands_of_digits_is_refused(filename, where):
    body = b'{"employees": ' + b"9" * 5_000 + b"}"
    message = refuse(b"[" + body + b"]" if filename.endswith(".json") else body, filename)
    assert message.startswith(f"{filename}: unreadable JSON number{where} (Exceeds the limit")


def test_json_with_more_keys_than_the_column_limit_is_refused():
    record = {f"k{i}": i for i in range(1_500)}
    message = refuse(json.dumps([record]).encode(), "keys.json")
    assert message.startswith("keys.json: 1500 columns, more than the 1000")


def write_parquet_bomb(path: Path) -> Path:
    """One 20 MiB cell that zstd packs into a few kB."""
    table = pa.table({"sme_id": ["A1"], "note": ["x" * (20 * MIB)]})
    pq.write_table(table, path, compression="zstd", use_dictionary=False)
    assert path.stat().st_size < MIB
    return path


def test_parquet_decompression_bomb_is_refused_from_its_footer(big_files):
    message = refused_in_bounds(big_files, "bomb.parquet")
    assert "row group 1 unpacks" in message
    assert "this looks like a decompression bomb" in message


# --- through the upload API -----------------------------------------------------------


@pytest.fixture
def upload(make_app, make_key):
    """``upload(data, filename)``: POST the file to /api/v1/batches; the response."""
    app = make_app(MAX_CONTENT_LENGTH=8 * MIB, BATCH_BACKGROUND_BYTES=8 * MIB)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "personal")}

    def post(data: bytes, filename: str):
        files = {"file": (io.BytesIO(data), filename)}
        return client.post("/api/v1/batches", data=files, headers=headers)

    return post


def _bomb_bytes() -> bytes:
    return replace_parts(workbook_bytes(), {"xl/worksheets/sheet1.xml": spaces(50)})


@pytest.mark.parametrize(
    ("build", "filename", "detail"),
    [
        (_bomb_bytes, "bomb.xlsx", "this looks like a zip bomb"),
        (
            lambda: replace_parts(workbook_bytes(), {"xl/worksheets/sheet1.xml": ENTITY_SHEET}),
            "laughs.xlsx",
            "XML entity or DTD declarations are not allowed",
        ),
        (lambda: b"a" + b";a" * 1_000_000 + b"\n", "wide.csv", "no end to the header row"),
        (lambda: b"a;b\n1;" + b"x" * (2 * MIB) + b"\n", "cell.csv", "line 2 is longer than"),
        (lambda: b"a;b\n1;\x00\n", "nul.csv", "NUL byte at byte offset 6 (line 2)"),
        (lambda: b"a;b\n1;\xff\n", "ansi.csv", "not valid UTF-8 at byte offset 6 (line 2)"),
    ],
)
def test_upload_of_a_hostile_file_is_422_with_the_reason(upload, build, filename, detail):
    start = time.perf_counter()
    response = upload(build(), filename)
    assert time.perf_counter() - start < MAX_SECONDS
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert detail in body["detail"]
    assert body["errors"] == [{"field": "file", "message": body["detail"]}]


def test_upload_over_the_size_limit_is_413_before_it_is_read(upload):
    response = upload(b"a;b\n1;" + b"x" * (9 * MIB) + b"\n", "cell.csv")
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
