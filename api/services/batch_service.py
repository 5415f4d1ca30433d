"""Creating batches: small inputs are scored in the request, large ones queued for a worker.

The HTTP API and the staff pages both call ``submit_file`` or ``submit_records``; each
returns the batch as ``store.get_batch`` shows it. An input up to
``BATCH_BACKGROUND_BYTES`` (uploads) or ``BATCH_BACKGROUND_ROWS`` (JSON arrays) is
validated and scored at once and comes back ``complete``; file-level problems raise
``FileFormatError`` or ``TooManyRows`` and create no batch. A larger input is written to
a staging file and comes back ``queued``: a worker (``api.services.batch_jobs``) scores it, and its
file-level problems make the batch ``failed`` with the reason.

With an ``idempotency_key``, a repeated request of the same actor returns the batch the
first one created instead of a new one; the same key with a different request (another
file, cohort or language) raises ``IdempotencyKeyReused``. A batch that failed stored
nothing, so it does not keep its key: the same request with the same key makes a new one
(a retry after the server was killed mid-batch scores it again).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import store
from api.services import ingest
from api.services.batch_jobs import PARTIAL, staging_dir, wake_runner, worker_name
from api.services.scorer import get_scorer
from scoring.engine import now_utc

MAX_IDEMPOTENCY_KEY_LENGTH = 255
_COPY_BYTES = 1024 * 1024


class IdempotencyKeyReused(ValueError):
    """The actor already used this Idempotency-Key for a different request."""

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        super().__init__(
            f"This Idempotency-Key was already used for a different request (batch "
            f"{batch_id}); use a new key for a new batch."
        )


def submit_file(
    session: Session,
    stream: BinaryIO,
    *,
    filename: str | None,
    cohort: str | None,
    actor: str,
    lang: str,
    idempotency_key: str | None = None,
) -> dict:
    """A batch of the profiles in an uploaded CSV, XLSX, Parquet or JSON file."""
    get_scorer()  # no batch, queued or not, while the model or ruleset cannot be loaded
    stream, size, body_sha256 = _measure(stream, hashing=idempotency_key is not None)
    request_sha256 = None
    if idempotency_key is not None:
        request_sha256 = _request_sha256("upload", filename, cohort, lang, body_sha256)
        replayed = _replay(session, actor, idempotency_key, request_sha256)
        if replayed is not None:
            return replayed
    creation = {
        "filename": filename,
        "cohort": cohort,
        "actor": actor,
        "idempotency_key": idempotency_key,
        "request_sha256": request_sha256,
    }
    if size > current_app.config["BATCH_BACKGROUND_BYTES"]:
        return _queue(session, stream, source="upload", lang=lang, rows_total=None, **creation)
    max_rows = current_app.config["BATCH_MAX_ROWS"]
    intake = ingest.read_file(stream, filename=filename, max_rows=max_rows)
    return _score_now(session, intake, lang=lang, **creation)


def submit_records(
    session: Session,
    items: Sequence[Any],
    *,
    cohort: str | None,
    actor: str,
    lang: str,
    idempotency_key: str | None = None,
) -> dict:
    """A batch of the profiles in a parsed JSON array (rows numbered from 1)."""
    get_scorer()
    max_rows = current_app.config["BATCH_MAX_ROWS"]
    if len(items) > max_rows:
        raise ingest.TooManyRows(max_rows)
    request_sha256 = None
    if idempotency_key is not None:
        body = json.dumps(items, sort_keys=True, separators=(",", ":"), default=str)
        body_sha256 = hashlib.sha256(body.encode("utf-8")).hexdigest()
        request_sha256 = _request_sha256("records", None, cohort, lang, body_sha256)
        replayed = _replay(session, actor, idempotency_key, request_sha256)
        if replayed is not None:
            return replayed
    creation = {
        "filename": None,
        "cohort": cohort,
        "actor": actor,
        "idempotency_key": idempotency_key,
        "request_sha256": request_sha256,
    }
    if len(items) > current_app.config["BATCH_BACKGROUND_ROWS"]:
        staged = io.BytesIO(json.dumps(list(items), default=str).encode("utf-8"))
        return _queue(
            session, staged, source="records", lang=lang, rows_total=len(items), **creation
        )
    chunk_rows = current_app.config["BATCH_CHUNK_ROWS"]
    chunks = ingest.iter_records(items, max_rows=max_rows, chunk_rows=chunk_rows)
    return _score_now(session, ingest.Intake(list(chunks)), lang=lang, **creation)


def _measure(stream: BinaryIO, *, hashing: bool) -> tuple[BinaryIO, int, str | None]:
    """A seekable stream at its start with the same bytes, their count and (if asked) their
    SHA-256. An upload is already seekable; another stream is copied (to disk if large)."""
    if not stream.seekable():
        copy = tempfile.SpooledTemporaryFile(max_size=_COPY_BYTES)  # noqa: SIM115 (returned)
        shutil.copyfileobj(stream, copy, _COPY_BYTES)
        stream = copy
    stream.seek(0)
    digest = None
    if hashing:
        hasher = hashlib.sha256()
        while block := stream.read(_COPY_BYTES):
            hasher.update(block)
        digest = hasher.hexdigest()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    return stream, size, digest


def _request_sha256(
    source: str, filename: str | None, cohort: str | None, lang: str, body_sha256: str
) -> str:
    """What makes two requests the same request: the input, its name and the options."""
    request = [source, filename, cohort, lang, body_sha256]
    return hashlib.sha256(json.dumps(request).encode("utf-8")).hexdigest()


def _replay(session: Session, actor: str, idempotency_key: str, request_sha256: str) -> dict | None:
    """The batch made by an earlier request with this key, if there is one."""
    try:
        batch_id, earlier_sha256 = store.find_batch_by_key(
            session, actor=actor, idempotency_key=idempotency_key
        )
    except LookupError:
        return None
    if earlier_sha256 != request_sha256:
        raise IdempotencyKeyReused(batch_id)
    batch = store.get_batch(session, batch_id)
    if batch["status"] == "running":  # its process may have died: fail it if so
        store.fail_abandoned_jobs(session, max_attempts=current_app.config["BATCH_MAX_ATTEMPTS"])
        session.commit()
        batch = store.get_batch(session, batch_id)
    if batch["status"] == "failed":  # nothing of it was stored: the key may be used again
        store.release_idempotency_key(session, batch_id)
        session.commit()
        return None
    return batch


def _create(session: Session, **batch: Any) -> int | dict:
    """A new batch's id, committed; or, when a concurrent request with the same
    idempotency key won the race, the batch that request created."""
    try:
        batch_id = store.create_batch(session, **batch)
        session.commit()
    except IntegrityError:
        session.rollback()
        key = batch.get("idempotency_key")
        replayed = key and _replay(session, batch["actor"], key, batch["request_sha256"])
        if not replayed:
            raise
        return replayed
    return batch_id


def _score_now(session: Session, intake: ingest.Intake, *, lang: str, **creation: Any) -> dict:
    """Create a running batch, score and store it in one transaction, mark it complete;
    a failure marks it failed (nothing of it stored) and is raised again.

    The batch is leased to this request like a background job to its worker, and the
    lease renewed after every chunk: if the process dies mid-batch, the lease runs out and
    the batch is failed (``store.fail_abandoned_jobs``, run by workers and by a repeated
    Idempotency-Key) instead of staying ``running`` for ever."""
    scorer = get_scorer()
    if not store.may_write_personal(session, creation["actor"]):
        intake = ingest.Intake([ingest.refuse_personal(chunk) for chunk in intake.chunks])
    config = current_app.config
    holder = f"request:{worker_name()}"
    lease_seconds = float(config["BATCH_LEASE_SECONDS"])
    created = _create(
        session, worker=holder, lease_seconds=lease_seconds, rows_total=intake.received, **creation
    )
    if isinstance(created, dict):
        return created
    batch_id = created

    def renew(**progress: int) -> bool:
        return store.renew_lease(
            session, batch_id, worker=holder, lease_seconds=lease_seconds, **progress
        )

    try:
        scored = ingest.Scored([], [], [])
        scored_at, done = now_utc(), 0
        for chunk in intake.chunks:
            scored.extend(ingest.score(chunk, scorer, lang=lang, scored_at=scored_at))
            done += chunk.received
            if config["BATCH_CHUNK_PAUSE_SECONDS"]:
                time.sleep(config["BATCH_CHUNK_PAUSE_SECONDS"])
            renew(rows_done=done)
            session.commit()
        if not renew():  # locks the batch until the commit, as a worker's _publish does
            session.rollback()  # this request stalled past its lease: the batch was failed
            return store.get_batch(session, batch_id)
        ingest.store_scored(
            session, scored, cohort=creation["cohort"], batch_id=batch_id, actor=creation["actor"]
        )
        store.finish_batch(
            session,
            batch_id,
            received=intake.received,
            scored=len(scored.records),
            rejected=len(intake.errors),
            row_errors=[error.to_dict() for error in intake.errors],
            skipped=[row.to_dict() for row in intake.skipped],
            notices=[notice.to_dict() for notice in intake.notices],
        )
        session.commit()
    except Exception as exc:
        session.rollback()
        store.fail_batch(session, batch_id, reason=type(exc).__name__)
        session.commit()
        raise
    return store.get_batch(session, batch_id)


def _queue(
    session: Session,
    stream: BinaryIO,
    *,
    source: str,
    lang: str,
    rows_total: int | None,
    **creation: Any,
) -> dict:
    """Copy ``stream`` to a staging file (readable by this user only: it holds personal
    data), queue a batch for it and wake the embedded runner; the file goes if no batch is
    made. The copy is written under a ``.partial`` name and renamed once whole: a crash
    mid-copy leaves a file that ``sme-export purge`` recognises and deletes."""
    folder = staging_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix="batch-", suffix=f".{source}{PARTIAL}")
    partial = Path(name)
    path = partial.with_name(partial.name.removesuffix(PARTIAL))
    try:
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(stream, out, _COPY_BYTES)
        partial.replace(path)
        created = _create(
            session,
            queued=True,
            lang=lang,
            source=source,
            staging_path=str(path),
            rows_total=rows_total,
            **creation,
        )
    except BaseException:
        partial.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise
    if isinstance(created, dict):
        path.unlink(missing_ok=True)
        return created
    wake_runner(current_app)
    return store.get_batch(session, created)
