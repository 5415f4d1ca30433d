"""Fixtures for the staff web page tests: an app with one account per role and logged-in
clients.

Apps run on SQLite. A test parametrized over ``web_backend`` (``db_fixtures.BACKENDS``)
runs on SQLite and on the session's PostgreSQL database; its module then also needs
``db_fixtures``.

Use with ``pytest_plugins = ["api_fixtures", "web_fixtures"]`` in a test module.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from web_helpers import ROLES, create_user, log_in

from api.db import make_engine, sqlite_url
from api.migrate import upgrade


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite file migrated once; apps start on copies of it (migrating is slow)."""
    path = tmp_path_factory.mktemp("web-db") / "migrated.db"
    engine = make_engine(sqlite_url(path))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture
def web_backend() -> str:
    """The database of the apps ``make_web_app`` makes; tests parametrize it to change it."""
    return "sqlite"


@pytest.fixture
def make_web_app(request, make_app, migrated_sqlite, tmp_path, web_backend) -> Callable[..., Flask]:
    """``make_web_app(**config)``: a test app on a copy of the migrated SQLite database, or
    on the session's PostgreSQL database (emptied before and after the test)."""
    if web_backend == "postgresql":
        engine = request.getfixturevalue("postgres_empty_engine")
        url = engine.url.render_as_string(hide_password=False)
        return lambda **config: make_app(DATABASE_URL=url, **config)

    def make(**config) -> Flask:
        copy = tmp_path / f"web-{len(list(tmp_path.glob('web-*.db')))}.db"
        shutil.copyfile(migrated_sqlite, copy)
        return make_app(DATABASE_URL=sqlite_url(copy), **config)

    return make


@pytest.fixture
def web_app(make_web_app) -> Flask:
    """The test app with the accounts ``officer``, ``lead`` and ``admin``."""
    app = make_web_app()
    for role in ROLES:
        create_user(app, role, role)
    return app


@pytest.fixture
def login(web_app) -> Callable[[str], FlaskClient]:
    """``login("lead")``: a new client logged in as that account."""

    def make(username: str) -> FlaskClient:
        client = web_app.test_client()
        response = log_in(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make
