"""API keys: 401 without a valid key, 403 without the scope, keys stored hashed, never logged."""

from __future__ import annotations

import hashlib
import logging

import pytest
from sqlalchemy import event, select

from api import store
from api.db import get_database, get_session
from api.http.errors import PROBLEM_JSON
from api.tables import ApiKey

pytest_plugins = ["api_fixtures"]

#: (method, path, scope needed) for every protected route.
ROUTES = [
    ("POST", "/api/v1/scores", "score"),
    ("POST", "/api/v1/batches", "score"),
    ("POST", "/api/v1/shortlists", "score"),
    ("GET", "/api/v1/smes", "read"),
    ("GET", "/api/v1/smes/BDG-1", "read"),
    ("GET", "/api/v1/smes/BDG-1/scores", "read"),
    ("GET", "/api/v1/batches/1", "read"),
    ("GET", "/api/v1/batches/1/results", "read"),
    ("GET", "/api/v1/models/active", "read"),
    ("GET", "/api/v1/rulesets/active", "read"),
    ("DELETE", "/api/v1/smes/BDG-1", "admin"),
]


def call(client, method, path, headers=None):
    return client.open(path, method=method, headers=headers or {}, json={})


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_no_key_is_401(client, method, path, scope):
    response = call(client, method, path)
    assert response.status_code == 401
    assert response.mimetype == PROBLEM_JSON
    assert response.headers["WWW-Authenticate"].startswith("ApiKey")
    assert "X-API-Key" in response.get_json()["detail"]


@pytest.mark.parametrize(
    "presented",
    ["nonsense", "sme_abc_def", "sme_" + "x" * 500, "Bearer sme_1_2"],
)
def test_wrong_key_is_401(client, api_keys, presented):
    response = call(client, "GET", "/api/v1/smes", {"X-API-Key": presented})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "The API key is unknown or revoked."


def test_key_with_a_wrong_secret_is_401(client, api_keys):
    key = api_keys["admin"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert call(client, "GET", "/api/v1/smes", {"X-API-Key": tampered}).status_code == 401


def test_revoked_key_is_401(app, client, api_keys):
    key = api_keys["admin"]
    with app.app_context():
        session = get_session()
        key_id = key.split("_")[1]
        assert store.revoke_api_key(session, key_id)
        session.commit()
    assert call(client, "GET", "/api/v1/smes", {"X-API-Key": key}).status_code == 401


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_key_without_the_scope_is_403(client, auth, method, path, scope):
    others = [s for s in ("score", "read") if s != scope]
    for other in others:
        response = call(client, method, path, auth(other))
        assert response.status_code == 403, (other, response.get_json())
        assert response.mimetype == PROBLEM_JSON
        assert f"'{scope}' scope" in response.get_json()["detail"]


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_admin_key_passes_every_check(client, auth, method, path, scope):
    response = call(client, method, path, auth("admin"))
    assert response.status_code not in (401, 403)


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_key_with_the_scope_passes(client, auth, method, path, scope):
    response = call(client, method, path, auth(scope))
    assert response.status_code not in (401, 403)


def test_health_and_openapi_need_no_key(client):
    for path in ("/healthz", "/readyz", "/api/openapi.json", "/api/docs"):
        assert client.get(path).status_code == 200, path


def test_keys_are_stored_hashed(app, api_keys):
    key = api_keys["read"]
    _, key_id, secret = key.split("_", 2)
    with app.app_context():
        row = get_session().scalar(select(ApiKey).where(ApiKey.key_id == key_id))
        stored = [str(getattr(row, c.key)) for c in ApiKey.__table__.columns]
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in value for value in stored)


def test_a_used_key_records_when_it_was_last_used(app, client, api_keys):
    key = api_keys["read"]
    assert call(client, "GET", "/api/v1/smes", {"X-API-Key": key}).status_code == 200
    with app.app_context():
        infos = {info.key_id: info for info in store.list_api_keys(get_session())}
    assert infos[key.split("_")[1]].last_used_at is not None


def test_a_request_checks_out_one_database_connection(app, client, make_key, profile):
    """The key check keeps its connection for the view: a stored score (the key's use
    already recorded this minute) takes one connection from the pool, not two."""
    headers = {"X-API-Key": make_key(app, "score", "personal")}
    first_use = client.post("/api/v1/scores?dry_run=true", json=profile, headers=headers)
    assert first_use.status_code == 200
    checkouts = []
    engine = get_database(app).engine
    listener = lambda *args: checkouts.append(1)  # noqa: E731
    event.listen(engine, "checkout", listener)
    try:
        response = client.post("/api/v1/scores", json=profile, headers=headers)
    finally:
        event.remove(engine, "checkout", listener)
    assert response.status_code == 201
    assert len(checkouts) == 1


def test_a_key_use_is_kept_with_one_shared_connection(make_app, make_key):
    """In memory, the key's use is written in the request's own transaction and committed
    by the key check, also when the view only reads."""
    app = make_app(DATABASE_URL="sqlite://")
    key = make_key(app, "read")
    assert call(app.test_client(), "GET", "/api/v1/smes", {"X-API-Key": key}).status_code == 200
    with app.app_context():
        infos = {info.key_id: info for info in store.list_api_keys(get_session())}
    assert infos[key.split("_")[1]].last_used_at is not None


def test_the_key_is_never_logged(client, auth, profile, caplog):
    caplog.set_level(logging.DEBUG)
    headers = auth("admin")
    client.post("/api/v1/scores", json=profile, headers=headers)
    client.get("/api/v1/smes", headers=headers)
    client.get("/api/v1/smes", headers={"X-API-Key": headers["X-API-Key"] + "x"})
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert headers["X-API-Key"] not in text
    assert headers["X-API-Key"].split("_", 2)[2] not in text
