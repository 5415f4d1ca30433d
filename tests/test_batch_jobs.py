"""Background batches: large uploads answered 202 and run by a worker, progress while they
run, results only once complete, a worker killed mid-batch taken over (or given up on),
idempotent resubmission, and the job queue's leases on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from test_api_batches import (
    cohort_rows,
    comparable,
    engine_records,
    indonesian_csv,
    set_cell,
    upload,
)

from api import store
from api.db import get_database
from api.services.batch_jobs import Worker, get_runner
from api.services.ingest import ERASED_WHILE_QUEUED as ERASED
from api.tables import Batch, Score, utcnow
from scoring.contract.validate import validate_records

pytest_plugins = ["api_fixtures", "db_fixtures"]

SME_EXPORT = Path(sys.executable).with_name("sme-export")
BACKGROUND = {
    "BATCH_BACKGROUND_BYTES": 200,  # every test upload goes to the background
    "BATCH_BACKGROUND_ROWS": 20,
    "BATCH_CHUNK_ROWS": 50,
    "BATCH_POLL_SECONDS": 0.05,
}


@pytest.fixture
def make_bg_app(make_app, tmp_path):
    """``make_bg_app(**config)``: an app that queues every input above a few rows."""
    return lambda **config: make_app(
        **{**BACKGROUND, "BATCH_STAGING_DIR": str(tmp_path / "staging"), **config}
    )


@pytest.fixture
def mixed_csv() -> bytes:
    """Five rows of the shipped Indonesian cohort CSV (file rows 2-6); rows 3 and 5 invalid."""
    header, rows = cohort_rows(5)
    set_cell(header, rows[1], "employees", "banyak")
    set_cell(header, rows[3], "sector", "space")
    return indonesian_csv(header, rows)


@pytest.fixture
def records(profile) -> list:
    """160 profiles (four chunks): every 7th invalid, the 100th not an object."""
    items = []
    for i in range(160):
        row = {**profile, "sme_id": f"BG-{i:04d}", "employees": i % 90, "has_website": i % 2 == 0}
        if i % 7 == 3:
            row["employees"] = -1
        items.append(row)
    items[99] = "not a profile"
    return items


def expected_records(scorer, items: list, lang: str = "en") -> tuple[list[dict], list[dict]]:
    """What the engine makes of ``items`` in one piece: records and row errors."""
    batch = validate_records(items, source="request body")
    records = scorer.score(batch.profiles, assumed=batch.assumed).to_records(lang=lang)
    return [comparable(r) for r in records], [error.to_dict() for error in batch.errors]


def get(client, headers, batch_id: int) -> dict:
    response = client.get(f"/api/v1/batches/{batch_id}", headers=headers)
    assert response.status_code == 200
    return response.get_json()


def wait_for(condition, *, timeout: float = 60.0, every: float = 0.05):
    """Poll ``condition()`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"still not true after {timeout} s")


def stored_rows(app, batch_id: int) -> int:
    with get_database(app).sessions() as session:
        return session.scalar(select(func.count()).where(Score.batch_id == batch_id))


def staged_files(app) -> list[Path]:
    folder = Path(app.config["BATCH_STAGING_DIR"])
    return sorted(folder.iterdir()) if folder.exists() else []


# --- 202, progress, results only when complete --------------------------------------------------


def test_a_large_upload_is_queued_and_a_worker_completes_it(
    db_url, make_bg_app, make_key, mixed_csv, scorer
):
    app = make_bg_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    response = upload(client, headers, mixed_csv, "kohort.csv", "?cohort=bg")
    assert response.status_code == 202, response.get_json()
    queued = response.get_json()
    batch_id = queued["id"]
    assert response.headers["Location"] == f"/api/v1/batches/{batch_id}"
    assert (queued["status"], queued["cohort"], queued["filename"]) == (
        "queued",
        "bg",
        "kohort.csv",
    )
    assert (queued["received"], queued["scored"], queued["rejected"], queued["errors"]) == (
        0,
        0,
        0,
        [],
    )
    assert queued["progress"] == {"rows_done": 0, "rows_total": None}
    assert client.get(f"/api/v1/batches/{batch_id}/results", headers=headers).status_code == 409
    assert len(staged_files(app)) == 1

    assert Worker(app).run_once() == batch_id
    assert Worker(app).run_once() is None  # nothing left to do

    batch = get(client, headers, batch_id)
    assert (batch["status"], batch["received"], batch["scored"], batch["rejected"]) == (
        "complete",
        5,
        3,
        2,
    )
    assert batch["progress"] == {"rows_done": 5, "rows_total": 5}
    expected, errors = engine_records(scorer, mixed_csv, "kohort.csv")
    assert batch["errors"] == errors
    results = client.get(f"/api/v1/batches/{batch_id}/results", headers=headers).get_json()
    assert [comparable(r) for r in results["results"]] == [comparable(r) for r in expected]
    assert client.get("/api/v1/smes?cohort=bg", headers=headers).get_json()["total"] == 3
    assert staged_files(app) == []  # personal data does not outlive the batch


def test_progress_is_visible_and_results_appear_only_when_complete(
    make_bg_app, make_key, records, scorer
):
    """The embedded runner thread scores a JSON array chunk by chunk; readers see progress
    and nothing else until the batch is complete."""
    app = make_bg_app(BATCH_RUNNER=True, BATCH_CHUNK_PAUSE_SECONDS=0.15)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    try:
        response = client.post("/api/v1/batches?lang=id", json=records, headers=headers)
        assert response.status_code == 202
        batch_id = response.get_json()["id"]
        assert response.get_json()["progress"] == {"rows_done": 0, "rows_total": 160}

        seen = []

        def midway():
            batch = get(client, headers, batch_id)
            seen.append(batch)
            return batch if 0 < batch["progress"]["rows_done"] < 160 else None

        running = wait_for(midway)
        assert running["status"] == "running"
        assert running["received"] == running["scored"] + running["rejected"] == 0
        assert client.get(f"/api/v1/batches/{batch_id}/results", headers=headers).status_code == 409
        assert client.get("/api/v1/smes", headers=headers).get_json()["total"] == 0
        assert stored_rows(app, batch_id) == 0

        done = wait_for(lambda: (b := get(client, headers, batch_id))["status"] == "complete" and b)
    finally:
        get_runner(app).stop(timeout=30)
    progress = [b["progress"]["rows_done"] for b in seen]
    assert progress == sorted(progress)  # it only moves forward
    assert (done["received"], done["scored"], done["rejected"]) == (160, 136, 24)
    assert done["received"] == done["scored"] + done["rejected"]
    expected, errors = expected_records(scorer, records, lang="id")
    assert done["errors"] == errors
    assert [e["row"] for e in errors][:3] == [4, 11, 18]  # numbered as in the whole array
    results = client.get(f"/api/v1/batches/{batch_id}/results", headers=headers).get_json()
    assert [comparable(r) for r in results["results"]] == expected
    assert len({r["scored_at"] for r in results["results"]}) == 1  # one time for the batch


def test_an_unreadable_queued_file_fails_with_the_reason(make_bg_app, make_key):
    app = make_bg_app()
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    response = upload(client, headers, b"\x00\x01\x02 garbage" * 50, "data.bin")
    assert response.status_code == 202
    batch_id = response.get_json()["id"]
    Worker(app).run_once()
    batch = get(client, headers, batch_id)
    assert batch["status"] == "failed"
    assert "unknown file format" in batch["reason"]
    assert batch["finished_at"] is not None
    assert client.get(f"/api/v1/batches/{batch_id}/results", headers=headers).status_code == 409
    assert staged_files(app) == []


def test_a_queued_file_longer_than_the_row_limit_fails(make_bg_app, make_key, mixed_csv):
    app = make_bg_app(BATCH_MAX_ROWS=4)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    batch_id = upload(client, headers, mixed_csv, "k.csv").get_json()["id"]
    Worker(app).run_once()
    batch = get(client, headers, batch_id)
    assert (batch["status"], batch["reason"]) == (
        "failed",
        "A batch holds at most 4 rows; split the file.",
    )


def test_a_batch_that_breaks_while_storing_fails_and_stores_nothing(
    make_bg_app, make_key, records, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    app = make_bg_app()
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    batch_id = client.post("/api/v1/batches", json=records, headers=headers).get_json()["id"]
    monkeypatch.setattr(store, "save_scored", broken)
    assert Worker(app).run_once() == batch_id
    batch = get(client, headers, batch_id)
    assert (batch["status"], batch["reason"], batch["received"]) == ("failed", "RuntimeError", 0)
    assert client.get("/api/v1/smes", headers=headers).get_json()["total"] == 0
    assert staged_files(app) == []


def test_small_inputs_are_still_scored_in_the_request(make_bg_app, make_key, profile):
    app = make_bg_app()
    headers = {"X-API-Key": make_key(app, "score", "personal")}
    response = app.test_client().post("/api/v1/batches", json=[profile] * 3, headers=headers)
    assert response.status_code == 201
    assert response.get_json()["status"] == "complete"
    assert response.get_json()["progress"] == {"rows_done": 3, "rows_total": 3}


# --- a worker process killed in the middle of a batch ------------------------------------------


def start_worker(db_url: str, *options: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url, "SME_EXPORT_CONFIG": "default"}
    return subprocess.Popen(
        [str(SME_EXPORT), "worker", *options],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_a_worker_killed_mid_batch_is_taken_over_and_the_batch_completes_whole(
    db_url, make_bg_app, make_key, records, scorer, tmp_path
):
    app = make_bg_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    batch_id = client.post("/api/v1/batches", json=records, headers=headers).get_json()["id"]

    process = start_worker(
        db_url, "--chunk-rows", "50", "--lease-seconds", "1", "--chunk-pause", "0.5"
    )
    try:
        running = wait_for(
            lambda: (b := get(client, headers, batch_id))["progress"]["rows_done"] >= 50 and b,
            timeout=120,
        )
        assert running["progress"]["rows_done"] < 160
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()

    # Killed mid-batch: still "running", nothing of it visible, its lease about to run out.
    killed = get(client, headers, batch_id)
    assert killed["status"] == "running"
    assert client.get(f"/api/v1/batches/{batch_id}/results", headers=headers).status_code == 409
    assert stored_rows(app, batch_id) == 0
    assert client.get("/api/v1/smes", headers=headers).get_json()["total"] == 0

    time.sleep(1.2)  # the dead worker's lease runs out
    from api.cli import main

    env = {"DATABASE_URL": db_url, "SME_EXPORT_CONFIG": "default"}
    result = CliRunner().invoke(main, ["worker", "--until-idle"], env=env)
    assert result.exit_code == 0, result.output

    batch = get(client, headers, batch_id)
    assert (batch["status"], batch["received"], batch["scored"], batch["rejected"]) == (
        "complete",
        160,
        136,
        24,
    )
    expected, errors = expected_records(scorer, records)
    assert batch["errors"] == errors
    results = client.get(f"/api/v1/batches/{batch_id}/results", headers=headers).get_json()
    assert [comparable(r) for r in results["results"]] == expected  # exactly one run's rows
    assert stored_rows(app, batch_id) == 136
    with get_database(app).sessions() as session:
        assert session.get(Batch, batch_id).attempts == 2
    assert staged_files(app) == []


def abandon(app, batch_id: int, *, worker: str = "gone:1:dead") -> None:
    """What a killed worker leaves behind: the job claimed by it, its lease run out."""
    with get_database(app).sessions() as session:
        assert store.claim_job(session, worker=worker, lease_seconds=60, max_attempts=9)
        session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(lease_expires_at=utcnow() - dt.timedelta(seconds=1))
        )
        session.commit()


def test_an_sme_erased_while_its_batch_waits_is_not_brought_back(
    db_url, make_bg_app, make_key, records
):
    app = make_bg_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "admin")}
    first = client.post("/api/v1/batches", json=records, headers=headers).get_json()["id"]
    assert Worker(app).run_once() == first  # BG-0001 and BG-0005 are now known
    again = client.post("/api/v1/batches", json=records, headers=headers).get_json()["id"]
    for sme_id in ("BG-0001", "BG-0005"):  # their erasure requests arrive while it waits
        assert client.delete(f"/api/v1/smes/{sme_id}", headers=headers).status_code == 204

    assert Worker(app).run_once() == again
    batch = get(client, headers, again)
    assert (batch["status"], batch["received"], batch["scored"], batch["rejected"]) == (
        "complete",
        160,
        134,
        26,
    )
    withheld = [e for e in batch["errors"] if e["row"] in (2, 6)]
    assert withheld == [
        {"row": row, "sme_id": None, "errors": [{"field": "sme_id", "message": ERASED}]}
        for row in (2, 6)
    ]
    assert [e["row"] for e in batch["errors"]] == sorted(e["row"] for e in batch["errors"])
    for sme_id in ("BG-0001", "BG-0005"):
        assert client.get(f"/api/v1/smes/{sme_id}", headers=headers).status_code == 404
    results = client.get(f"/api/v1/batches/{again}/results", headers=headers).get_json()
    assert {r["sme_id"] for r in results["results"]}.isdisjoint({"BG-0001", "BG-0005"})
    assert stored_rows(app, again) == 134
    assert client.get("/api/v1/smes/BG-0002", headers=headers).status_code == 200


def test_a_batch_whose_worker_stopped_too_often_is_failed(make_bg_app, make_key, records):
    app = make_bg_app(BATCH_MAX_ATTEMPTS=2)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    batch_id = client.post("/api/v1/batches", json=records, headers=headers).get_json()["id"]
    abandon(app, batch_id)
    abandon(app, batch_id)
    assert Worker(app).run_once() is None
    batch = get(client, headers, batch_id)
    assert batch["status"] == "failed"
    assert batch["reason"] == (
        "the worker running it stopped before the end 2 times (killed or lost); "
        "no results were stored"
    )
    assert client.get(f"/api/v1/batches/{batch_id}/results", headers=headers).status_code == 409
    assert staged_files(app) == []


# --- the queue: claims and leases ---------------------------------------------------------------


def queue_one(session, **extra) -> int:
    batch_id = store.create_batch(
        session,
        cohort=None,
        filename=None,
        actor="key:a",
        queued=True,
        source="records",
        staging_path="/nowhere",
        lang="en",
        **extra,
    )
    session.commit()
    return batch_id


def test_a_job_is_claimed_once_and_taken_over_only_after_its_lease_ran_out(db_session):
    batch_id = queue_one(db_session)
    first = store.claim_job(db_session, worker="w1", lease_seconds=60, max_attempts=3)
    db_session.commit()
    assert (first.batch_id, first.attempts, first.source) == (batch_id, 1, "records")
    assert store.claim_job(db_session, worker="w2", lease_seconds=60, max_attempts=3) is None
    assert store.renew_lease(db_session, batch_id, worker="w1", lease_seconds=60, rows_done=5)
    assert not store.renew_lease(db_session, batch_id, worker="w2", lease_seconds=60)
    db_session.execute(update(Batch).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
    db_session.commit()

    second = store.claim_job(db_session, worker="w2", lease_seconds=60, max_attempts=3)
    db_session.commit()
    assert (second.batch_id, second.attempts) == (batch_id, 2)
    assert store.get_batch(db_session, batch_id)["progress"]["rows_done"] == 0  # from the start
    assert not store.renew_lease(db_session, batch_id, worker="w1", lease_seconds=60)  # fenced
    store.finish_batch(db_session, batch_id, received=0, scored=0, rejected=0, row_errors=[])
    db_session.commit()
    assert store.finished_staging(db_session) == {batch_id: "/nowhere"}
    store.forget_staging(db_session, [batch_id])
    assert store.finished_staging(db_session) == {}


def test_workers_racing_for_jobs_each_get_a_different_one(db_engine):
    from api.db import make_sessionmaker

    sessions = make_sessionmaker(db_engine)
    with sessions() as session:
        ids = {queue_one(session) for _ in range(6)}
    claimed: list[int] = []
    barrier = threading.Barrier(3)

    def claim_all(name: str) -> None:
        barrier.wait()
        with sessions() as session:
            while True:
                job = store.claim_job(session, worker=name, lease_seconds=60, max_attempts=3)
                session.commit()
                if job is None:
                    return
                claimed.append(job.batch_id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == sorted(ids)


# --- Idempotency-Key --------------------------------------------------------------------------


def test_the_database_refuses_a_second_batch_with_the_same_key_and_actor(db_session):
    """What settles two identical requests arriving at the same moment."""
    first = store.create_batch(
        db_session, cohort=None, filename=None, actor="key:a", idempotency_key="k"
    )
    store.create_batch(db_session, cohort=None, filename=None, actor="key:b", idempotency_key="k")
    store.create_batch(db_session, cohort=None, filename=None, actor="key:a")
    store.create_batch(db_session, cohort=None, filename=None, actor="key:a")
    db_session.commit()
    with pytest.raises(IntegrityError):
        store.create_batch(
            db_session, cohort=None, filename=None, actor="key:a", idempotency_key="k"
        )
    db_session.rollback()
    assert store.find_batch_by_key(db_session, actor="key:a", idempotency_key="k") == (first, None)
    with pytest.raises(LookupError):
        store.find_batch_by_key(db_session, actor="key:c", idempotency_key="k")


def test_the_same_idempotency_key_returns_the_same_batch(make_bg_app, make_key, records, profile):
    app = make_bg_app()
    client = app.test_client()
    score_key = make_key(app, "score", "read", "personal")
    headers = {"X-API-Key": score_key, "Idempotency-Key": "upload-2026-11-28"}

    first = client.post("/api/v1/batches", json=records, headers=headers)
    again = client.post("/api/v1/batches", json=records, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert len(staged_files(app)) == 1  # no second copy of the input either

    Worker(app).run_once()
    after = client.post("/api/v1/batches", json=records, headers=headers)
    assert after.status_code == 201
    assert after.get_json() == get(client, headers, first.get_json()["id"])

    small = {**headers, "Idempotency-Key": "small-one"}
    one = client.post("/api/v1/batches", json=[profile], headers=small)
    two = client.post("/api/v1/batches", json=[profile], headers=small)
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.get_json() == two.get_json()
    history = client.get(f"/api/v1/smes/{profile['sme_id']}/scores", headers=headers).get_json()
    assert len(history["scores"]) == 1  # scored once

    other_actor = {"X-API-Key": make_key(app, "score", "personal"), "Idempotency-Key": "small-one"}
    other = client.post("/api/v1/batches", json=[profile], headers=other_actor)
    assert other.status_code == 201
    assert other.get_json()["id"] != one.get_json()["id"]  # keys belong to their actor


def test_an_idempotency_key_reused_for_another_request_is_422(
    make_bg_app, make_key, profile, mixed_csv
):
    app = make_bg_app(BATCH_BACKGROUND_BYTES=10**6)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal"), "Idempotency-Key": "k-1"}
    first = upload(client, headers, mixed_csv, "k.csv")
    assert first.status_code == 201
    for response in (
        upload(client, headers, mixed_csv + b"\r\n", "k.csv"),  # another file
        upload(client, headers, mixed_csv, "k.csv", "?cohort=other"),  # other options
        client.post("/api/v1/batches", json=[profile], headers=headers),
    ):
        assert response.status_code == 422
        problem = response.get_json()
        assert problem["errors"][0]["field"] == "Idempotency-Key"
        assert f"batch {first.get_json()['id']}" in problem["detail"]
    assert client.get("/api/v1/batches/2", headers=headers).status_code == 404


@pytest.mark.parametrize("key", ["", "   ", "x" * 256])
def test_an_empty_or_overlong_idempotency_key_is_422(client, auth, profile, key):
    headers = {**auth("score", "personal"), "Idempotency-Key": key}
    response = client.post("/api/v1/batches", json=[profile], headers=headers)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_request_that_loses_the_race_for_its_key_returns_the_winners_batch(
    make_bg_app, make_key, records, monkeypatch
):
    """Two identical requests at once: both look the key up before either has stored it."""
    from api.services import batch_service

    app = make_bg_app()
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal"), "Idempotency-Key": "race"}
    winner = client.post("/api/v1/batches", json=records, headers=headers).get_json()
    looked_up = batch_service._replay
    calls = []

    def not_yet_stored(*args):
        calls.append(args)
        return None if len(calls) == 1 else looked_up(*args)

    monkeypatch.setattr(batch_service, "_replay", not_yet_stored)
    loser = client.post("/api/v1/batches", json=records, headers=headers)
    assert loser.status_code == 202
    assert loser.get_json() == winner
    assert len(calls) == 2
    assert len(staged_files(app)) == 1  # the loser's staged copy is gone


# --- a batch scored in the request, its process killed -------------------------------------

_IN_REQUEST = """
import json, sys
from api import create_app
url, key, body = sys.argv[1:4]
app = create_app({
    "TESTING": True, "DATABASE_URL": url, "BATCH_LEASE_SECONDS": 1.0,
    "BATCH_CHUNK_ROWS": 20, "BATCH_CHUNK_PAUSE_SECONDS": 0.5,
})
with open(body, encoding="utf-8") as items:
    headers = {"X-API-Key": key, "Idempotency-Key": "in-request"}
    app.test_client().post("/api/v1/batches", json=json.load(items), headers=headers)
"""


@pytest.mark.slow
def test_a_batch_whose_request_process_is_killed_is_failed_and_can_be_sent_again(
    db_url, make_app, make_key, records, scorer, tmp_path
):
    app = make_app(DATABASE_URL=db_url)  # 160 profiles: scored in the request
    client = app.test_client()
    key = make_key(app, "score", "read", "personal")
    headers = {"X-API-Key": key, "Idempotency-Key": "in-request"}
    body = tmp_path / "records.json"
    body.write_text(json.dumps(records), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-c", _IN_REQUEST, db_url, key, str(body)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        running = wait_for(
            lambda: (
                process.poll() is None
                and stored_batch(app, 1)
                and (b := get(client, headers, 1))["progress"]["rows_done"] >= 20
                and b
            ),
            timeout=300,
        )
        assert (running["status"], running["progress"]["rows_total"]) == ("running", 160)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()

    # While its lease runs, the same key answers that the batch is still running.
    again = client.post("/api/v1/batches", json=records, headers=headers)
    assert (again.status_code, again.get_json()["id"]) == (202, 1)
    assert stored_rows(app, 1) == 0

    time.sleep(1.2)  # the killed request's lease runs out
    retried = client.post("/api/v1/batches", json=records, headers=headers)
    assert retried.status_code == 201, retried.get_json()
    batch = retried.get_json()
    assert (batch["id"], batch["status"], batch["received"], batch["scored"]) == (
        2,
        "complete",
        160,
        136,
    )
    assert batch["errors"] == expected_records(scorer, records)[1]
    failed = get(client, headers, 1)
    assert (failed["status"], failed["reason"]) == ("failed", store.REQUEST_STOPPED)
    assert failed["finished_at"] is not None
    assert stored_rows(app, 1) == 0 and stored_rows(app, 2) == 136
    # The key now belongs to the new batch.
    assert client.post("/api/v1/batches", json=records, headers=headers).get_json() == get(
        client, headers, 2
    )


def stored_batch(app, batch_id: int) -> bool:
    with get_database(app).sessions() as session:
        return session.get(Batch, batch_id) is not None


def test_a_worker_fails_a_batch_whose_request_stopped_and_never_runs_it(db_session):
    batch_id = store.create_batch(
        db_session,
        cohort=None,
        filename=None,
        actor="key:a",
        worker="request:host:1:x",
        lease_seconds=60,
    )
    db_session.commit()
    assert store.fail_abandoned_jobs(db_session, max_attempts=3) == 0  # its lease runs
    db_session.execute(update(Batch).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
    db_session.commit()
    assert store.claim_job(db_session, worker="w1", lease_seconds=60, max_attempts=3) is None
    assert store.fail_abandoned_jobs(db_session, max_attempts=3) == 1
    db_session.commit()
    batch = store.get_batch(db_session, batch_id)
    assert (batch["status"], batch["failure_reason"]) == ("failed", store.REQUEST_STOPPED)
    assert store.claim_job(db_session, worker="w1", lease_seconds=60, max_attempts=3) is None


# --- staging files a crash left behind -----------------------------------------------------


def test_an_upload_is_staged_under_a_partial_name_until_it_is_whole(
    make_bg_app, make_key, mixed_csv, monkeypatch
):
    from api.services import batch_service

    app = make_bg_app()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    copy = batch_service.shutil.copyfileobj
    during: list[list[str]] = []

    def copying(source, target, length):
        copy(source, target, length)
        during.append([path.name for path in staged_files(app)])

    monkeypatch.setattr(batch_service.shutil, "copyfileobj", copying)
    response = upload(app.test_client(), headers, mixed_csv, "k.csv")
    assert response.status_code == 202
    assert len(during) == 1 and len(during[0]) == 1
    assert during[0][0].startswith("batch-") and during[0][0].endswith(".upload.partial")
    after = [path.name for path in staged_files(app)]
    assert after == [during[0][0].removesuffix(".partial")]


def test_purge_deletes_staging_files_a_crash_left_behind(db_url, make_bg_app, make_key, records):
    from api.cli import main

    app = make_bg_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    waiting = client.post("/api/v1/batches", json=records, headers=headers).get_json()["id"]
    finished = client.post("/api/v1/batches", json=records[:30], headers=headers).get_json()["id"]
    with get_database(app).sessions() as session:  # finished, its file not yet deleted
        session.execute(update(Batch).where(Batch.id == finished).values(status="failed"))
        session.commit()
        paths = {row.id: Path(row.staging_path) for row in session.query(Batch).all()}
    folder = Path(app.config["BATCH_STAGING_DIR"])
    crashed = folder / "batch-crashed.upload.partial"  # the server died while copying
    orphan = folder / "batch-orphan.records"  # it died before the batch was made
    fresh = folder / "batch-fresh.upload.partial"  # an upload being copied right now
    for path in (crashed, orphan, fresh):
        path.write_text("sme_id,owner_name\nBDG-1,Siti Rahayu\n", encoding="utf-8")
    day_ago = time.time() - 24 * 3600
    for path in (crashed, orphan, paths[waiting], paths[finished]):
        os.utime(path, (day_ago, day_ago))

    options = ["--database-url", db_url, "--staging-dir", str(folder)]
    dry = CliRunner().invoke(main, ["purge", "--dry-run", *options])
    assert dry.exit_code == 0, dry.output
    assert "would delete 3 batch staging file(s) no batch waits for" in dry.stderr
    assert len(staged_files(app)) == 5

    done = CliRunner().invoke(main, ["purge", *options])
    assert done.exit_code == 0, done.output
    assert "deleted 3 batch staging file(s) no batch waits for" in done.stderr
    assert staged_files(app) == sorted([fresh, paths[waiting]])
    with get_database(app).sessions() as session:
        assert store.finished_staging(session) == {}
    assert Worker(app).run_once() == waiting  # the waiting batch still runs
    assert get(client, headers, waiting)["status"] == "complete"
