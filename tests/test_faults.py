"""Database outages: answered 503 problem+json with Retry-After (never a 500), /readyz
fails, and the same app works again once the database is back, without a restart."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, exc, make_url, text

from api.db import database_url, get_database
from api.http.errors import database_unavailable

pytest_plugins = ["api_fixtures", "db_fixtures"]

PROBLEM_JSON = "application/problem+json"


def _assert_unavailable(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    assert int(response.headers["Retry-After"]) >= 1
    body = response.get_json()
    assert body["status"] == 503
    assert "Traceback" not in response.get_data(as_text=True)


def _exercise(client, headers, profile) -> list:
    """A write, a read and a readiness check."""
    return [
        client.post("/api/v1/scores", json=profile, headers=headers),
        client.get(f"/api/v1/smes/{profile['sme_id']}/scores", headers=headers),
        client.get("/readyz"),
    ]


def _assert_all_unavailable(client, headers, profile) -> None:
    scored, read, ready = _exercise(client, headers, profile)
    _assert_unavailable(scored)
    _assert_unavailable(read)
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"]["ok"] is False


def _assert_all_working(client, headers, profile) -> None:
    scored, read, ready = _exercise(client, headers, profile)
    assert scored.status_code == 201, scored.get_data(as_text=True)
    assert read.status_code == 200
    assert ready.status_code == 200


@pytest.fixture
def headers(app, make_key) -> dict:
    return {"X-API-Key": make_key(app, "score", "read", "personal")}


def test_a_stopped_postgres_database_is_503_and_recovers_by_itself(
    make_app, make_key, postgres_database, profile, caplog
):
    with postgres_database("sme_fault") as url:
        app = make_app(DATABASE_URL=url.render_as_string(hide_password=False))
        headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
        client = app.test_client()
        _assert_all_working(client, headers, profile)

        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        name = url.database
        try:
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            with caplog.at_level(logging.WARNING):
                _assert_all_unavailable(client, headers, profile)
                _assert_all_unavailable(client, headers, profile)
            assert "database unavailable" in caplog.text
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            admin.dispose()

        _assert_all_working(client, headers, profile)
        history = client.get(f"/api/v1/smes/{profile['sme_id']}/scores", headers=headers)
        assert len(history.get_json()["scores"]) == 2  # before the outage and after it
        get_database(app).engine.dispose()  # before the database is dropped


def _sqlite_files(app) -> list[Path]:
    """The database file with its write-ahead log and shared-memory index."""
    path = Path(make_url(database_url(app)).database)
    return [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm")]


def _move(paths: list[Path], *, back: bool = False) -> None:
    """Move the files aside (a ".aside" suffix), or back in place."""
    for path in paths:
        aside = path.with_name(path.name + ".aside")
        source, target = (aside, path) if back else (path, aside)
        if source.exists():
            os.replace(source, target)
        elif back:
            target.unlink(missing_ok=True)


def test_an_unreadable_sqlite_file_is_503_and_recovers_by_itself(app, headers, profile):
    client = app.test_client()
    _assert_all_working(client, headers, profile)
    files = _sqlite_files(app)

    _move(files)
    files[0].write_bytes(b"this is not a database " * 400)
    try:
        _assert_all_unavailable(client, headers, profile)
    finally:
        _move(files, back=True)

    _assert_all_working(client, headers, profile)
    history = client.get(f"/api/v1/smes/{profile['sme_id']}/scores", headers=headers)
    assert len(history.get_json()["scores"]) == 2


def test_a_removed_sqlite_file_is_503_until_it_is_restored(app, headers, profile):
    client = app.test_client()
    _assert_all_working(client, headers, profile)
    files = _sqlite_files(app)

    _move(files)
    try:
        _assert_all_unavailable(client, headers, profile)
    finally:
        _move(files, back=True)
    _assert_all_working(client, headers, profile)


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (exc.OperationalError("SELECT 1", {}, Exception("server closed")), True),
        (exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"), True),
        (exc.InterfaceError("SELECT 1", {}, Exception("connection already closed")), True),
        (exc.DatabaseError("SELECT 1", {}, Exception("file is not a database")), True),
        (exc.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (exc.ProgrammingError("SELECT", {}, Exception("syntax error")), False),
    ],
)
def test_only_outages_count_as_the_database_being_unavailable(error, unavailable):
    assert database_unavailable(error) is unavailable


def test_a_database_bug_is_still_a_plain_500(app, headers, monkeypatch):
    from api import store

    def broken(*args, **kwargs):
        raise exc.IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(store, "score_history_page", broken)
    response = app.test_client().get("/api/v1/smes/X/scores", headers=headers)
    assert response.status_code == 500
    assert response.mimetype == PROBLEM_JSON
    assert "Retry-After" not in response.headers
