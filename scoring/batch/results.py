"""What a run writes: scored and rejected rows as frames and encoded files, and its summary."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scoring.contract.fields import PROFILE_COLUMNS
from scoring.contract.validate import RowError, ValidatedBatch, validate_table
from scoring.engine import Scorer
from scoring.errors import RescoreError
from scoring.files.table import RawTable
from scoring.files.writers import TableWriter

OUTPUT_FORMATS = ("csv", "parquet", "jsonl")


def output_format(out: Path) -> str:
    """``csv``, ``parquet`` or ``jsonl`` from the output's extension."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in OUTPUT_FORMATS:
        raise RescoreError(
            f"{out.name}: the output must end in "
            f"{', '.join('.' + f for f in OUTPUT_FORMATS)} to be written chunk by chunk"
        )
    return fmt


def result_frame(scorer: Scorer, batch: ValidatedBatch, *, scored_at: str) -> pd.DataFrame:
    """The flat results of a validated batch: ``row``, then ``ScoreTable.to_frame``'s columns."""
    flat = scorer.score(batch.profiles, assumed=batch.assumed, scored_at=scored_at).to_frame()
    flat.insert(0, "row", batch.row_numbers)
    # An empty frame has object columns where a scored one has text: give both the same type.
    text = [name for name in flat.columns if flat[name].dtype == object]
    return flat.astype(dict.fromkeys(text, "str")) if text else flat


def rejected_frame(errors: list[RowError]) -> pd.DataFrame:
    """The side file's rows: row number, ``sme_id`` where readable, every error on one line."""
    return pd.DataFrame(
        {
            "row": pd.Series([e.row for e in errors], dtype="int64"),
            "sme_id": pd.Series([e.sme_id for e in errors], dtype=object),
            "errors": pd.Series(
                ["; ".join(f"{x['field']}: {x['message']}" for x in e.errors) for e in errors],
                dtype=object,
            ),
        }
    )


def empty_output(scorer: Scorer, *, fmt: str, scored_at: str) -> bytes:
    """The output file of a run that scored no row: the columns and nothing else."""
    frame = pd.DataFrame({name: pd.Series([], dtype=object) for name in PROFILE_COLUMNS})
    batch = validate_table(RawTable(frame, first_row_number=1, decimal=".", source="empty"))
    return encode(result_frame(scorer, batch, scored_at=scored_at), fmt)


def encode(frame: pd.DataFrame, fmt: str) -> bytes:
    """``frame`` as a complete CSV, JSON Lines or Parquet file, through ``TableWriter``."""
    buffer = io.BytesIO()
    with TableWriter(buffer, format=fmt) as writer:
        writer.write(frame)
    return buffer.getvalue()


@dataclass
class RescoreSummary:
    """What a run did; ``received == scored + rejected``, over the whole file."""

    out: Path
    rejected_file: Path | None
    received: int
    scored: int
    rejected: int
    chunks: int
    resumed_chunks: int
    first_errors: list[RowError] = field(default_factory=list)
    skipped: int = 0  # non-data rows of an office spreadsheet, not counted in received
