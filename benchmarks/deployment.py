"""The two-instance deployment of docs/operations.md, on loopback, for the benchmarks.

``TwoInstances`` creates a PostgreSQL database of its own, empties a Redis database for
the shared rate limits, migrates, and starts two service instances (gunicorn, production
configuration, two gthread workers each), two ``sme-export worker`` processes and HAProxy
in front (round robin, ``/readyz`` health checks every second, 5 s to answer, three
missed take an instance out). Each child runs in its own
process group, so a benchmark can kill an instance whole with SIGKILL and start it again.
Leaving the context stops everything and drops the database.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from api_load import free_port  # the same script folder

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES = os.environ.get(
    "SME_EXPORT_DRILL_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
_PERSONAL = ("owner_name", "contact_phone", "contact_email", "district", "owner_gender")
PROFILE = {
    k: v
    for k, v in json.loads((ROOT / "data" / "example_profile.json").read_text()).items()
    if k not in _PERSONAL
}

#: gunicorn's keep-alive: longer than HAProxy's ``timeout server`` below (60 s).
KEEP_ALIVE_SECONDS = 75

HAPROXY = """
global
    maxconn 512
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 5s
    retries 2
    option redispatch
frontend web
    bind 127.0.0.1:{proxy}
    default_backend service
backend service
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 3 rise 2
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check
"""


def run(*args: str, env: dict, stdin: str | None = None) -> str:
    return subprocess.run(
        args, env=env, check=True, capture_output=True, text=True, input=stdin
    ).stdout


def _admin():
    from sqlalchemy import create_engine, make_url

    return create_engine(make_url(POSTGRES).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)


def restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
    )


class Process:
    """A child in its own process group, killed whole with SIGKILL."""

    def __init__(self, name: str, command: list[str], env: dict):
        self.name, self.command, self.env = name, command, env
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        self.popen = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def pids(self) -> list[int]:
        """The process and its children (a gunicorn master and its workers)."""
        if self.popen is None or self.popen.poll() is not None:
            return []
        found = [self.popen.pid]
        children = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in children.read_text().split()]
        return found


def request(port: int, method: str, path: str, *, key=None, body=None, headers=None):
    """One request on a new connection: (status, or None for a broken connection; body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key:
        sent["X-API-Key"] = key
    data = None if body is None else json.dumps(body)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):  # refused, reset, or cut off mid-answer
        return None, b""
    finally:
        connection.close()


def wait_ready(port: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if request(port, "GET", "/readyz")[0] == 200:
            return
        time.sleep(0.3)
    raise RuntimeError(f"port {port} not ready after {timeout} s")


class TwoInstances:
    """``with TwoInstances(redis_url) as d:`` the deployment; ``d.proxy``, ``d.ports``."""

    def __init__(self, redis_url: str, *, rate_limit: str = "600/minute", threads: int = 4):
        self.redis_url, self.rate_limit, self.threads = redis_url, rate_limit, threads
        self.proxy, self.ports = free_port(), {"a": free_port(), "b": free_port()}
        self.name = f"sme_deploy_{uuid.uuid4().hex[:8]}"
        self.folder = Path(tempfile.mkdtemp(prefix="sme-deploy-"))

    def __enter__(self) -> TwoInstances:
        from sqlalchemy import make_url, text

        # `timeout` and Ctrl-C stop the benchmark through __exit__: nothing is left running.
        signal.signal(signal.SIGTERM, _exit_on_signal)

        with _admin().connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(POSTGRES).set(database=self.name).render_as_string(hide_password=False)
        self.env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "SME_EXPORT_CONFIG": "production",
            "SME_EXPORT_SECRET_KEY": secrets.token_hex(32),
            "SME_EXPORT_RATELIMIT_STORAGE_URI": self.redis_url,
            "SME_EXPORT_RATE_LIMIT": self.rate_limit,
            "SME_EXPORT_BATCH_STAGING_DIR": str(self.folder / "staging"),
        }
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()
        run(str(BIN / "sme-export"), "db", "upgrade", env=self.env)
        gunicorn = [str(BIN / "gunicorn"), "-w", "2", "-k", "gthread"]
        gunicorn += ["--threads", str(self.threads), "--log-level", "warning"]
        # An idle connection from HAProxy is kept open longer than HAProxy keeps it for
        # reuse: else gunicorn (2 s by default) may close one just as HAProxy sends a
        # request on it, and that request is cut off without an answer.
        gunicorn += ["--keep-alive", str(KEEP_ALIVE_SECONDS)]
        self.instances = {
            name: Process(
                name, [*gunicorn, "-b", f"127.0.0.1:{port}", "api:create_app()"], self.env
            )
            for name, port in self.ports.items()
        }
        self.workers = [
            Process(f"worker {i}", [str(BIN / "sme-export"), "worker"], self.env) for i in (1, 2)
        ]
        config = self.folder / "haproxy.cfg"
        config.write_text(HAPROXY.format(proxy=self.proxy, **self.ports))
        self.haproxy = Process("haproxy", ["haproxy", "-db", "-f", str(config)], self.env)
        try:
            for process in (*self.instances.values(), *self.workers):
                process.start()
            for port in self.ports.values():
                wait_ready(port)
            self.haproxy.start()
            wait_ready(self.proxy)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def key(self, label: str, *scopes: str) -> str:
        options = [part for scope in scopes for part in ("--scope", scope)]
        command = [str(BIN / "sme-export"), "keys", "create", "--name", label, *options]
        return run(*command, env=self.env).split()[0]

    def user(self, username: str, password: str, role: str = "lead") -> None:
        env = {**self.env, "SME_EXPORT_USER_PASSWORD": password}
        run(str(BIN / "sme-export"), "users", "create", username, "--role", role, env=env)

    def engine(self):
        from sqlalchemy import create_engine

        return create_engine(self.url, pool_pre_ping=True)

    def __exit__(self, *exc) -> None:
        from sqlalchemy import text

        for process in (
            getattr(self, "haproxy", None),
            *getattr(self, "workers", []),
            *getattr(self, "instances", {}).values(),
        ):
            if process is not None:
                process.stop()
        with _admin().connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
