"""Smoke test of the real server: `sme-export serve` on a free loopback port, a key made with
`sme-export keys create`, and HTTP round trips with urllib."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from api.db import sqlite_url

DATA = Path(__file__).resolve().parent.parent / "data"
SME_EXPORT = Path(sys.executable).with_name("sme-export")
START_TIMEOUT = 300  # generous: a loaded machine can be slow to start Python


def run_cli(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SME_EXPORT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


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
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SME_EXPORT_CONFIG")}
    url = sqlite_url(tmp_path / "smoke.db")
    assert run_cli("db", "upgrade", "--database-url", url, cwd=tmp_path, env=env).returncode == 0
    created = run_cli(
        "keys",
        "create",
        "--name",
        "smoke",
        "--scope",
        "admin",
        "--database-url",
        url,
        cwd=tmp_path,
        env=env,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    process = subprocess.Popen(
        [str(SME_EXPORT), "serve", "--host", "127.0.0.1", "--port", "0", "--database-url", url],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
    try:
        first = lines.get(timeout=START_TIMEOUT)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert match, first
        banner = [first, *(lines.get(timeout=5) for _ in range(3))]
        assert banner[1].startswith(f"staff pages: {match.group(1)}/ ")
        assert f"sme-export users create NAME --role admin --database-url '{url}'" in banner[2]
        assert (
            f"sme-export keys create --name NAME --scope admin --database-url '{url}'" in banner[3]
        )
        yield match.group(1), key
    finally:
        process.terminate()
        process.wait(timeout=30)


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
