"""Migrations: the Alembic scripts build exactly the ORM's schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, inspect

from api.db import make_engine, sqlite_url
from api.migrate import current_revision, downgrade, head_revision, is_up_to_date, upgrade
from api.tables import Base

pytest_plugins = ["db_fixtures"]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path, postgres_database) -> Iterator[str]:
    """The URL of an empty database that has never been migrated."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "fresh.db")
        return
    with postgres_database("sme_migrations") as url:
        yield url.render_as_string(hide_password=False)


def _differences(engine, metadata=Base.metadata) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def test_migrated_schema_matches_the_orm_models(empty_url):
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_the_comparison_would_see_a_difference(empty_url):
    """Guards the test above against comparing nothing."""
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        extra = MetaData()
        for table in Base.metadata.sorted_tables:
            table.to_metadata(extra)
        Table("not_migrated", extra, Column("id", Integer, primary_key=True))
        diff = _differences(engine, extra)
        assert [(d[0], d[1].name) for d in diff] == [("add_table", "not_migrated")]
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_reports_the_head(empty_url):
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) is None
        assert not is_up_to_date(engine)
        upgrade(empty_url)
        upgrade(empty_url)
        assert current_revision(engine) == head_revision() == "0010"
        assert is_up_to_date(engine)
        assert set(inspect(engine).get_table_names()) == {
            *Base.metadata.tables,
            "alembic_version",
        }
    finally:
        engine.dispose()


def test_upgrade_works_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = sqlite_url(tmp_path / "elsewhere" / "db.sqlite")
    upgrade(url)
    engine = make_engine(url)
    try:
        assert is_up_to_date(engine)
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(empty_url):
    engine = make_engine(empty_url)
    try:
        upgrade(engine)
        downgrade(engine, revision="base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade(engine)
        assert _differences(engine) == []
    finally:
        engine.dispose()
