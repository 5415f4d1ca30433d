"""A real `sme-export serve` for the tests that talk HTTP to it: a fresh SQLite file, an
admin key made with `sme-export keys create`, and the server on a free loopback port."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from api.db import sqlite_url

SME_EXPORT = Path(sys.executable).with_name("sme-export")
START_TIMEOUT = 300  # generous: a loaded machine can be slow to start Python


def run_cli(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SME_EXPORT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@dataclass
class RunningServer:
    base: str  # http://127.0.0.1:PORT
    key: str  # an admin key
    database_url: str
    first_line: str  # "listening on ..."
    lines: queue.Queue[str]  # what the server prints after its first line


@contextmanager
def running_server(folder: Path, *, name: str = "server") -> Iterator[RunningServer]:
    """`sme-export serve --port 0` on ``folder/<name>.db``, stopped on leaving."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SME_EXPORT_CONFIG")}
    url = sqlite_url(folder / f"{name}.db")
    assert run_cli("db", "upgrade", "--database-url", url, cwd=folder, env=env).returncode == 0
    created = run_cli(
        "keys", "create", "--name", name, "--scope", "admin", "--database-url", url,
        cwd=folder, env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    process = subprocess.Popen(
        [str(SME_EXPORT), "serve", "--host", "127.0.0.1", "--port", "0", "--database-url", url],
        cwd=folder,
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
        yield RunningServer(match.group(1), created.stdout.strip(), url, first, lines)
    finally:
        process.terminate()
        process.wait(timeout=30)
