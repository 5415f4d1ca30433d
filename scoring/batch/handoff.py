"""Prepared chunks handed to a pool process through a file instead of a pipe.

Pickled, a chunk of 25,000 CSV rows is 8 MB: this process copied it into the pickle
(11 ms), the pipe carried it only once the pool process asked for its next chunk, and
the pool process copied it out again (7 ms). Written as an Arrow IPC file, it is copied
once into the page cache here, and the pool process maps it and reads its columns where
they lie. A table with a column that is not held by Arrow (Python objects: lists as an
XLSX or JSON Lines file gives them) is pickled as before.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa

from scoring.contract.validate import PreparedTable


@dataclass
class ChunkFile:
    """A prepared chunk whose frame waits in ``path``; the rest of it travels as it is."""

    path: Path
    table: PreparedTable  # its frame empty

    def load(self) -> PreparedTable:
        """The chunk with its frame read from the file (mapped, not copied); the file is
        deleted, its pages stay mapped as long as the columns live."""
        with pa.memory_map(str(self.path)) as source:
            arrow = pa.ipc.open_file(source).read_all()
        self.path.unlink()
        frame = pd.DataFrame(
            {
                name: pd.Series(pd.arrays.ArrowExtensionArray(column), copy=False)
                for name, column in zip(arrow.column_names, arrow.columns, strict=True)
            },
            index=pd.RangeIndex(arrow.num_rows),
        )
        return replace(self.table, frame=frame)


class Handoff:
    """A temporary folder for the chunks on their way to the pool; ``close`` removes it (a
    run killed outright leaves it, a few chunks at most, to the system's cleaning of its
    temporary folder). Where no folder can be made or a file written (no temporary space
    left), chunks are pickled as before: slower, never lost."""

    def __init__(self) -> None:
        try:
            self.folder: Path | None = Path(tempfile.mkdtemp(prefix="sme-export-chunks-"))
        except OSError:
            self.folder = None
        self._count = 0

    def ship(self, table: PreparedTable) -> PreparedTable | ChunkFile:
        """``table`` to send to a pool process: a ``ChunkFile`` when every column of its
        frame is held by Arrow, else the table itself (pickled on its way)."""
        arrow = _arrow_table(table.frame) if self.folder is not None else None
        if arrow is None:
            return table
        self._count += 1
        path = self.folder / f"{self._count:07d}.arrow"
        try:
            with (
                pa.OSFile(str(path), "wb") as sink,
                pa.ipc.new_file(sink, arrow.schema) as writer,
            ):
                writer.write_table(arrow)
        except (OSError, pa.ArrowIOError):
            path.unlink(missing_ok=True)
            return table
        return ChunkFile(path, replace(table, frame=table.frame.iloc[:0, :0]))

    def close(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _arrow_table(frame: pd.DataFrame) -> pa.Table | None:
    """The frame's columns as one Arrow table with a plain index, or None if some column
    is not an Arrow array (or the index is not 0 to n - 1)."""
    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        return None
    if frame.columns.has_duplicates or not all(isinstance(n, str) for n in frame.columns):
        return None
    columns = []
    for name in frame.columns:
        values = frame[name].array
        # Exactly this type: a column of another dtype (str, numbers, objects) would come
        # back as an Arrow one; it is pickled instead.
        if type(values) is not pd.arrays.ArrowExtensionArray:
            return None
        array = pa.array(values)
        columns.append(array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array)
    return pa.table(columns, names=list(frame.columns))
