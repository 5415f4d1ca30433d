"""The engine and per-context session: SQLite pragmas, instance-folder default, teardown."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from api import db, migrate
from api.migrate import is_up_to_date


def _app(tmp_path: Path, **config) -> Flask:
    app = Flask("sme_export_test", instance_path=str(tmp_path / "instance"))
    app.config.update(config)
    db.init_app(app)
    migrate.init_app(app)
    return app


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path):
    engine = db.make_engine(db.sqlite_url(tmp_path / "new" / "x.db"))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()
    assert (tmp_path / "new" / "x.db").exists()


def test_in_memory_sqlite_is_one_database_for_every_session():
    engine = db.make_engine("sqlite://")
    sessions = db.make_sessionmaker(engine)
    with sessions() as first:
        first.execute(text("CREATE TABLE t (x INTEGER)"))
        first.execute(text("INSERT INTO t VALUES (1)"))
        first.commit()
    with sessions() as second:
        assert second.execute(text("SELECT x FROM t")).scalar() == 1
        assert second.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_default_database_is_sqlite_in_the_instance_folder_migrated_on_start(tmp_path):
    app = _app(tmp_path, DATABASE_URL=None, AUTO_MIGRATE=True)
    expected = tmp_path / "instance" / "sme_export.db"
    assert db.database_url(app) == f"sqlite:///{expected.resolve()}"
    assert expected.exists()
    with app.app_context():
        assert is_up_to_date(db.get_engine())


def test_database_url_from_config_and_no_migration_unless_asked(tmp_path):
    url = db.sqlite_url(tmp_path / "other.db")
    app = _app(tmp_path, DATABASE_URL=url)
    with app.app_context():
        assert str(db.get_engine().url) == url
        assert not is_up_to_date(db.get_engine())


def test_one_session_per_app_context_closed_and_rolled_back_at_teardown(tmp_path):
    app = _app(tmp_path, DATABASE_URL=db.sqlite_url(tmp_path / "s.db"))
    with app.app_context():
        session = db.get_session()
        assert db.get_session() is session
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        session.commit()
        session.execute(text("INSERT INTO t VALUES (1)"))  # never committed
    with app.app_context():
        other = db.get_session()
        assert other is not session
        assert other.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_get_session_needs_an_app_context():
    with pytest.raises(RuntimeError):
        db.get_session()
