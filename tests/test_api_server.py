"""Smoke test of the real server: `sme-export serve` on a free loopback port, a key made with
`sme-export keys create`, and HTTP round trips with urllib."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from server_helpers import running_server

DATA = Path(__file__).resolve().parent.parent / "data"


def request(url: str, *, key: str | None = None, body: dict | None = None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["X-API-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=300) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


@pytest.fixture
def server(tmp_path):
    """A running `sme-export serve --port 0`; yields (base URL, admin key)."""
    with running_server(tmp_path, name="smoke") as running:
        url = running.database_url
        banner = [running.first_line, *(running.lines.get(timeout=5) for _ in range(3))]
        assert banner[1].startswith(f"staff pages: {running.base}/ ")
        assert f"sme-export users create NAME --role admin --database-url '{url}'" in banner[2]
        assert (
            f"sme-export keys create --name NAME --scope admin --database-url '{url}'" in banner[3]
        )
        yield running.base, running.key


def test_real_server_round_trip(server):
    base, key = server
    status, _, body = request(f"{base}/healthz")
    assert (status, body) == (200, {"status": "ok"})
    status, _, body = request(f"{base}/readyz")
    assert status == 200 and body["status"] == "ready"

    profile = json.loads((DATA / "example_profile.json").read_text(encoding="utf-8"))
    status, headers, record = request(f"{base}/api/v1/scores", key=key, body=profile)
    assert status == 201
    assert headers["Location"] == "/api/v1/smes/BDG-2020-001"
    assert record["sme_id"] == "BDG-2020-001" and 0 <= record["score"] <= 100

    status, _, page = request(f"{base}/api/v1/smes", key=key)
    assert status == 200 and page["total"] == 1

    status, headers, problem = request(f"{base}/api/v1/smes")
    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["status"] == 401
