"""Chunks scored in this process and in a pool of worker processes, yielded in input order."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from scoring.batch.chunks import Chunk
from scoring.batch.results import encode, result_frame
from scoring.contract.validate import ValidatedBatch
from scoring.engine import Scorer

_worker_scorer: Scorer | None = None


def _start_worker(scorer: Scorer) -> None:
    """Pool initializer: keep the scorer the parent sent once; Ctrl-C is the parent's to handle."""
    global _worker_scorer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collect_less()
    _worker_scorer = scorer


def _score_in_worker(batch: ValidatedBatch, fmt: str, scored_at: str) -> bytes:
    return encode(result_frame(_worker_scorer, batch, scored_at=scored_at), fmt)


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


class ChunkScorer:
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

    def _submit(self, chunk: Chunk) -> Future:
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

    def map(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, bytes]]:
        pending: deque[tuple[Chunk, Future]] = deque()
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
