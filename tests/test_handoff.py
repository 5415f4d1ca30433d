"""Chunks handed to a pool process through an Arrow file arrive as they left: the same
columns, types and cells, validated the same; tables of Python objects travel pickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from scoring.batch.chunks import InputChunks
from scoring.batch.handoff import ChunkFile, Handoff
from scoring.contract.validate import PreparedTable, validate_prepared
from scoring.files.writers import write_table
from scoring.model import synth


@pytest.fixture
def handoff():
    shipping = Handoff()
    yield shipping
    shipping.close()


def prepared(tmp_path: Path, fmt: str):
    frame = synth.generate_profiles(300, seed=3).drop(columns=[synth.LABEL])
    frame.loc[4, "employees"] = -1  # a rejected row, reported the same on both sides
    frame.loc[7, "sme_id"] = frame.loc[2, "sme_id"]  # a repeated id
    source = tmp_path / f"in.{fmt}"
    write_table(frame, source, format=fmt)
    return next(iter(InputChunks(source, chunk_rows=1_000, skip=0))).table.portable()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_chunk_read_back_from_its_file_is_the_chunk_that_was_shipped(tmp_path, handoff, fmt):
    table = prepared(tmp_path, fmt)
    shipped = handoff.ship(table)
    assert isinstance(shipped, ChunkFile)
    arrived = pickle.loads(pickle.dumps(shipped)).load()  # as the pool process gets it
    pd.testing.assert_frame_equal(arrived.frame, table.frame)
    assert arrived.repeats == table.repeats and arrived.repeats  # the id repeated in row 9
    assert arrived.row_numbers.tolist() == table.row_numbers.tolist()
    before, after = validate_prepared(table), validate_prepared(arrived)
    pd.testing.assert_frame_equal(after.profiles, before.profiles)
    assert [e.errors for e in after.errors] == [e.errors for e in before.errors]
    assert len(after.errors) == 2
    assert not shipped.path.exists()  # read once, then deleted


def test_a_table_of_python_objects_travels_pickled(handoff):
    frame = pd.DataFrame({"sme_id": ["A-1"], "certifications": [["SNI", "HALAL"]]})
    table = PreparedTable(frame, np.array([2]), ".", "x.xlsx", False, {})
    assert handoff.ship(table) is table
    assert list(handoff.folder.iterdir()) == []


def test_the_folder_is_removed_on_close(tmp_path):
    shipping = Handoff()
    frame = pd.DataFrame({"sme_id": pd.Series(pd.arrays.ArrowExtensionArray(pa.array(["A"])))})
    shipped = shipping.ship(PreparedTable(frame, np.array([2]), ".", "x.csv", False, {}))
    assert shipped.path.exists()
    shipping.close()
    assert not shipping.folder.exists()


def test_without_temporary_space_chunks_travel_pickled(tmp_path, monkeypatch):
    import tempfile

    def no_space(**_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", no_space)
    shipping = Handoff()
    table = prepared(tmp_path, "csv")
    assert shipping.folder is None
    assert shipping.ship(table) is table
    shipping.close()


def test_a_chunk_file_that_cannot_be_written_travels_pickled(tmp_path, handoff, monkeypatch):
    table = prepared(tmp_path, "csv")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pa, "OSFile", full)
    assert handoff.ship(table) is table
    assert list(handoff.folder.iterdir()) == []
