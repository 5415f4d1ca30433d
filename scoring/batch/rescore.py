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
chunk under ``OUT.part.chunks/``, joined into one file with a row group per chunk at the
end), ``<stem>.rejected.csv.part``, and ``OUT.part.checkpoint``, a small JSON file that
names the input (size, modification time, hash of its head), the settings, and how many
chunks, rows and bytes are complete. A killed run resumes from there: partial output past
the last complete chunk is cut off, finished chunks are read but not scored again.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from scoring.contract.fields import PROFILE_COLUMNS
from scoring.contract.validate import RowError, ValidatedBatch, validate_table
from scoring.engine import Scorer, now_utc
from scoring.errors import FileFormatError, RescoreError
from scoring.files.readers import RawTable, detect_format, iter_tables
from scoring.files.writers import TableWriter

OUTPUT_FORMATS = ("csv", "parquet", "jsonl")
DEFAULT_CHUNK_ROWS = 25_000
#: Scoring processes; two are faster than one on two cores for 1M rows (docs/benchmarks.md).
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)
#: Rows left below which a run stays in one process: starting the workers costs more.
POOL_MIN_ROWS = 300_000
CHECKPOINT_VERSION = 1
_HEAD_BYTES = 1 << 20
_CRLF = b"\r\n"
_FIRST_SHEET = "xl/worksheets/sheet1.xml"
_DIMENSION = re.compile(r'<(?:\w+:)?dimension\s+ref="[A-Z]+\d+(?::[A-Z]+(\d+))?"')


def output_format(out: Path) -> str:
    """``csv``, ``parquet`` or ``jsonl`` from the output's extension."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in OUTPUT_FORMATS:
        raise RescoreError(
            f"{out.name}: the output must end in "
            f"{', '.join('.' + f for f in OUTPUT_FORMATS)} to be written chunk by chunk"
        )
    return fmt


def check_writable(out: Path) -> None:
    """Fail before any work when files cannot be created beside ``out``."""
    probe = out.with_name(out.name + ".part.probe")
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise RescoreError(f"cannot write {out}: {exc.strerror}") from exc


def input_fingerprint(path: Path) -> dict:
    """What tells a changed input apart: size, modification time and a hash of its head."""
    stat = path.stat()
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(_HEAD_BYTES)).hexdigest()
    return {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head": head}


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


@dataclass(frozen=True)
class OutputPaths:
    """The files a run writes beside ``out``."""

    out: Path

    @property
    def partial(self) -> Path:
        return self.out.with_name(self.out.name + ".part")

    @property
    def parts(self) -> Path:
        return self.out.with_name(self.out.name + ".part.chunks")

    @property
    def checkpoint(self) -> Path:
        return self.out.with_name(self.out.name + ".part.checkpoint")

    @property
    def rejected(self) -> Path:
        return self.out.with_name(self.out.stem + ".rejected.csv")

    @property
    def rejected_partial(self) -> Path:
        return self.rejected.with_name(self.rejected.name + ".part")


@dataclass
class Checkpoint:
    """How far a run got; saved atomically after each chunk's output is on disk."""

    input: dict
    settings: dict
    scored_at: str
    chunks_done: int = 0
    received: int = 0
    rows_written: int = 0
    rejected: int = 0
    out_bytes: int = 0  # CSV and JSON Lines: complete bytes of OUT.part
    out_parts: int = 0  # Parquet: files under OUT.part.chunks/ (chunks with scored rows)
    rejected_bytes: int = 0
    version: int = CHECKPOINT_VERSION

    def save(self, path: Path) -> None:
        temporary = _temporary(path)
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise RescoreError(
                f"{path.name} is not a readable checkpoint ({exc}); rerun without --resume"
            ) from exc


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


@dataclass
class _Chunk:
    """A validated chunk on its way to being written."""

    index: int
    received: int
    scored: int
    errors: list[RowError]
    batch: ValidatedBatch | None  # dropped once handed to a worker


# --- the partial output -----------------------------------------------------------------


class _PartialOutput:
    """``OUT.part`` and the side file, appended one complete chunk at a time."""

    def __init__(self, paths: OutputPaths, fmt: str, checkpoint: Checkpoint, *, fresh: bool):
        self.paths, self.format, self.checkpoint = paths, fmt, checkpoint
        self._out = None
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
        else:
            self._out = _open_at(paths.partial, 0 if fresh else checkpoint.out_bytes)
        self._rejected = _open_at(paths.rejected_partial, 0 if fresh else checkpoint.rejected_bytes)

    @property
    def done(self) -> int:
        return self.checkpoint.chunks_done

    def commit(self, chunk: _Chunk, payload: bytes) -> None:
        """Write one chunk's results and rejected rows, then record it in the checkpoint."""
        with _writing(self.paths.partial):
            self._commit(chunk, payload)

    def _commit(self, chunk: _Chunk, payload: bytes) -> None:
        cp, index, errors = self.checkpoint, chunk.index, chunk.errors
        if chunk.scored:
            if self._out is None:
                part = self.paths.parts / f"{index:07d}.parquet"
                temporary = part.with_name(part.name + ".tmp")
                with temporary.open("wb") as handle:
                    _append(handle, payload)
                temporary.replace(part)
                cp.out_parts += 1
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
                _join_parquet(sorted(paths.parts.glob("*.parquet")), paths.partial, empty)
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
            _temporary(paths.checkpoint),
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


def _temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


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


def _join_parquet(parts: list[Path], dest: Path, empty: bytes) -> None:
    """One Parquet file with each part's row groups in order, read one row group at a time."""
    if not parts:
        dest.write_bytes(empty)
        return
    schema = pq.read_schema(parts[0])
    with pq.ParquetWriter(dest, schema) as writer:
        for part in parts:
            source = pq.ParquetFile(part)
            for group in range(source.num_row_groups):
                writer.write_table(source.read_row_group(group).cast(schema))


# --- scoring chunks, here or in worker processes ------------------------------------------


_worker_scorer: Scorer | None = None


def _start_worker(scorer: Scorer) -> None:
    """Pool initializer: keep the scorer the parent sent once; Ctrl-C is the parent's to handle."""
    global _worker_scorer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _collect_less()
    _worker_scorer = scorer


def _score_in_worker(batch: ValidatedBatch, fmt: str, scored_at: str) -> bytes:
    return encode(result_frame(_worker_scorer, batch, scored_at=scored_at), fmt)


def _collect_less() -> None:
    """Run the cyclic garbage collector rarely and past the objects of the imported libraries.

    A chunk creates a few hundred thousand container objects (list cells, frames); with the
    default thresholds each of them triggers collections that walk every object alive,
    hundreds of thousands from pandas and scikit-learn alone: 30-40% of the reading time.
    Chunks free their memory by reference counting, so collecting less leaves memory as it is.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """``_collect_less`` for the length of a run in this process; the settings come back after."""
    thresholds = gc.get_threshold()
    _collect_less()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class _ChunkScorer:
    """Scores chunks in this process and, once ``pool_worth()`` says so (asked at the second
    chunk to score), also in ``workers - 1`` pool processes; yields them in input order.

    This process reads and validates every chunk; a chunk goes to a pool process while the pool
    have fewer than two chunks each in hand, and is scored here otherwise. So both cores stay
    busy whichever side is slower (reading CSV or scoring), and no process is started only to
    wait: on two cores that is one pool process, not two beside an idle reader (a third copy of
    pandas, pyarrow and scikit-learn in memory).
    """

    def __init__(
        self,
        scorer: Scorer,
        *,
        workers: int,
        fmt: str,
        scored_at: str,
        pool_worth: Callable[[], bool],
    ):
        self.scorer, self.format, self.scored_at = scorer, fmt, scored_at
        self.pool_size = workers - 1
        self._pool: ProcessPoolExecutor | None = None
        self._use_pool: bool | None = None  # decided at the second chunk to score
        self._pool_worth = pool_worth
        self._scored_chunks = 0
        self._in_pool: set[Future] = set()

    def _pool_free(self) -> bool:
        if self._use_pool is None:
            self._use_pool = self.pool_size > 0 and self._pool_worth()
        self._in_pool = {f for f in self._in_pool if not f.done()}
        return self._use_pool and len(self._in_pool) < 2 * self.pool_size

    def _submit(self, chunk: _Chunk) -> Future:
        batch, chunk.batch = chunk.batch, None
        done: Future = Future()
        if not chunk.scored:
            done.set_result(b"")
            return done
        self._scored_chunks += 1
        if self._scored_chunks > 1 and self._pool_free():
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.pool_size,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self.scorer.portable(),),
                )
            future = self._pool.submit(_score_in_worker, batch, self.format, self.scored_at)
            self._in_pool.add(future)
            return future
        done.set_result(
            encode(result_frame(self.scorer, batch, scored_at=self.scored_at), self.format)
        )
        return done

    def map(self, chunks: Iterable[_Chunk]) -> Iterator[tuple[_Chunk, bytes]]:
        pending: deque[tuple[_Chunk, Future]] = deque()
        for chunk in chunks:
            pending.append((chunk, self._submit(chunk)))
            # Results wait here only behind a pool process's chunk: a few at most.
            while pending and (pending[0][1].done() or len(pending) > 4 * self.pool_size + 2):
                chunk, future = pending.popleft()
                yield chunk, future.result()
        while pending:
            chunk, future = pending.popleft()
            yield chunk, future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# --- the run ------------------------------------------------------------------------------


def resume_checkpoint(
    paths: OutputPaths,
    source: Path,
    scorer: Scorer,
    settings: dict,
    *,
    resume: bool,
    scored_at: str,
) -> tuple[Checkpoint, bool]:
    """The checkpoint to continue from (and whether it is fresh), refusing one made from
    another input, with other ``settings`` or with another model or ruleset."""
    fingerprint = input_fingerprint(source)
    settings = {
        **settings,
        "model_version": scorer.model.version,
        "ruleset_version": scorer.ruleset.version_string,
    }
    if not resume or not paths.checkpoint.exists():
        return Checkpoint(input=fingerprint, settings=settings, scored_at=scored_at), True
    previous = Checkpoint.load(paths.checkpoint)
    if previous.version != CHECKPOINT_VERSION:
        raise RescoreError(
            f"{paths.checkpoint.name} was written by another version; rerun without --resume"
        )
    if previous.input != fingerprint:
        changed = [k for k in fingerprint if previous.input.get(k) != fingerprint[k]]
        raise RescoreError(
            f"cannot resume: the input is not the one the interrupted run read "
            f"({', '.join(changed)} changed); rerun without --resume to start over"
        )
    for name, value in settings.items():
        if previous.settings.get(name) != value:
            raise RescoreError(
                f"cannot resume: the interrupted run used {name} {previous.settings.get(name)}, "
                f"this one {value}; resume with the same settings or rerun without --resume"
            )
    return previous, False


class _InputChunks:
    """The input's chunks, validated, the first ``skip`` read but not validated; and how many
    rows the input holds: exact for Parquet (metadata), estimated from the bytes read so far
    for CSV and JSON Lines and from the sheet's stored used range for XLSX."""

    def __init__(self, source: Path, *, chunk_rows: int, skip: int):
        self.source, self.chunk_rows, self.skip = source, chunk_rows, skip
        with source.open("rb") as handle:
            self.format = _input_format(source.name, handle.read(64 * 1024))
        self.rows: int | None = None
        if self.format == "parquet":
            with contextlib.suppress(pa.ArrowException, OSError):  # iter_tables says what
                self.rows = pq.ParquetFile(source).metadata.num_rows
        elif self.format == "xlsx":
            self.rows = _xlsx_rows_estimate(source)

    def __iter__(self) -> Iterator[_Chunk]:
        size = self.source.stat().st_size
        estimate = self.format in ("csv", "jsonl") and size > 0
        seen = 0
        with self.source.open("rb") as handle:
            tables = iter_tables(handle, filename=self.source.name, chunk_rows=self.chunk_rows)
            for index, raw in enumerate(tables):
                seen += len(raw.frame)
                if estimate and handle.tell() > 0:
                    self.rows = max(seen, round(seen * size / handle.tell()))
                elif self.rows is not None and seen > self.rows:  # a stored range too small
                    self.rows = seen
                if index < self.skip:
                    raw.seen_ids.remember(raw)  # a repeated id in a later chunk is still one
                    continue
                batch = validate_table(raw)
                del raw  # the cells as read are the largest thing a chunk holds: not kept
                batch.personal = batch.personal.iloc[:0]  # not part of the results
                yield _Chunk(index, batch.received, batch.scored, batch.errors, batch)


def _xlsx_rows_estimate(source: Path) -> int | None:
    """Data rows of the first sheet by the used range stored at its start (below the header
    row), for the progress bar only: the reader itself reads every cell, whatever the range
    says. Only the sheet's first 4 KB are unpacked, so a hostile file costs nothing here."""
    try:
        with zipfile.ZipFile(source) as archive, archive.open(_FIRST_SHEET) as sheet:
            head = sheet.read(4096).decode("utf-8", "replace")
    except (OSError, EOFError, KeyError, ValueError, RuntimeError, zipfile.BadZipFile, zlib.error):
        return None  # iter_tables says what is wrong with the file
    found = _DIMENSION.search(head)
    last = int(found.group(1)) if found and found.group(1) else 0
    return last - 1 if last > 1 else None


def _input_format(name: str, head: bytes) -> str | None:
    try:
        return detect_format(name, head)
    except FileFormatError:
        return None  # iter_tables says what is wrong


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
        scorer = Scorer.load(models_dir=models_dir, ruleset_path=ruleset_path)
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
    chunks = _InputChunks(source, chunk_rows=chunk_rows, skip=resumed)
    bar = tqdm(
        total=chunks.rows,
        initial=checkpoint.received,
        unit=" rows",
        unit_scale=True,
        desc="rescoring",
        disable=not progress,
        dynamic_ncols=True,
    )
    scoring = _ChunkScorer(
        scorer,
        workers=workers,
        fmt=fmt,
        scored_at=checkpoint.scored_at,
        # Starting worker processes costs seconds: worth it only for enough rows left.
        pool_worth=lambda: (chunks.rows or 0) - checkpoint.received >= POOL_MIN_ROWS,
    )
    try:
        with _fewer_collections():
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
    )
