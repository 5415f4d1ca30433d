"""Rate limiting per API key: 429 problem+json with Retry-After, counted per key."""

from __future__ import annotations

import threading
import time

import pytest

from api.config import DefaultConfig, TestConfig
from api.http import rate_limit

pytest_plugins = ["api_fixtures"]


@pytest.fixture
def limited(make_app, make_key):
    app = make_app(RATE_LIMIT="3/minute")
    return app, app.test_client(), make_key


def test_a_key_over_its_limit_gets_429_with_retry_after(limited):
    app, client, make_key = limited
    headers = {"X-API-Key": make_key(app, "read")}
    statuses = [client.get("/api/v1/smes", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/smes", headers=headers)
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    body = response.get_json()
    assert body["status"] == 429
    assert body["title"] == "Too Many Requests"
    assert "3/minute" in body["detail"]


def test_each_key_has_its_own_allowance(limited):
    app, client, make_key = limited
    first, second = ({"X-API-Key": make_key(app, "read")} for _ in range(2))
    for _ in range(3):
        assert client.get("/api/v1/smes", headers=first).status_code == 200
    assert client.get("/api/v1/smes", headers=first).status_code == 429
    assert client.get("/api/v1/smes", headers=second).status_code == 200


def test_unauthenticated_requests_and_health_checks_are_not_counted(limited):
    app, client, make_key = limited
    headers = {"X-API-Key": make_key(app, "read")}
    for _ in range(5):
        assert client.get("/api/v1/smes", headers={"X-API-Key": "sme_x_y"}).status_code == 401
        assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/smes", headers=headers).status_code == 200


def test_no_limit_when_turned_off(app, make_key):
    headers = {"X-API-Key": make_key(app, "read")}
    client = app.test_client()
    assert all(client.get("/api/v1/smes", headers=headers).status_code == 200 for _ in range(20))


def test_the_limit_is_on_by_default_and_off_in_tests():
    assert DefaultConfig.RATE_LIMIT == "600/minute"
    assert TestConfig.RATE_LIMIT is None


def test_the_openapi_document_lists_429_for_keyed_routes(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    operation = document["paths"]["/api/v1/smes"]["get"]
    assert "429" in operation["responses"]
    assert "429" not in document["paths"]["/healthz"]["get"]["responses"]


def test_counting_requests_starts_no_thread_and_expired_entries_are_swept(
    make_app, make_key, monkeypatch
):
    monkeypatch.setattr(rate_limit, "SWEEP_SECONDS", 0.0)
    app = make_app(RATE_LIMIT="2/second")
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "read")}
    storage = app.extensions["sme_export.rate_limit"].limiter.storage
    assert isinstance(storage, rate_limit.SweptMemoryStorage)
    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread.name))

    assert [client.get("/api/v1/smes", headers=headers).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    time.sleep(1.05)
    assert client.get("/api/v1/smes", headers=headers).status_code == 200
    assert started == []
    # the request after the window swept the two expired entries: one is left, its own
    assert [len(entries) for entries in storage.events.values()] == [1]
