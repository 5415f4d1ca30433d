"""Rescoring on a Dask cluster: the same scoring function over a Parquet or CSV file.

A Parquet input is read with ``dask.dataframe.read_parquet``, one partition per row group; a
CSV input with ``dask.dataframe.read_csv`` in blocks of lines, parsed with the options and
locale (separator, decimal comma) the pandas engine reads it with
(``scoring.files.delimited.CsvLayout``). The scorer (model and ruleset) is scattered to
every worker once; each partition is validated and scored there exactly as
``scoring.batch.rescore`` scores a chunk (``result_frame``, same row numbers, same Parquet
encoding), written by the worker as one file of a Parquet dataset, and only its rejected
rows travel back. The dataset is written to ``OUT.part/`` and renamed to ``OUT`` at the end;
on a remote cluster (``scheduler``), ``OUT`` must be on storage the workers share. Needs the
``distributed`` extra: ``pip install '.[distributed]'``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from tqdm import tqdm

from scoring.batch.checkpoint import OutputPaths, check_writable, resume_checkpoint
from scoring.batch.results import (
    RescoreSummary,
    empty_output,
    encode,
    rejected_frame,
    result_frame,
)
from scoring.contract.seen_ids import SeenIds, first_rows_of_repeats, table_ids
from scoring.contract.validate import validate_table
from scoring.engine import Scorer, now_utc
from scoring.errors import FileFormatError, RescoreError
from scoring.files.delimited import CsvLayout, csv_layout
from scoring.files.layout import normalise_header
from scoring.files.readers import detect_format, iter_tables
from scoring.files.table import RawTable

DEFAULT_DASK_WORKERS = 2
INPUT_FORMATS = ("parquet", "csv")
#: Bytes of CSV per partition.
CSV_BLOCK_BYTES = 64 * 2**20
INSTALL_HINT = "pip install '.[distributed]'"
_PART = "part-{:06d}.parquet"
_DONE = "{:06d}.json"


def _partition_table(
    part: pd.DataFrame, first_row: int, source: str, layout: CsvLayout | None
) -> RawTable:
    if layout is None:
        return RawTable(part.reset_index(drop=True), first_row, decimal=".", source=source)
    return layout.table(part, first_row)


def _partition_ids(
    part: pd.DataFrame,
    first_rows: np.ndarray,
    source: str,
    layout: CsvLayout | None = None,
    partition_info: dict | None = None,
) -> pd.DataFrame:
    """Each row's ``sme_id`` (as validation reads it) and row number, for finding the ids a
    file repeats across partitions."""
    number = partition_info["number"] if partition_info else 0
    raw = _partition_table(part, int(first_rows[number]), source, layout)
    return pd.DataFrame({"sme_id": table_ids(raw), "row": raw.source_rows()})


def _score_partition(
    part: pd.DataFrame,
    scorer: Scorer,
    first_rows: np.ndarray,
    repeats: dict[str, int],
    dest: str,
    done: str,
    source: str,
    scored_at: str,
    layout: CsvLayout | None = None,
    partition_info: dict | None = None,
) -> pd.DataFrame:
    """Score one partition on a worker, write its results, return its rejected rows; a
    partition an interrupted run finished is not scored again. ``repeats`` (the first row of
    every id the file gives more than once) rejects a repeat in any partition but the first
    row's."""
    number = partition_info["number"] if partition_info else 0
    record = Path(done) / _DONE.format(number)
    if record.exists():
        return _rejected_from(json.loads(record.read_text(encoding="utf-8")))
    raw = _partition_table(part, int(first_rows[number]), source, layout)
    batch = validate_table(raw, seen_ids=SeenIds(repeats))
    if batch.scored:
        results = encode(result_frame(scorer, batch, scored_at=scored_at), "parquet")
        _write_whole(Path(dest) / _PART.format(number), results)  # a retry rewrites the file
    rejected = rejected_frame(batch.errors)
    finished = {**_rejected_record(rejected), "skipped": len(batch.skipped)}
    _write_whole(record, json.dumps(finished).encode())
    return rejected


def _write_whole(path: Path, data: bytes) -> None:
    """``path`` holds all of ``data`` or is not there: written beside it, then renamed."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _rejected_record(rejected: pd.DataFrame) -> dict:
    return {
        "row": [int(row) for row in rejected["row"]],
        "sme_id": rejected["sme_id"].tolist(),
        "errors": rejected["errors"].tolist(),
    }


def _rejected_from(record: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.Series(record["row"], dtype="int64"),
            "sme_id": pd.Series(record["sme_id"], dtype=object),
            "errors": pd.Series(record["errors"], dtype=object),
        }
    )


@contextmanager
def _client(scheduler: str | None, workers: int) -> Iterator:
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise RescoreError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _bounds(ddf, source: Path, layout: CsvLayout | None) -> np.ndarray:
    """Row number of each partition's first row, and one past the last row (Parquet rows count
    from 1, CSV records after the header's): from the Parquet metadata when the partitions are
    its row groups, else by counting each partition's rows (for CSV: parsing it once more)."""
    lengths: list[int] = []
    if layout is None:
        metadata = pq.ParquetFile(source).metadata
        lengths = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    if len(lengths) != ddf.npartitions or 0 in lengths:
        lengths = list(ddf.map_partitions(len).compute())
    first = 1 if layout is None else layout.header_row + 1
    return first + np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


@contextmanager
def _csv_errors(source: Path, layout: CsvLayout | None) -> Iterator[None]:
    """A CSV the workers cannot parse is refused with the pandas engine's message."""
    try:
        yield
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        if layout is None:
            raise
        for _ in iter_tables(source):  # raises the reader's FileFormatError with the row
            pass
        raise FileFormatError(f"{source.name}: cannot read as CSV ({exc})") from exc


def _read(dd, source: Path, layout: CsvLayout | None):
    """The input as a dask dataframe with the contract's column names (Parquet) or the
    positional columns ``layout.table`` names (CSV)."""
    if layout is not None:
        # Dask cuts CSV at line ends: a quoted value spanning lines keeps the file whole.
        blocksize = None if _line_break_in_quotes(source) else CSV_BLOCK_BYTES
        sample = min(blocksize or CSV_BLOCK_BYTES, 256_000)  # the header is in the first block
        options = layout.read_csv_options()
        return dd.read_csv(str(source), blocksize=blocksize, sample=sample, **options)
    ddf = dd.read_parquet(str(source), split_row_groups=True)
    names = [normalise_header(name) for name in ddf.columns]
    if len(set(names)) != len(names):
        raise FileFormatError(f"{source.name}: two columns have the same name")
    return ddf.rename(columns=dict(zip(ddf.columns, names, strict=True)))


def _repeated_ids(
    ddf, first_rows: np.ndarray, source: str, layout: CsvLayout | None
) -> dict[str, int]:
    """The first row of every ``sme_id`` given more than once in the whole file (one pass
    over the ids before scoring, as the pandas engine's one set of ids across chunks)."""
    meta = pd.DataFrame({"sme_id": pd.Series(dtype=object), "row": pd.Series(dtype=np.int64)})
    if layout is None and "sme_id" in ddf.columns:
        ddf = ddf[["sme_id"]]  # Parquet reads the one column
    ids = ddf.map_partitions(_partition_ids, first_rows, source, layout, meta=meta)
    return first_rows_of_repeats(ids.compute())


def _line_break_in_quotes(source: Path, block: int = 1 << 24) -> bool:
    """Whether a line break of ``source`` lies inside quotes (an odd number of quotes before
    it): such a CSV cannot be cut at line ends."""
    quotes_before = 0
    with source.open("rb") as handle:
        while data := handle.read(block):
            raw = np.frombuffer(data, dtype=np.uint8)
            quotes = np.flatnonzero(raw == ord('"'))
            breaks = np.flatnonzero((raw == ord("\n")) | (raw == ord("\r")))
            if ((quotes_before + np.searchsorted(quotes, breaks)) % 2).any():
                return True
            quotes_before += len(quotes)
    return False


def _check_paths(source: Path, paths: OutputPaths) -> CsvLayout | None:
    """Refuse what the engine cannot do; the layout of a CSV input (None for Parquet)."""
    if paths.out.suffix.lower() != ".parquet":
        raise RescoreError("the dask engine writes a Parquet dataset: give --out a .parquet name")
    with source.open("rb") as handle:
        head = handle.read(64 * 1024)
    fmt = detect_format(source.name, head)
    if fmt not in INPUT_FORMATS:
        raise RescoreError(
            f"{source.name}: the dask engine reads Parquet and CSV; "
            f"use --engine pandas for {fmt} files"
        )
    if paths.out.is_dir() and any(not _is_part(p) for p in paths.out.iterdir()):
        raise RescoreError(f"{paths.out} is a directory that is not an earlier result; keep it")
    check_writable(paths.out)
    return csv_layout(head, source.name) if fmt == "csv" else None


def _is_part(path: Path) -> bool:
    return path.name.startswith("part-") and path.name.endswith(".parquet")


def rescore_dask(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    workers: int = DEFAULT_DASK_WORKERS,
    resume: bool = False,
    scorer: Scorer | None = None,
    models_dir: Path | None = None,
    ruleset_path: Path | None = None,
    scored_at: str | None = None,
    progress: bool = False,
) -> RescoreSummary:
    """Score every row of the Parquet or CSV file ``source`` into the Parquet dataset ``out``
    on a ``LocalCluster`` of ``workers`` processes, or on the cluster at ``scheduler``;
    ``resume`` continues a run that was interrupted."""
    try:
        import dask.dataframe as dd
        import distributed  # noqa: F401
    except ImportError as exc:
        raise RescoreError(f"the dask engine needs the distributed extra: {INSTALL_HINT}") from exc
    source, paths = Path(source), OutputPaths(Path(out))
    layout = _check_paths(source, paths)
    if scorer is None:
        scorer = Scorer.load(models_dir=models_dir, ruleset_path=ruleset_path, estimator=False)
    checkpoint, fresh = resume_checkpoint(
        paths,
        source,
        scorer,
        {"engine": "dask", "csv_block_bytes": None if layout is None else CSV_BLOCK_BYTES},
        resume=resume,
        scored_at=scored_at or now_utc(),
    )
    partial, done = paths.partial, _done_folder(paths)
    finished = _prepare(paths, fresh=fresh)
    checkpoint.save(paths.checkpoint)
    try:
        with _client(scheduler, workers) as client, _csv_errors(source, layout):
            ddf = _read(dd, source, layout)
            bounds = _bounds(ddf, source, layout)
            repeats = _repeated_ids(ddf, bounds[:-1], source.name, layout)
            shipped = client.scatter([scorer.portable(), bounds[:-1], repeats], broadcast=True)
            try:
                rejected = _run(
                    ddf.map_partitions(
                        _score_partition,
                        *shipped,
                        str(partial.resolve()),
                        str(done.resolve()),
                        source.name,
                        checkpoint.scored_at,
                        layout,
                        meta=rejected_frame([]),
                    ),
                    bounds,
                    finished=finished,
                    progress=progress,
                )
            finally:
                client.cancel(shipped)
        scored = sum(pq.ParquetFile(p).metadata.num_rows for p in partial.glob("part-*.parquet"))
        if not any(partial.glob("part-*.parquet")):
            empty = empty_output(scorer, fmt="parquet", scored_at=checkpoint.scored_at)
            (partial / _PART.format(0)).write_bytes(empty)
        rejected_file = _finish(paths, rejected)
    except BaseException as exc:
        # A broken input fails again on resume; otherwise keep finished partitions for it.
        if isinstance(exc, FileFormatError) or not any(done.glob("*.json")):
            _discard(paths)
        raise
    skipped = _skipped_rows(done)
    shutil.rmtree(done)
    paths.checkpoint.unlink()
    return RescoreSummary(
        out=paths.out,
        rejected_file=rejected_file,
        received=scored + len(rejected),
        scored=scored,
        rejected=len(rejected),
        chunks=len(bounds) - 1,
        resumed_chunks=len(finished),
        skipped=skipped,
    )


def _skipped_rows(done: Path) -> int:
    """The non-data rows (totals, notes, signatures) the partitions skipped, from the records
    they left (a resumed run's included)."""
    records = (json.loads(path.read_text(encoding="utf-8")) for path in done.glob("*.json"))
    return sum(record.get("skipped", 0) for record in records)


def _done_folder(paths: OutputPaths) -> Path:
    return paths.out.with_name(paths.out.name + ".part.done")


def _prepare(paths: OutputPaths, *, fresh: bool) -> set[int]:
    """Empty folders for a fresh run; for a resumed one, the partitions already finished
    (files cut off by the interruption are removed)."""
    partial, done = paths.partial, _done_folder(paths)
    if fresh:
        _discard(paths)
        partial.mkdir()
        done.mkdir()
        return set()
    if not (partial.is_dir() and done.is_dir()):
        raise RescoreError(
            f"{partial.name} lacks the partitions its checkpoint lists; rerun without --resume"
        )
    for leftover in [*partial.glob("*.tmp"), *done.glob("*.tmp")]:
        leftover.unlink()
    finished = set()
    for record in done.glob("*.json"):
        try:
            _rejected_from(json.loads(record.read_text(encoding="utf-8")))
            finished.add(int(record.stem))
        except (ValueError, KeyError, TypeError):  # proves nothing: score the partition again
            record.unlink()
    return finished


def _discard(paths: OutputPaths) -> None:
    for folder in (paths.partial, _done_folder(paths)):
        if folder.is_dir():
            shutil.rmtree(folder)
        folder.unlink(missing_ok=True)
    paths.checkpoint.unlink(missing_ok=True)


def _run(scored, bounds: np.ndarray, *, finished: set[int], progress: bool) -> pd.DataFrame:
    """Compute every partition; the rejected rows of all, ordered by row."""
    from distributed import as_completed, futures_of

    scored = scored.persist()
    rows = np.diff(bounds)
    with tqdm(
        total=int(rows.sum()),
        initial=int(sum(rows[i] for i in finished if i < len(rows))),
        unit=" rows",
        unit_scale=True,
        desc="rescoring",
        disable=not progress,
    ) as bar:
        for future in as_completed(futures_of(scored)):
            if future.key[1] not in finished:
                bar.update(int(rows[future.key[1]]))
    rejected = scored.compute()
    return rejected.sort_values("row", kind="stable").reset_index(drop=True)


def _finish(paths: OutputPaths, rejected: pd.DataFrame) -> Path | None:
    out = paths.out
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    paths.partial.replace(out)
    if len(rejected):
        paths.rejected_partial.write_bytes(encode(rejected, "csv"))
        paths.rejected_partial.replace(paths.rejected)
        return paths.rejected
    paths.rejected.unlink(missing_ok=True)
    return None
