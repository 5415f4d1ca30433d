"""Fuzzing the file readers: random bytes and mutated valid CSV, XLSX, Parquet, JSON and
JSON Lines files (bit flips, truncation, inserted, deleted and repeated bytes, and the same
inside the XML parts of a workbook). Whatever the bytes, reading and validating either
gives rows and row errors or raises ``FileFormatError``; through the upload API the
answer is never a 5xx. Every example is bounded in time (hypothesis' deadline).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.contract.validate import validate_table
from scoring.errors import FileFormatError
from scoring.files.readers import iter_tables, read_table

pytest_plugins = ["api_fixtures"]

DATA = Path(__file__).resolve().parent.parent / "data"
#: Slow enough to be a hang, not a slow machine: a seed file is read in milliseconds.
DEADLINE = timedelta(seconds=5)
FUZZ = settings(
    max_examples=40,
    deadline=DEADLINE,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FILENAMES = [None, "x.csv", "x.tsv", "x.xlsx", "x.parquet", "x.json", "x.jsonl", "x.bin"]


def read_and_validate(data: bytes, filename: str | None) -> None:
    """The property: rows and row errors, or a ``FileFormatError``; nothing else. Read in
    chunks of two rows as well (chunk boundaries), the same rows as read whole."""
    try:
        chunks = list(iter_tables(data, filename=filename, chunk_rows=2))
        whole = read_table(data, filename=filename)
        assert sum(len(chunk.frame) for chunk in chunks) == len(whole.frame)
        batch = validate_table(whole)
    except FileFormatError as exc:
        assert str(exc), "a FileFormatError must say why"
        return
    assert batch.received == batch.scored + len(batch.errors) == len(whole.frame)


# --- seed files: five real profiles in every format -------------------------------------


def _seeds() -> dict[str, bytes]:
    head = b"".join((DATA / "cohort_bandung_2020.csv").read_bytes().splitlines(True)[:6])
    frame = read_table(head, filename="cohort.csv").frame
    records = [{k: v for k, v in row.items() if v is not None} for row in frame.to_dict("records")]
    workbook = openpyxl.Workbook()
    workbook.active.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        workbook.active.append(list(row))
    xlsx = io.BytesIO()
    workbook.save(xlsx)
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    return {
        "x.csv": head,
        "x.xlsx": xlsx.getvalue(),
        "x.parquet": parquet.getvalue(),
        "x.json": json.dumps(records, ensure_ascii=False).encode(),
        "x.jsonl": "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode(),
    }


SEEDS = _seeds()


def test_every_seed_is_read_whole():
    for filename, data in SEEDS.items():
        assert len(read_table(data, filename=filename).frame) == 5, filename


# --- mutations ------------------------------------------------------------------------

position = st.floats(min_value=0, max_value=1)
some_bytes = st.one_of(
    st.binary(min_size=1, max_size=16),
    st.sampled_from([b"\x00", b'"', b";", b"\n", b"\r", b"\xff", b"\xef\xbb\xbf", b"<!DOCTYPE"]),
)
mutation = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(0, 7)),
    st.tuples(st.just("truncate"), position),
    st.tuples(st.just("insert"), position, some_bytes),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
    st.tuples(st.just("repeat"), position, st.integers(1, 64), st.integers(2, 50)),
)


def mutate(data: bytes, mutations: list[tuple]) -> bytes:
    out = bytearray(data)
    for kind, where, *args in mutations:
        at = min(int(where * len(out)), max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[at] ^= 1 << args[0]
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = args[0]
        elif kind == "delete":
            del out[at : at + args[0]]
        elif kind == "repeat":
            out[at:at] = bytes(out[at : at + args[0]]) * args[1]
    return bytes(out)


def mutate_xlsx_part(xlsx: bytes, part: str, mutations: list[tuple]) -> bytes:
    """The workbook with one XML part mutated and the archive rebuilt (so the XML parser,
    not the zip CRC check, meets the damage)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx)) as source,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        for info in source.infolist():
            content = source.read(info)
            archive.writestr(info, mutate(content, mutations) if info.filename == part else content)
    return out.getvalue()


mutations = st.lists(mutation, min_size=1, max_size=4)
XLSX_PARTS = sorted(zipfile.ZipFile(io.BytesIO(SEEDS["x.xlsx"])).namelist())


# --- properties -----------------------------------------------------------------------


@settings(FUZZ, max_examples=100)
@given(data=st.binary(max_size=4096), filename=st.sampled_from(FILENAMES))
def test_random_bytes_are_read_or_refused_cleanly(data, filename):
    read_and_validate(data, filename)


@FUZZ
@given(text=st.text(max_size=400), filename=st.sampled_from([None, "x.csv", "x.jsonl"]))
def test_random_text_is_read_or_refused_cleanly(text, filename):
    read_and_validate(text.encode("utf-8", "surrogatepass"), filename)


@pytest.mark.parametrize("filename", sorted(SEEDS))
def test_mutated_files_are_read_or_refused_cleanly(filename):
    @FUZZ
    @given(changes=mutations, named=st.booleans())
    def run(changes, named):
        read_and_validate(mutate(SEEDS[filename], changes), filename if named else None)

    run()


@FUZZ
@given(part=st.sampled_from(XLSX_PARTS), changes=mutations)
def test_workbooks_with_mutated_xml_are_read_or_refused_cleanly(part, changes):
    read_and_validate(mutate_xlsx_part(SEEDS["x.xlsx"], part, changes), "x.xlsx")


# --- through the upload API -----------------------------------------------------------

uploads = st.one_of(
    st.tuples(st.sampled_from(sorted(SEEDS)), mutations).map(
        lambda pair: (mutate(SEEDS[pair[0]], pair[1]), pair[0])
    ),
    st.tuples(st.sampled_from(XLSX_PARTS), mutations).map(
        lambda pair: (mutate_xlsx_part(SEEDS["x.xlsx"], *pair), "x.xlsx")
    ),
    st.tuples(st.binary(max_size=1024), st.sampled_from(FILENAMES[1:])),
)


@pytest.fixture
def upload(app, auth):
    client = app.test_client()
    headers = auth("score", "personal")

    def post(data: bytes, filename: str):
        files = {"file": (io.BytesIO(data), filename)}
        return client.post("/api/v1/batches", data=files, headers=headers)

    return post


@settings(FUZZ, max_examples=20, suppress_health_check=list(HealthCheck))
@given(file=uploads)
def test_uploads_of_damaged_files_get_a_4xx_never_a_5xx(upload, file):
    response = upload(*file)
    assert response.status_code in (201, 202, 422), response.get_data(as_text=True)
    if response.status_code == 422:
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["errors"][0]["field"] == "file"
