"""Fixtures for the HTTP API tests: an app on a fresh SQLite database, a client, and a fresh
API key per scope. The shipped model and ruleset are loaded once per session (conftest's
``scorer``) and handed to every app.

Use with ``pytest_plugins = ["api_fixtures"]`` in a test module.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app, store
from api.db import get_database, get_session, sqlite_url

DATA = Path(__file__).resolve().parent.parent / "data"
MODELS = DATA.parent / "models"
SCOPES = ("score", "read", "personal", "admin")


@pytest.fixture(scope="session")
def small_training_data(tmp_path_factory) -> Path:
    """2,000 labelled synthetic rows: the reference of drift, fairness and the model card in
    API tests (the shipped 30,000 rows take seconds to read and score on a busy machine)."""
    from scoring.model import synth

    path = tmp_path_factory.mktemp("reference") / "training.parquet"
    synth.generate_profiles(2000, seed=7).to_parquet(path, index=False)
    return path


@pytest.fixture
def make_app(tmp_path, scorer, small_training_data) -> Iterator[Callable[..., Flask]]:
    """``make_app(**config)``: a test app on its own SQLite file, config overrides applied."""
    made: list[Flask] = []

    def make(**config) -> Flask:
        # A copy of the shipped models: promotion and rollback never touch models/ACTIVE.
        models = tmp_path / "models"
        if not models.exists():
            shutil.copytree(MODELS, models, ignore=shutil.ignore_patterns(".*"))
        settings = {
            "TESTING": True,
            "DATABASE_URL": sqlite_url(tmp_path / f"api-{len(made)}.db"),
            "SCORER": scorer,
            "MODELS_DIR": str(models),
            "RULESETS_DIR": str(tmp_path / "rulesets"),
            "TRAINING_DATA_PATH": str(small_training_data),
            **config,
        }
        app = create_app(settings)
        made.append(app)
        return app

    yield make
    for app in made:
        get_database(app).engine.dispose()


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


def create_key(app: Flask, *scopes: str, name: str = "test") -> str:
    """A new API key with ``scopes``, committed; its full text."""
    with app.app_context():
        session = get_session()
        _, key = store.create_api_key(session, name=name, scopes=list(scopes))
        session.commit()
    return key


@pytest.fixture
def make_key() -> Callable[..., str]:
    """``make_key(app, *scopes)``: a new committed key for another app than ``app``."""
    return create_key


@pytest.fixture
def api_keys(app) -> dict[str, str]:
    """A fresh key for each scope: ``{"score": ..., "read": ..., "personal": ..., ...}``."""
    return {scope: create_key(app, scope, name=f"{scope} key") for scope in SCOPES}


@pytest.fixture
def auth(app, api_keys) -> Callable[..., dict[str, str]]:
    """``auth("read")``: the headers of a request made with the read key;
    ``auth("score", "personal")``: with a new key holding those scopes."""

    def headers(*scopes: str) -> dict[str, str]:
        if len(scopes) == 1:
            return {"X-API-Key": api_keys[scopes[0]]}
        return {"X-API-Key": create_key(app, *scopes, name="+".join(scopes))}

    return headers


_EXAMPLE = json.loads((DATA / "example_profile.json").read_text(encoding="utf-8"))


@pytest.fixture
def profile() -> dict:
    """A valid profile with personal fields (a fresh copy per test)."""
    return copy.deepcopy(_EXAMPLE)
