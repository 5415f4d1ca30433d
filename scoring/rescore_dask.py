"""Rescoring on a Dask cluster: the same scoring function over the row groups of a Parquet file.

The input is read with ``dask.dataframe.read_parquet``, one partition per row group. The
scorer (model and ruleset) is scattered to every worker once; each partition is validated
and scored there exactly as ``scoring.rescore`` scores a chunk (``result_frame``, same row
numbers, same Parquet encoding), written by the worker as one file of a Parquet dataset,
and only its rejected rows travel back. The dataset is written to ``OUT.part/`` and renamed
to ``OUT`` at the end; on a remote cluster (``scheduler``), ``OUT`` must be on storage the
workers share. Needs the ``distributed`` extra: ``pip install '.[distributed]'``.
"""

from __future__ import annotations

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

from scoring.engine import Scorer, now_utc
from scoring.errors import FileFormatError, RescoreError
from scoring.readers import RawTable, detect_format, normalise_header
from scoring.rescore import (
    OutputPaths,
    RescoreSummary,
    check_writable,
    empty_output,
    encode,
    rejected_frame,
    result_frame,
)
from scoring.validate import validate_table

DEFAULT_DASK_WORKERS = 2
INSTALL_HINT = "pip install '.[distributed]'"
_PART = "part-{:06d}.parquet"


def _score_partition(
    part: pd.DataFrame,
    scorer: Scorer,
    first_rows: np.ndarray,
    dest: str,
    source: str,
    scored_at: str,
    partition_info: dict | None = None,
) -> pd.DataFrame:
    """Score one partition on a worker, write its results, return its rejected rows."""
    number = partition_info["number"] if partition_info else 0
    raw = RawTable(
        part.reset_index(drop=True),
        first_row_number=int(first_rows[number]),
        decimal=".",
        source=source,
    )
    batch = validate_table(raw)
    if batch.scored:
        path = Path(dest) / _PART.format(number)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(encode(result_frame(scorer, batch, scored_at=scored_at), "parquet"))
        temporary.replace(path)  # a retried task rewrites the same file
    return rejected_frame(batch.errors)


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


def _first_rows(ddf, source: Path) -> np.ndarray:
    """Row number (from 1) of each partition's first row: from the Parquet metadata when the
    partitions are its row groups, else by counting each partition's rows."""
    metadata = pq.ParquetFile(source).metadata
    lengths = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    if len(lengths) != ddf.npartitions or 0 in lengths:
        lengths = list(ddf.map_partitions(len).compute())
    return np.concatenate([[1], 1 + np.cumsum(lengths)[:-1]]).astype(np.int64)


def _check_paths(source: Path, paths: OutputPaths) -> None:
    if paths.out.suffix.lower() != ".parquet":
        raise RescoreError("the dask engine writes a Parquet dataset: give --out a .parquet name")
    with source.open("rb") as handle:
        fmt = detect_format(source.name, handle.read(64 * 1024))
    if fmt != "parquet":
        raise RescoreError(
            f"{source.name}: the dask engine reads Parquet; use --engine pandas for {fmt} files"
        )
    if paths.out.is_dir() and any(not _is_part(p) for p in paths.out.iterdir()):
        raise RescoreError(f"{paths.out} is a directory that is not an earlier result; keep it")
    check_writable(paths.out)


def _is_part(path: Path) -> bool:
    return path.name.startswith("part-") and path.name.endswith(".parquet")


def rescore_dask(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    workers: int = DEFAULT_DASK_WORKERS,
    scorer: Scorer | None = None,
    models_dir: Path | None = None,
    ruleset_path: Path | None = None,
    scored_at: str | None = None,
    progress: bool = False,
) -> RescoreSummary:
    """Score every row of the Parquet file ``source`` into the Parquet dataset ``out`` on a
    ``LocalCluster`` of ``workers`` processes, or on the cluster at ``scheduler``."""
    try:
        import dask.dataframe as dd
        import distributed  # noqa: F401
    except ImportError as exc:
        raise RescoreError(f"the dask engine needs the distributed extra: {INSTALL_HINT}") from exc
    source, paths = Path(source), OutputPaths(Path(out))
    _check_paths(source, paths)
    if scorer is None:
        scorer = Scorer.load(models_dir=models_dir, ruleset_path=ruleset_path)
    scored_at = scored_at or now_utc()
    partial = paths.partial
    if partial.is_dir():
        shutil.rmtree(partial)
    partial.unlink(missing_ok=True)
    partial.mkdir()
    try:
        with _client(scheduler, workers) as client:
            ddf = dd.read_parquet(str(source), split_row_groups=True)
            names = [normalise_header(name) for name in ddf.columns]
            if len(set(names)) != len(names):
                raise FileFormatError(f"{source.name}: two columns have the same name")
            ddf = ddf.rename(columns=dict(zip(ddf.columns, names, strict=True)))
            first_rows = _first_rows(ddf, source)
            shipped = client.scatter([scorer, first_rows], broadcast=True)
            try:
                rejected = _run(
                    ddf.map_partitions(
                        _score_partition,
                        *shipped,
                        str(partial.resolve()),
                        source.name,
                        scored_at,
                        meta=rejected_frame([]),
                    ),
                    first_rows,
                    total=pq.ParquetFile(source).metadata.num_rows,
                    progress=progress,
                )
            finally:
                client.cancel(shipped)
        received = int(pq.ParquetFile(source).metadata.num_rows)
        if not any(partial.glob("part-*.parquet")):
            empty = empty_output(scorer, fmt="parquet", scored_at=scored_at)
            (partial / _PART.format(0)).write_bytes(empty)
        rejected_file = _finish(paths, rejected)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return RescoreSummary(
        out=paths.out,
        rejected_file=rejected_file,
        received=received,
        scored=received - len(rejected),
        rejected=len(rejected),
        chunks=len(first_rows),
        resumed_chunks=0,
    )


def _run(scored, first_rows: np.ndarray, *, total: int, progress: bool) -> pd.DataFrame:
    """Compute every partition; the rejected rows of all, ordered by row."""
    from distributed import as_completed, futures_of

    scored = scored.persist()
    ends = np.append(first_rows[1:], total + 1)
    with tqdm(
        total=total, unit=" rows", unit_scale=True, desc="rescoring", disable=not progress
    ) as bar:
        for future in as_completed(futures_of(scored)):
            number = future.key[1]
            bar.update(int(ends[number] - first_rows[number]))
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
