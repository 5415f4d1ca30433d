"""Background batches: the worker that runs queued batches, in a thread of the web app or
in ``sme-export worker`` processes.

A queued batch is a job in the database (``store``, "batch jobs"). A worker claims it,
reads its staged input chunk by chunk (validating every chunk, then scoring it), and
after every chunk records its progress and renews its lease. Everything is stored at
the end, in the one transaction that marks the batch complete, so nothing of a batch is
visible before all of it is. A worker that stops (killed, its machine lost) stops
renewing; once its lease has run out another worker runs the job again from the start,
at most ``BATCH_MAX_ATTEMPTS`` times in all, after which the batch is marked failed. A
staged file that turns out unreadable, too long or with unknown columns makes the batch
failed with the reason. Staging files hold personal data: each is deleted as soon as its
batch is complete or failed, and ``sme-export purge`` deletes what a crash left behind
(``stray_staging``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import Flask, current_app
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api import store
from api.db import get_database
from api.services import ingest, webhooks
from api.services.scorer import ScorerUnavailable, get_scorer
from scoring.contract.validate import ValidatedBatch
from scoring.engine import now_utc
from scoring.errors import FileFormatError

STAGING_FOLDER = "batch-staging"
#: The suffix of a staging file still being written (renamed without it once whole).
PARTIAL = ".partial"
#: How old a staging file that no batch waits for must be before purge deletes it: younger
#: ones may be an upload being copied, or one whose batch is being created.
STAGING_SAFE_AGE = dt.timedelta(hours=6)
_RUNNER = "sme_export.batch_runner"
log = logging.getLogger(__name__)


def staging_dir(app: Flask | None = None) -> Path:
    """The folder of queued inputs: ``BATCH_STAGING_DIR``, else one in the instance folder."""
    app = app or current_app
    configured = app.config.get("BATCH_STAGING_DIR")
    return Path(configured) if configured else Path(app.instance_path) / STAGING_FOLDER


def stray_staging(
    session: Session, folder: Path, *, safe_age: dt.timedelta = STAGING_SAFE_AGE
) -> list[Path]:
    """Staging files no batch waits for: those of complete or failed batches, and, once
    older than ``safe_age``, partial copies (a crash mid-upload) and files no queued or
    running batch names (a crash before its batch was made, a batch deleted)."""
    finished = {Path(path).resolve() for path in store.finished_staging(session).values()}
    waiting = {Path(path).resolve() for path in store.staging_in_use(session)}
    stray = sorted(path for path in finished if path.exists())
    if not folder.is_dir():
        return stray
    cutoff = time.time() - safe_age.total_seconds()
    for path in sorted(folder.iterdir()):
        path = path.resolve()
        unclaimed = path.is_file() and path not in waiting and path not in finished
        if unclaimed and path.stat().st_mtime < cutoff:
            stray.append(path)
    return stray


def remove_staging(session: Session, paths: list[Path]) -> None:
    """Delete ``paths`` (from ``stray_staging``) and forget those of finished batches."""
    for path in paths:
        path.unlink(missing_ok=True)
    store.forget_staging(session, store.finished_staging(session))


@dataclass(frozen=True)
class Settings:
    """A worker's settings, from the app's ``BATCH_*`` configuration."""

    chunk_rows: int
    lease_seconds: float
    max_attempts: int
    max_rows: int
    poll_seconds: float
    chunk_pause_seconds: float

    @classmethod
    def of(cls, config: Mapping) -> Settings:
        return cls(
            chunk_rows=int(config["BATCH_CHUNK_ROWS"]),
            lease_seconds=float(config["BATCH_LEASE_SECONDS"]),
            max_attempts=int(config["BATCH_MAX_ATTEMPTS"]),
            max_rows=int(config["BATCH_MAX_ROWS"]),
            poll_seconds=float(config["BATCH_POLL_SECONDS"]),
            chunk_pause_seconds=float(config["BATCH_CHUNK_PAUSE_SECONDS"]),
        )


class LeaseLost(RuntimeError):
    """The job is no longer this worker's (its lease ran out and another took it over)."""


def worker_name() -> str:
    """Host, process and a random part: unique for every worker, readable in the database."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Runs the queued batches of one app's database, one at a time, and between them
    sends the webhook deliveries that are due (``api.services.webhooks``)."""

    def __init__(self, app: Flask, *, name: str | None = None):
        self.app = app
        self.name = name or worker_name()
        self.settings = Settings.of(app.config)
        self._sessions = get_database(app).sessions
        self.deliveries = webhooks.Dispatcher(app, name=self.name)

    def run(
        self, stop: threading.Event, *, wake: threading.Event | None = None, until_idle=False
    ) -> None:
        """Run jobs and send deliveries until ``stop`` is set or, with ``until_idle``, no
        job is waiting and no delivery is due. An idle worker looks again every
        ``poll_seconds``, or as soon as ``wake`` is set."""
        wake = wake or threading.Event()
        while not stop.is_set():
            try:
                ran = self.run_once()
                sent = self.deliveries.run_once()
            except Exception:
                if until_idle:
                    raise
                log.exception("batch worker %s: cannot reach the queue; trying again", self.name)
                ran, sent = None, 0
            if ran is None and not sent:
                if until_idle:
                    return
                wake.wait(self.settings.poll_seconds)
                wake.clear()

    def run_once(self) -> int | None:
        """Claim one job and run it to its end: the batch id, or None if no job is waiting.

        Jobs whose worker stopped too often are marked failed first; the staging files of
        finished batches are deleted before and after the run.
        """
        with self._sessions() as session:
            given_up = store.fail_abandoned_jobs(session, max_attempts=self.settings.max_attempts)
            session.commit()
            if given_up:
                log.warning("%d batches failed: their workers stopped too often", given_up)
            self._remove_finished_inputs(session)
            job = store.claim_job(
                session,
                worker=self.name,
                lease_seconds=self.settings.lease_seconds,
                max_attempts=self.settings.max_attempts,
            )
            session.commit()
            if job is None:
                return None
            log.info("batch %d: run %d started by %s", job.batch_id, job.attempts, self.name)
            with self.app.app_context():
                _Run(self, session, job).execute()
            self._remove_finished_inputs(session)
        return job.batch_id

    def _remove_finished_inputs(self, session: Session) -> None:
        """Delete the staging files of complete and failed batches (personal data)."""
        staged = store.finished_staging(session)
        for path in staged.values():
            Path(path).unlink(missing_ok=True)
        store.forget_staging(session, staged)
        session.commit()


class _Run:
    """One run of one claimed job."""

    def __init__(self, worker: Worker, session: Session, job: store.Job):
        self.worker = worker
        self.settings = worker.settings
        self.session = session
        self.job = job

    def execute(self) -> None:
        job = self.job
        try:
            self._publish(*self._score())
        except LeaseLost:
            log.warning("batch %d: taken over by another worker; left alone", job.batch_id)
        except (FileFormatError, ingest.TooManyRows) as exc:
            self._fail(_one_line(exc))
        except FileNotFoundError:
            self._fail("its staged input is gone; upload the file again")
        except ScorerUnavailable as exc:
            self._fail(f"the model or ruleset cannot be loaded: {exc}")
        except OperationalError:
            # The database is unreachable or busy: the job cannot even be marked failed.
            # Its lease runs out and it is run again, like a job whose worker stopped.
            raise
        except Exception as exc:
            log.exception("batch %d: failed", job.batch_id)
            self._fail(type(exc).__name__)

    def _renew(self, **progress: int) -> None:
        """Renew the lease and record ``rows_done`` / ``rows_total``, in a transaction of its
        own (readers see the progress at once); ``LeaseLost`` if the job was taken over."""
        renewed = store.renew_lease(
            self.session,
            self.job.batch_id,
            worker=self.worker.name,
            lease_seconds=self.settings.lease_seconds,
            **progress,
        )
        self.session.commit()
        if not renewed:
            raise LeaseLost(self.job.batch_id)

    def _chunks(self, staged: BinaryIO) -> Iterator[ValidatedBatch]:
        if self.job.source == "records":
            return ingest.iter_records(
                json.load(staged),
                max_rows=self.settings.max_rows,
                chunk_rows=self.settings.chunk_rows,
            )
        return ingest.iter_file(
            staged,
            filename=self.job.filename,
            max_rows=self.settings.max_rows,
            chunk_rows=self.settings.chunk_rows,
        )

    def _score(self) -> tuple[ingest.Intake, ingest.Scored]:
        """Validate the whole input (so that ``rows_total`` is known), then score it chunk by
        chunk; one ``scored_at`` for the batch, as when it is scored in a request."""
        scorer = get_scorer()
        intake = ingest.Intake()
        personal = store.may_write_personal(self.session, self.job.actor)
        with open(self.job.staging_path, "rb") as staged:
            for chunk in self._chunks(staged):
                intake.chunks.append(chunk if personal else ingest.refuse_personal(chunk))
                self._renew()
        self._renew(rows_done=0, rows_total=intake.received)
        scored = ingest.Scored([], [], [])
        scored_at = now_utc()
        done = 0
        for chunk in intake.chunks:
            scored.extend(ingest.score(chunk, scorer, lang=self.job.lang, scored_at=scored_at))
            done += chunk.received
            if self.settings.chunk_pause_seconds:
                time.sleep(self.settings.chunk_pause_seconds)
            self._renew(rows_done=done)
        return intake, scored

    def _publish(self, intake: ingest.Intake, scored: ingest.Scored) -> None:
        """Store every result and mark the batch complete, in one transaction. Renewing the
        lease first locks the batch (its row on PostgreSQL, the database on SQLite) until
        the commit, so no other worker can take the job over in between."""
        job = self.job
        if not store.renew_lease(
            self.session,
            job.batch_id,
            worker=self.worker.name,
            lease_seconds=self.settings.lease_seconds,
        ):
            self.session.rollback()
            raise LeaseLost(job.batch_id)
        # An SME erased while the batch waited is not brought back: its rows are rejected.
        sme_ids = (profile["sme_id"] for profile in scored.profiles)
        erased = store.erased_since(self.session, sme_ids, job.created_at)
        withheld = ingest.withhold(intake, scored, erased) if erased else []
        errors = sorted([*intake.errors, *withheld], key=lambda error: error.row)
        ingest.store_scored(
            self.session, scored, cohort=job.cohort, batch_id=job.batch_id, actor=job.actor
        )
        store.finish_batch(
            self.session,
            job.batch_id,
            received=intake.received,
            scored=len(scored.records),
            rejected=len(errors),
            row_errors=[error.to_dict() for error in errors],
            skipped=[row.to_dict() for row in intake.skipped],
            notices=[notice.to_dict() for notice in intake.notices],
        )
        self.session.commit()
        log.info(
            "batch %d: complete (%d rows, %d withheld: erased while queued)",
            job.batch_id,
            intake.received,
            len(withheld),
        )

    def _fail(self, reason: str) -> None:
        """Mark the batch failed with ``reason``, unless another worker has taken it over."""
        session = self.session
        session.rollback()
        if store.renew_lease(
            session,
            self.job.batch_id,
            worker=self.worker.name,
            lease_seconds=self.settings.lease_seconds,
        ):
            store.fail_batch(session, self.job.batch_id, reason=reason)
            log.warning("batch %d: failed: %s", self.job.batch_id, reason)
        session.commit()


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


# --- the embedded runner: a worker thread in the web app's process ---------------------------


class Runner:
    """A daemon thread running a ``Worker`` inside the app's process.

    Started on the app's first request (so a pre-forking server starts one per worker
    process, after the fork) and woken when a batch is queued. When the process ends,
    the job it was running is taken over once its lease runs out.
    """

    def __init__(self, app: Flask):
        self.app = app
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def start(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            worker = Worker(self.app)
            self._thread = threading.Thread(
                target=worker.run,
                args=(self.stop_event,),
                kwargs={"wake": self.wake_event},
                name="batch-runner",
                daemon=True,
            )
            self._pid = os.getpid()
            self._thread.start()

    def wake(self) -> None:
        self.wake_event.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current job (tests; the thread otherwise ends with the process)."""
        self.stop_event.set()
        self.wake_event.set()
        if self._thread is not None:
            self._thread.join(timeout)


def init_app(app: Flask) -> None:
    """With ``BATCH_RUNNER`` on, give the app a runner, started by its first request."""
    if not app.config.get("BATCH_RUNNER"):
        return
    runner = Runner(app)
    app.extensions[_RUNNER] = runner
    app.before_request(runner.start)


def get_runner(app: Flask) -> Runner | None:
    return app.extensions.get(_RUNNER)


def wake_runner(app: Flask) -> None:
    """Tell the app's runner (if it has one) that a batch was queued."""
    runner = get_runner(app)
    if runner is not None:
        runner.start()
        runner.wake()
