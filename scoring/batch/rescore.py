"""Rescore a file of any size chunk by chunk: bounded memory, parallel, resumable.

``rescore`` reads the input in chunks (``readers.iter_tables``), validates each chunk and
scores it with the one scoring function (``Scorer.score(...).to_frame()`` plus a ``row``
column), and writes the results as it goes, in input order. Rejected rows go to a side file
as they appear. This process reads and validates every chunk; with ``workers > 1`` it hands
chunks to ``workers - 1`` pool processes (each sent ``Scorer.portable()`` once, when it
starts) while they have room, and scores the others itself. The cyclic garbage collector
runs rarely during a run: the chunks' many small objects would otherwise set it off again
and again.

Everything is written beside the output under names that never look complete, and renamed
into place at the end: ``OUT.part`` (CSV and JSON Lines, appended; Parquet: one file per
chunk under ``OUT.part.chunks/``, and ``OUT.part`` with each chunk's row group bytes copied
in as it comes and one footer at the end), ``<stem>.rejected.csv.part``, and
``OUT.part.checkpoint``, a small JSON file that names the input (size, modification time,
hash of its head), the settings, and how many chunks, rows and bytes are complete. A killed
run resumes from there: partial output past the last complete chunk is cut off, finished
chunks are read but not scored again.

This module writes the partial output and runs the whole; the input's chunks are read in
``chunks``, scored in ``workers``, turned into rows and files in ``results``, and the
checkpoint and the files beside the output are described in ``checkpoint``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm

from scoring.batch.checkpoint import (
    Checkpoint,
    OutputPaths,
    check_writable,
    resume_checkpoint,
    temporary_path,
)
from scoring.batch.chunks import Chunk, InputChunks
from scoring.batch.results import (
    RescoreSummary,
    empty_output,
    encode,
    output_format,
    rejected_frame,
)
from scoring.batch.workers import ChunkScorer, arrow_on_malloc, fewer_collections
from scoring.contract.validate import RowError
from scoring.engine import Scorer, now_utc
from scoring.errors import FileFormatError, RescoreError
from scoring.files.parquet_join import NotJoinable, ParquetJoin

DEFAULT_CHUNK_ROWS = 25_000
#: Scoring processes; two are faster than one on two cores for 1M rows (docs/benchmarks.md).
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)
#: Rows left below which a run stays in one process: starting the workers costs more.
POOL_MIN_ROWS = 300_000
_CRLF = b"\r\n"


# --- the partial output -----------------------------------------------------------------


class _PartialOutput:
    """``OUT.part`` and the side file, appended one complete chunk at a time."""

    def __init__(self, paths: OutputPaths, fmt: str, checkpoint: Checkpoint, *, fresh: bool):
        self.paths, self.format, self.checkpoint = paths, fmt, checkpoint
        self._out = None
        self._joined: _ParquetJoin | None = None
        if fmt == "parquet":
            if fresh and paths.parts.exists():
                shutil.rmtree(paths.parts)
            paths.parts.mkdir(exist_ok=True)
            for part in paths.parts.iterdir():  # chunks written after the last checkpoint
                if not part.name.endswith(".parquet") or _part_index(part) >= self.done:
                    part.unlink()
            if len(list(paths.parts.iterdir())) != checkpoint.out_parts:
                raise RescoreError(
                    f"{paths.parts.name} lacks chunks its checkpoint lists; rerun without --resume"
                )
            paths.partial.unlink(missing_ok=True)
            # A fresh run joins the parts as they come; a resumed one at the end.
            self._joined = _ParquetJoin(paths.partial) if fresh else None
        else:
            self._out = _open_at(paths.partial, 0 if fresh else checkpoint.out_bytes)
        self._rejected = _open_at(paths.rejected_partial, 0 if fresh else checkpoint.rejected_bytes)

    @property
    def done(self) -> int:
        return self.checkpoint.chunks_done

    def commit(self, chunk: Chunk, payload: bytes) -> None:
        """Write one chunk's results and rejected rows, then record it in the checkpoint."""
        with _writing(self.paths.partial):
            self._commit(chunk, payload)

    def _commit(self, chunk: Chunk, payload: bytes) -> None:
        cp, index, errors = self.checkpoint, chunk.index, chunk.errors
        if chunk.scored:
            if self._out is None:
                part = self.paths.parts / f"{index:07d}.parquet"
                temporary = part.with_name(part.name + ".tmp")
                with temporary.open("wb") as handle:
                    _append(handle, payload)
                temporary.replace(part)
                cp.out_parts += 1
                if self._joined is not None:
                    self._joined.add(payload)
            else:
                if self.format == "csv" and cp.out_bytes:
                    payload = payload[payload.index(_CRLF) + len(_CRLF) :]  # header once
                cp.out_bytes += _append(self._out, payload)
        if errors:
            text = encode(rejected_frame(errors), "csv")
            if cp.rejected_bytes:
                text = text[text.index(_CRLF) + len(_CRLF) :]
            cp.rejected_bytes += _append(self._rejected, text)
        cp.chunks_done = index + 1
        cp.received += chunk.received
        cp.rows_written += chunk.scored
        cp.rejected += len(errors)
        cp.skipped += chunk.skipped
        cp.save(self.paths.checkpoint)

    def finish(self, empty: bytes) -> Path | None:
        """Complete the files and rename them into place; the side file only if rows were
        rejected. ``empty`` is the output for no rows, used when nothing was scored."""
        paths = self.paths
        with _writing(paths.partial):
            if self._out is not None:
                if self.checkpoint.out_bytes == 0:
                    _append(self._out, empty)
                self._out.close()
            else:
                parts = sorted(paths.parts.glob("*.parquet"))
                _join_parquet(parts, paths.partial, empty, self._joined)
            self._rejected.close()
        if paths.out.is_dir():
            raise RescoreError(f"{paths.out} is a directory; remove it or choose another --out")
        paths.partial.replace(paths.out)
        rejected_file = None
        if self.checkpoint.rejected:
            paths.rejected_partial.replace(paths.rejected)
            rejected_file = paths.rejected
        else:  # a side file from an earlier run would describe rows this run accepted
            paths.rejected_partial.unlink(missing_ok=True)
            paths.rejected.unlink(missing_ok=True)
        if paths.parts.exists():
            shutil.rmtree(paths.parts)
        paths.checkpoint.unlink(missing_ok=True)
        return rejected_file

    def close(self) -> None:
        if self._joined is not None:
            self._joined.close()
        for handle in (self._out, self._rejected):
            if handle is not None and not handle.closed:
                handle.close()

    def discard(self) -> None:
        """Delete everything this run wrote: nothing is worth resuming."""
        self.close()
        paths = self.paths
        for path in (
            paths.partial,
            paths.rejected_partial,
            paths.checkpoint,
            temporary_path(paths.checkpoint),
        ):
            path.unlink(missing_ok=True)
        if paths.parts.exists():
            shutil.rmtree(paths.parts)


class _WriteFailed(Exception):
    """Writing the output failed (disk full, storage gone); ``rescore`` says what to do."""

    def __init__(self, path: Path, error: OSError):
        super().__init__(f"cannot write {path}: {error.strerror or error}")


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _WriteFailed(path, exc) from exc


def _part_index(path: Path) -> int:
    stem = path.name.removesuffix(".parquet")
    return int(stem) if stem.isdigit() else -1


def _open_at(path: Path, size: int):
    """``path`` opened for appending after its first ``size`` bytes (the rest is cut off)."""
    if size == 0:
        return path.open("wb")
    if not path.exists() or path.stat().st_size < size:
        raise RescoreError(
            f"{path.name} is shorter than its checkpoint says; rerun without --resume"
        )
    handle = path.open("r+b")
    handle.truncate(size)
    handle.seek(size)
    return handle


def _append(handle, data: bytes) -> int:
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())
    return len(data)


class _ParquetJoin:
    """The output file written as the parts are committed, their row groups' bytes copied
    (``ParquetJoin``): no part is decoded or encoded again, now or at the end of a run."""

    def __init__(self, dest: Path):
        self._handle = dest.open("wb")
        self._join = ParquetJoin(self._handle)

    @property
    def parts(self) -> int:
        return self._join.files

    def add(self, payload: bytes) -> None:
        self._join.add(payload)

    def close(self) -> None:
        if not self._handle.closed:
            with self._handle:
                self._join.close()


def _join_parquet(
    parts: list[Path], dest: Path, empty: bytes, joined: _ParquetJoin | None = None
) -> None:
    """One Parquet file with each part's row groups in order; already written if ``joined``
    took every part."""
    if joined is not None:
        joined.close()
        if parts and joined.parts == len(parts):
            return
    if not parts:
        dest.write_bytes(empty)
        return
    with dest.open("wb") as handle:
        join = ParquetJoin(handle)
        for part in parts:
            try:
                join.add(part.read_bytes())
            except NotJoinable as exc:  # damaged on disk since it was written
                raise RescoreError(
                    f"{part.parent.name}/{part.name} is damaged ({exc}); rerun without --resume"
                ) from exc
        join.close()


def rescore(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int = DEFAULT_WORKERS,
    resume: bool = False,
    scorer: Scorer | None = None,
    models_dir: Path | None = None,
    ruleset_path: Path | None = None,
    scored_at: str | None = None,
    progress: bool = False,
    on_chunk: Callable[[Checkpoint], None] | None = None,
) -> RescoreSummary:
    """Score every row of ``source`` into ``out`` (CSV, Parquet or JSON Lines).

    The scorer is ``scorer`` if given, else loaded from ``models_dir`` and ``ruleset_path``;
    worker processes are sent it once, when they start. ``scored_at`` (default: the start of
    the run, kept across a resume) is the one timestamp of the run. ``on_chunk`` is called
    after each chunk is safely on disk.
    """
    source, paths = Path(source), OutputPaths(Path(out))
    fmt = output_format(paths.out)
    if chunk_rows < 1 or workers < 1:
        raise ValueError("chunk_rows and workers must be at least 1")
    if paths.out.is_dir():
        raise RescoreError(f"{paths.out} is a directory; remove it or choose another --out")
    check_writable(paths.out)
    if scorer is None:
        scorer = Scorer.load(models_dir=models_dir, ruleset_path=ruleset_path, estimator=False)
    checkpoint, fresh = resume_checkpoint(
        paths,
        source,
        scorer,
        {"engine": "pandas", "chunk_rows": chunk_rows, "format": fmt},
        resume=resume,
        scored_at=scored_at or now_utc(),
    )
    output = _PartialOutput(paths, fmt, checkpoint, fresh=fresh)
    resumed = checkpoint.chunks_done
    checkpoint.save(paths.checkpoint)
    first_errors: list[RowError] = []
    chunks = InputChunks(source, chunk_rows=chunk_rows, skip=resumed)
    bar = _progress_bar(chunks, checkpoint, progress=progress)
    scoring = ChunkScorer(
        scorer,
        workers=workers,
        fmt=fmt,
        scored_at=checkpoint.scored_at,
        # Starting worker processes costs seconds: worth it only for enough rows left.
        pool_worth=lambda: (chunks.rows or 0) - checkpoint.received >= POOL_MIN_ROWS,
    )
    try:
        with fewer_collections(), arrow_on_malloc():
            for chunk, payload in scoring.map(chunks):
                output.commit(chunk, payload)
                bar.total = chunks.rows
                first_errors.extend(chunk.errors[: max(0, 20 - len(first_errors))])
                bar.update(chunk.received)
                bar.set_postfix(rejected=checkpoint.rejected, refresh=False)
                if on_chunk is not None:
                    on_chunk(checkpoint)
        scoring.close()
        rejected_file = output.finish(empty_output(scorer, fmt=fmt, scored_at=checkpoint.scored_at))
    except BaseException as exc:
        scoring.close()
        _abandon(output, exc, resumed=resumed)
        raise
    finally:
        bar.close()
    return RescoreSummary(
        out=paths.out,
        rejected_file=rejected_file,
        received=checkpoint.received,
        scored=checkpoint.rows_written,
        rejected=checkpoint.rejected,
        chunks=checkpoint.chunks_done,
        resumed_chunks=resumed,
        first_errors=first_errors,
        skipped=checkpoint.skipped,
    )


def _progress_bar(chunks: InputChunks, checkpoint: Checkpoint, *, progress: bool) -> tqdm:
    """Rows done of the rows the input holds (an estimate until it is read), from a resume's."""
    return tqdm(
        total=chunks.rows,
        initial=checkpoint.received,
        unit=" rows",
        unit_scale=True,
        desc="rescoring",
        disable=not progress,
        dynamic_ncols=True,
    )


def _abandon(output: _PartialOutput, exc: BaseException, *, resumed: int) -> None:
    """Keep the finished chunks of a failed run for ``--resume``, or delete them when nothing
    is worth resuming; a failed write becomes a ``RescoreError`` that says what to do."""
    checkpoint = output.checkpoint
    # A broken input fails again on resume; otherwise keep finished chunks for --resume.
    keep = not (checkpoint.chunks_done == resumed == 0 or isinstance(exc, FileFormatError))
    if keep:
        output.close()
    else:
        output.discard()
    if isinstance(exc, _WriteFailed):
        hint = (
            f"the {checkpoint.chunks_done} finished chunks are kept: "
            "make room and rerun with --resume"
            if keep
            else "nothing was kept: make room and rerun"
        )
        raise RescoreError(f"{exc}; {hint}") from exc.__cause__
