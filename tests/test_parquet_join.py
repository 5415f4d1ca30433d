"""Parquet files joined by copying their row groups' bytes: the file pyarrow writes from the
same rows, to the byte; other schemas encoded again; files that are no Parquet refused."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.files.parquet_join import NotJoinable, ParquetJoin


def parquet_bytes(*tables: pa.Table, **options) -> bytes:
    """``tables`` written one after another through one writer: a row group (or more) each."""
    buffer, group = io.BytesIO(), options.pop("row_group_size", None)
    with pq.ParquetWriter(buffer, tables[0].schema, **options) as writer:
        for table in tables:
            writer.write_table(table, row_group_size=group)
    return buffer.getvalue()


def joined(*files: bytes) -> bytes:
    buffer = io.BytesIO()
    join = ParquetJoin(buffer)
    for data in files:
        join.add(data)
    join.close()
    return buffer.getvalue()


def cohort(start: int, rows: int) -> pa.Table:
    """Columns like a scored chunk's: ids, numbers with gaps, categories, lists, flags."""
    ids = range(start, start + rows)
    return pa.table(
        {
            "row": pa.array(ids, pa.int64()),
            "sme_id": pa.array([f"SME-{i:07d}" for i in ids], pa.string()),
            "score": pa.array([None if i % 7 == 0 else i / 3 for i in ids], pa.float64()),
            "tier": pa.array([("ready", "nearly", "not ready")[i % 3] for i in ids], pa.string()),
            "actions": pa.array(
                [[f"a{i % 5}", f"b{i % 4}"][: i % 3] for i in ids], pa.list_(pa.string())
            ),
            "knocked_out": pa.array([i % 11 == 0 for i in ids], pa.bool_()),
        }
    )


def test_joined_files_are_the_file_one_writer_gives_byte_for_byte():
    parts = [cohort(0, 2_500), cohort(2_500, 2_500), cohort(5_000, 1_234)]
    expected = parquet_bytes(*parts)
    assert joined(*(parquet_bytes(part) for part in parts)) == expected
    assert pq.read_table(io.BytesIO(expected)).equals(pa.concat_tables(parts))


def test_files_of_several_row_groups_and_more_than_fifteen_in_all_keep_their_order():
    parts = [cohort(1_000 * n, 1_000) for n in range(8)]  # 3 row groups each: 24 in all
    files = [parquet_bytes(part, row_group_size=400) for part in parts]
    result = joined(*files)
    assert result == parquet_bytes(*parts, row_group_size=400)
    metadata = pq.read_metadata(io.BytesIO(result))
    assert metadata.num_row_groups == 24
    assert metadata.num_rows == 8_000
    assert pq.read_table(io.BytesIO(result)).equals(pa.concat_tables(parts))


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 300), min_size=1, max_size=18), group=st.integers(50, 400))
def test_any_cut_of_the_rows_joins_to_the_one_writers_file(sizes, group):
    parts, start = [], 0
    for size in sizes:
        parts.append(cohort(start, size))
        start += size
    files = [parquet_bytes(part, row_group_size=group) for part in parts]
    assert joined(*files) == parquet_bytes(*parts, row_group_size=group)


def test_a_file_of_another_schema_is_cast_to_the_first_ones():
    first = cohort(0, 100)
    other = cohort(100, 50).set_column(0, "row", pa.array(range(100, 150), pa.int32()))
    nulls = cohort(150, 20).set_column(2, "score", pa.nulls(20))  # no value: null type
    result = pq.read_table(
        io.BytesIO(joined(parquet_bytes(first), parquet_bytes(other), parquet_bytes(nulls)))
    )
    assert result.schema.equals(first.schema)
    assert result["row"].to_pylist() == list(range(170))
    assert result["score"].to_pylist()[150:] == [None] * 20
    assert result.slice(100, 50).equals(other.cast(first.schema))


def test_files_with_page_indexes_and_statistics_read_back_whole():
    parts = [cohort(0, 3_000), cohort(3_000, 3_000)]
    files = [parquet_bytes(part, write_page_index=True, data_page_size=4_096) for part in parts]
    result = io.BytesIO(joined(*files))
    column = pq.read_metadata(result).row_group(1).column(1)
    assert column.has_column_index and column.has_offset_index
    assert column.statistics.min == "SME-0003000" and column.statistics.max == "SME-0005999"
    filtered = pq.read_table(result, filters=[("row", ">=", 5_990)])
    assert filtered["row"].to_pylist() == list(range(5_990, 6_000))


def test_no_file_added_writes_nothing():
    assert joined() == b""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not parquet at all", "no PAR1 at its start and end"),
        (b"PAR1" + b"\x00" * 8 + b"\xff\xff\x00\x00PAR1", "footer's length is out of range"),
        (b"PAR1\x00\x19\x1c\x15\x03\x00\x00\x00PAR1", "its footer ends too soon"),
    ],
)
def test_a_file_that_is_no_parquet_is_refused(data, message):
    with pytest.raises(NotJoinable, match=message):
        joined(parquet_bytes(cohort(0, 10)), data)


def test_a_file_whose_columns_do_not_cast_to_the_first_ones_is_refused():
    words = cohort(100, 5).set_column(0, "row", pa.array(["a", "b", "c", "d", "e"]))
    with pytest.raises(NotJoinable, match="cannot be read as the first file's"):
        joined(parquet_bytes(cohort(0, 10)), parquet_bytes(words))
