"""Chunks validated and scored in this process and in a pool of worker processes, yielded in
input order."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import pyarrow as pa

from scoring.batch.handoff import ChunkFile, Handoff
from scoring.batch.results import encode, result_frame
from scoring.contract.validate import PreparedTable, RowError, validate_prepared
from scoring.engine import Scorer

if TYPE_CHECKING:  # a pool process reads no file: it never imports the readers
    from scoring.batch.chunks import Chunk

#: Chunks each pool process may hold (one being scored, the others waiting): with two, it
#: went without work for about a sixth of a run while this process scored a chunk of its own
#: (docs/benchmarks.md).
IN_HAND = 3
#: How pool processes start. Forked on Linux: a spawned process imported pandas, pyarrow and
#: the scoring code again (about 0.5 s of CPU) before it could score; a forked one has them
#: from this process and scores from the first chunk (docs/benchmarks.md). Nothing in a pool
#: process uses OpenMP or the threads this process may have started (the progress bar's
#: monitor, Arrow's, which Arrow starts again after a fork). Elsewhere fork is unsafe
#: (macOS) or absent (Windows): spawned there.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
_worker_scorer: Scorer | None = None


def _start_worker(scorer: Scorer) -> None:
    """Pool initializer: keep the scorer the parent sent once; Ctrl-C is the parent's to handle.
    A forked process gives back the heap's free pages it shares with its parent (they count in
    its resident memory too: 10 to 20 MB at 5M CSV rows)."""
    global _worker_scorer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    steady_heap()
    collect_less()
    pa.set_memory_pool(pa.system_memory_pool())  # see ``arrow_on_malloc``
    if _GLIBC_HEAP is not None:
        _GLIBC_HEAP.malloc_trim(0)
    _worker_scorer = scorer


@dataclass
class ScoredChunk:
    """What validating and scoring one chunk gave: its results encoded (empty when no row
    was scored), and the counts and rejected rows its checkpoint records."""

    payload: bytes
    received: int
    scored: int
    errors: list[RowError]
    skipped: int


def score_chunk(scorer: Scorer, table: PreparedTable, fmt: str, scored_at: str) -> ScoredChunk:
    """Validate a prepared chunk and score its valid rows into ``fmt`` bytes."""
    batch = validate_prepared(table)
    payload = b""
    if batch.scored:
        payload = encode(result_frame(scorer, batch, scored_at=scored_at), fmt)
    return ScoredChunk(payload, batch.received, batch.scored, batch.errors, len(batch.skipped))


def _score_in_worker(table: PreparedTable | ChunkFile, fmt: str, scored_at: str) -> ScoredChunk:
    if isinstance(table, ChunkFile):
        table = table.load()
    return score_chunk(_worker_scorer, table, fmt, scored_at)


def _ready() -> None:
    """A pool process's first task: nothing, so that the process starts at once."""


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2``: the heap's counts, in bytes."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


class _Heap(NamedTuple):
    """The GNU C library's heap functions this module calls."""

    mallinfo2: Callable[[], _MallInfo2]
    malloc_trim: Callable[[int], int]
    mallopt: Callable[[int, int], int]


def _glibc_heap() -> _Heap | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        heap = _Heap(libc.mallinfo2, libc.malloc_trim, libc.mallopt)
    except (OSError, AttributeError):  # not the GNU C library, or one before 2.33
        return None
    heap.mallinfo2.restype = _MallInfo2
    heap.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return heap


_GLIBC_HEAP = _glibc_heap()
#: glibc's ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Blocks from this size on get their own memory mapping (glibc's largest dynamic value).
MMAP_THRESHOLD = 32 * 2**20
#: Free bytes at the top of the heap above which free() gives them back.
TRIM_THRESHOLD = 64 * 2**20


def steady_heap() -> None:
    """Fixed heap thresholds for a process that scores chunk after chunk (glibc's
    ``mallopt``; nothing elsewhere), for the rest of the process: blocks under
    ``MMAP_THRESHOLD`` come from the heap instead of each from its own memory mapping, and
    free() gives the heap's top back only past ``TRIM_THRESHOLD``. With glibc's dynamic
    thresholds a run's arrays of a few to tens of MB were mapped, unmapped and faulted in
    again chunk after chunk: a fifth of a run's CPU time was the kernel's. Both are set: a
    fixed value of either alone turns the other's adjustment off, which was slower still
    (docs/benchmarks.md). ``give_back_freed_memory`` keeps the heap's free space bounded."""
    if _GLIBC_HEAP is not None:
        _GLIBC_HEAP.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        _GLIBC_HEAP.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)


#: Free bytes held inside the C library's heap above which they are given back.
HEAP_FREE_LIMIT = 64 * 2**20
#: Resident memory of the reading process below which its freed heap pages are kept for the
#: next chunks. Half the 1 GiB a run's processes stay under (a pool process takes a third).
RESIDENT_LIMIT = 512 * 2**20


def give_back_freed_memory() -> None:
    """Give the pages freed inside the C library's heap back to the system once they pass
    ``HEAP_FREE_LIMIT`` and the process's resident memory passes ``RESIDENT_LIMIT`` (glibc's
    ``malloc_trim``; nothing elsewhere). Freed memory between live blocks otherwise stays
    resident, and the process that reads the file (CSV above all) and scores what the pool
    cannot take grows by about 100 MB over a 5M-row run. Not while the process is smaller:
    each trim costs the page faults of taking the pages back, and done at every chunk that
    was two seconds of system time per million CSV rows (docs/benchmarks.md)."""
    if _GLIBC_HEAP is None or _GLIBC_HEAP.mallinfo2().fordblks <= HEAP_FREE_LIMIT:
        return
    if resident_bytes() > RESIDENT_LIMIT:
        _GLIBC_HEAP.malloc_trim(0)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident memory (Linux's ``/proc/self/statm``); where that cannot be
    read, more than any limit, so that freed memory is given back as soon as there is any."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return sys.maxsize


def collect_less() -> None:
    """Run the cyclic garbage collector rarely and past the objects of the imported libraries.

    A chunk creates a few hundred thousand container objects (list cells, frames); with the
    default thresholds each of them triggers collections that walk every object alive,
    hundreds of thousands from pandas and scikit-learn alone: 30-40% of the reading time.
    Chunks free their memory by reference counting, so collecting less leaves memory as it is.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """``collect_less`` for the length of a run in this process; the settings come back after."""
    thresholds = gc.get_threshold()
    collect_less()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextlib.contextmanager
def arrow_on_malloc() -> Iterator[None]:
    """Arrow's buffers from the C library's allocator for the length of a run in this process.

    Arrow's own allocator (mimalloc) keeps the memory a chunk freed for its next buffers, and
    NumPy, which scores the chunk, cannot use it: with both, a run held about 80 MB more per
    process, and NumPy's arrays page-faulted more than twice as often. Sharing one allocator,
    they reuse each other's freed memory.
    """
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


class ChunkScorer:
    """Validates and scores chunks in this process and, once ``pool_worth()`` says so (asked
    at the first chunk), also in ``workers - 1`` pool processes; yields them in input order.

    This process reads every chunk and prepares it (what must be done in reading order); a
    chunk goes to a pool process while the pool has fewer than ``IN_HAND`` chunks each in
    hand, and is validated and scored here otherwise. So both cores stay busy whichever
    side is slower (reading CSV or scoring), and no process is started only to wait: on two
    cores that is one pool process, not two beside an idle reader (a third copy of pandas
    and pyarrow in memory). The pool processes are started as soon as the first chunk says
    the run is long enough. On Linux they are forked (``START_METHOD``): they have the
    libraries and the scorer at once, so the first chunk goes to them too; where processes
    are spawned, they import what they need while this process scores that chunk.
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
        self._use_pool: bool | None = None  # decided at the first chunk
        self._pool_worth = pool_worth
        self._chunks = 0
        self._in_pool: set[Future] = set()
        self._handoff: Handoff | None = None

    def _start_pool(self) -> None:
        self._handoff = Handoff()
        self._pool = ProcessPoolExecutor(
            self.pool_size,
            mp_context=multiprocessing.get_context(START_METHOD),
            initializer=_start_worker,
            initargs=(self.scorer.portable(),),
        )
        for _ in range(self.pool_size):  # each starts a process now, not at its first chunk
            self._pool.submit(_ready)

    def _pool_free(self) -> bool:
        self._in_pool = {f for f in self._in_pool if not f.done()}
        return self._pool is not None and len(self._in_pool) < IN_HAND * self.pool_size

    def _submit(self, chunk: Chunk) -> Future:
        table, chunk.table = chunk.table, None
        self._chunks += 1
        if self._use_pool is None:  # reading the first chunk gave an estimate of the rows
            self._use_pool = self.pool_size > 0 and self._pool_worth()
            if self._use_pool:
                self._start_pool()
        if (self._chunks > 1 or START_METHOD == "fork") and self._pool_free():
            future = self._pool.submit(
                _score_in_worker, self._handoff.ship(table.portable()), self.format, self.scored_at
            )
            self._in_pool.add(future)
            return future
        done: Future = Future()
        done.set_result(score_chunk(self.scorer, table, self.format, self.scored_at))
        return done

    def map(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, bytes]]:
        """Each chunk, its counts and rejected rows filled in, with its encoded results."""
        pending: deque[tuple[Chunk, Future]] = deque()
        for chunk in chunks:
            pending.append((chunk, self._submit(chunk)))
            # Results wait here only behind a pool process's chunk: a few at most.
            while pending and (pending[0][1].done() or len(pending) > 4 * self.pool_size + 2):
                yield _finished(*pending.popleft())
        while pending:
            yield _finished(*pending.popleft())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._handoff is not None:
            self._handoff.close()


def _finished(chunk: Chunk, future: Future) -> tuple[Chunk, bytes]:
    give_back_freed_memory()  # what reading, preparing and scoring the chunks before left
    result: ScoredChunk = future.result()
    chunk.received, chunk.scored, chunk.errors = result.received, result.scored, result.errors
    chunk.skipped = result.skipped
    return chunk, result.payload
