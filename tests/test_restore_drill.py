"""The restore drill, on SQLite and PostgreSQL: a service answering HTTP with writes in
flight (single scores, a background batch, decisions) is backed up; writing goes on; the
database and the staged inputs are destroyed; the backup is restored under the running
service. Everything acknowledged before the backup began is back byte for byte, and the
batch that was running ends complete, never half-present."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from werkzeug.serving import WSGIRequestHandler, make_server

from api import store
from api.db import get_database, make_engine, sqlite_url
from api.migrate import upgrade
from api.services import backup as B
from api.services.batch_jobs import get_runner
from api.tables import Score

pytest_plugins = ["api_fixtures", "db_fixtures"]


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class Http:
    """A tiny client of the served app (standard library only)."""

    def __init__(self, base: str, key: str):
        self.base, self.key = base, key

    def call(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("X-API-Key", self.key)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path, postgres_database) -> Iterator[str]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "drill.sqlite")
        upgrade(url)
        yield url
        return
    with postgres_database("sme_drill") as made:
        url = made.render_as_string(hide_password=False)
        upgrade(url)
        yield url


def destroy(url: str) -> None:
    """Lose the database: the SQLite files deleted, or the PostgreSQL database dropped and
    made again empty (as a new server would have it)."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        engine.dispose()
        path = Path(engine.url.database)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = engine.url.database
    engine.dispose()
    admin = make_engine(engine.url.set(database="postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def wait_for(condition, *, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"still not true after {timeout} s")


def test_a_backup_taken_under_load_restores_what_was_acknowledged(
    database, make_app, make_key, profile, tmp_path
):
    staging = tmp_path / "staging"
    app = make_app(
        DATABASE_URL=database,
        BATCH_RUNNER=True,
        BATCH_BACKGROUND_ROWS=50,
        BATCH_CHUNK_ROWS=20,
        BATCH_CHUNK_PAUSE_SECONDS=0.3,
        BATCH_LEASE_SECONDS=2.0,
        BATCH_POLL_SECONDS=0.1,
        BATCH_STAGING_DIR=str(staging),
    )
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    http = Http(f"http://127.0.0.1:{server.server_port}", make_key(app, "admin"))
    try:
        _drill(app, http, database, profile, staging, tmp_path)
    finally:
        server.shutdown()
        get_runner(app).stop(timeout=30)  # before the database is dropped


def _drill(app, http, database, profile, staging, tmp_path) -> None:
    acknowledged: dict[str, dict] = {}
    for i in range(5):
        status, body = http.call(
            "POST", "/api/v1/scores?cohort=drill", {**profile, "sme_id": f"P-{i}"}
        )
        assert status == 201, body
        acknowledged[f"P-{i}"] = json.loads(body)
    status, body = http.call(
        "POST", "/api/v1/batches", [{**profile, "sme_id": f"B-{i}"} for i in range(10)]
    )
    assert status == 201, body
    done_batch = json.loads(body)["id"]
    status, results_before = http.call("GET", f"/api/v1/batches/{done_batch}/results.csv")
    assert status == 200
    with app.app_context():
        session = get_database(app).sessions()
        store.record_decisions(
            session,
            [
                {"sme_id": "P-0", "decision": "support", "support_kind": "trade_fair",
                 "decided_on": dt.date(2026, 6, 1)},
                {"sme_id": "P-1", "decision": "no_support", "reason": "no place left",
                 "decided_on": dt.date(2026, 6, 1)},
            ],
            actor="web:lead",
        )  # fmt: skip
        session.commit()
        session.close()

    status, body = http.call(
        "POST", "/api/v1/batches", [{**profile, "sme_id": f"G-{i}"} for i in range(120)]
    )
    assert status == 202, body
    running = json.loads(body)["id"]
    wait_for(
        lambda: (
            json.loads(http.call("GET", f"/api/v1/batches/{running}")[1])["progress"]["rows_done"]
            >= 20
        )
    )

    stop, log = threading.Event(), []

    def write() -> None:
        n = 0
        while not stop.is_set():
            sme_id = f"W-{n}"
            status, body = http.call("POST", "/api/v1/scores", {**profile, "sme_id": sme_id})
            if status == 201:
                log.append((time.monotonic(), sme_id, json.loads(body)))
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.5)
        started = time.monotonic()
        backup = B.create_backup(tmp_path / "backups", B.Sources(database, staging_dir=staging))
        time.sleep(0.5)
    finally:
        stop.set()
        writer.join()
    for at, sme_id, record in log:
        if at < started:
            acknowledged[sme_id] = record
    assert any(sme_id.startswith("W-") for sme_id in acknowledged)
    assert json.loads((backup / B.MANIFEST).read_text())["database"]["tables"]["batches"] >= 2

    destroy(database)
    for path in staging.glob("*"):
        path.unlink()
    B.restore_backup(backup, B.Sources(database, staging_dir=staging))

    # Every score acknowledged before the backup began is back, as it was answered.
    for sme_id, record in acknowledged.items():
        status, body = wait_for(
            lambda s=sme_id: (r := http.call("GET", f"/api/v1/smes/{s}/scores"))[0] != 503 and r
        )
        assert status == 200, (sme_id, body)
        [stored] = json.loads(body)["scores"]
        assert stored == {key: record[key] for key in stored}, sme_id
    status, results_after = http.call("GET", f"/api/v1/batches/{done_batch}/results.csv")
    assert (status, results_after) == (200, results_before)
    with app.app_context():
        session = get_database(app).sessions()
        assert store.list_decisions(session, store.DecisionFilter())[1] == 2
        session.close()

    # The batch that was running is run again from its restored input and ends complete.
    final = wait_for(
        lambda: (
            (b := json.loads(http.call("GET", f"/api/v1/batches/{running}")[1])).get("status")
            in ("complete", "failed")
            and b
        )
    )
    assert (final["status"], final["received"], final["scored"]) == ("complete", 120, 120)
    with app.app_context():
        session = get_database(app).sessions()
        stored = session.scalar(
            select(func.count()).select_from(Score).where(Score.batch_id == running)
        )
        session.close()
    assert stored == 120
