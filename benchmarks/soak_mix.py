"""Soak with the real mix against the two-instance deployment (benchmarks/deployment.py).

``--clients`` clients send ``--requests`` requests in all through HAProxy, in the mix of an
office's day: single scores (each client cycling over its own SMEs, so the database grows
by one score per request), reads of the SME list and of single SMEs, staff page views by
logged-in users (start page, cohort table, an SME's page), batch uploads scored in the
request (``--batch-rows`` profiles) and, now and then, a background batch (2,100
profiles) that the workers score. Meanwhile the resident memory of every gunicorn worker
and batch worker is sampled once a second.

Reports the requests and failures of each kind (any status other than the expected one,
or a broken connection, is unexpected), latency percentiles, each process's memory after
warm-up, halfway and at the end, and the database's growth per 1,000 stored scores.
Exits 1 on any unexpected answer or if a process grew by more than ``--max-growth-mb``
in the second half.

Usage: python benchmarks/soak_mix.py [--requests 50000] [--clients 16] [--json OUT]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from deployment import PROFILE, TwoInstances  # the same script folder
from soak import rss_mb
from sqlalchemy import text

#: The password of the benchmark's throw-away staff accounts.
PASSWORD = "soak-password-2026"
#: Out of every 100 requests: what kind, and the status it must get.
MIX = (
    [("score", 201)] * 64
    + [("read_list", 200)] * 10
    + [("read_one", 200)] * 8
    + [("page", 200)] * 15
    + [("batch", 201)] * 3
)
BACKGROUND_EVERY = 1000  # one background batch of 2,100 profiles per this many requests


class Sampler(threading.Thread):
    """RSS of every process of the deployment, once a second, by (role, pid)."""

    def __init__(self, deployment: TwoInstances):
        super().__init__(daemon=True)
        self.deployment = deployment
        self.samples: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
        self.stopped = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            now = time.monotonic() - self.t0
            roles = [(f"instance {n}", p) for n, p in self.deployment.instances.items()]
            roles += [(w.name, w) for w in self.deployment.workers]
            for role, process in roles:
                for pid in process.pids()[1:] if role.startswith("instance") else process.pids():
                    value = rss_mb(pid)
                    if value is not None:
                        self.samples[(role, pid)].append((now, value))


class StaffSession:
    """A logged-in staff user's keep-alive connection with its session cookie."""

    def __init__(self, port: int, username: str):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        self.failure = ""
        self.resent = 0  # GETs sent again after an idle connection was closed
        page = self.get("/login")[1].decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"csrf_token": token, "username": username, "password": PASSWORD}
        )
        status, _ = self.send(
            "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 302:
            raise RuntimeError(f"login of {username} answered {status}")

    def send(self, method: str, path: str, body=None, headers=None) -> tuple[int | None, bytes]:
        sent = {**(headers or {}), "Cookie": self.cookie} if self.cookie else dict(headers or {})
        try:
            try:
                self.connection.request(method, path, body=body, headers=sent)
                response = self.connection.getresponse()
            except http.client.RemoteDisconnected:
                if method != "GET":
                    raise
                # As a browser does: a GET on a keep-alive connection the other end closed
                # while it was idle is sent again, once, on a new connection.
                self.connection.close()
                self.resent += 1
                self.connection.request(method, path, body=body, headers=sent)
                response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.failure = f"{type(error).__name__}: {error}"
            return None, b""
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                self.cookie = value.split(";", 1)[0]
        return response.status, data

    def get(self, path: str) -> tuple[int | None, bytes]:
        return self.send("GET", path)


class Client:
    def __init__(self, index: int, port: int, key: str, username: str, args):
        self.index, self.port, self.key, self.args = index, port, key, args
        self.api = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.staff = StaffSession(port, username)
        self.outcomes: Counter = Counter()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.failures: list[dict] = []  # each unexpected answer: what, where, how long
        self.failure = ""

    def call(self, method: str, path: str, body=None, headers=None) -> int | None:
        sent = {"X-API-Key": self.key, "Content-Type": "application/json", **(headers or {})}
        try:
            self.api.request(method, path, body=body, headers=sent)
            response = self.api.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException) as error:
            self.api.close()
            self.api = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.failure = f"{type(error).__name__}: {error}"
            return None

    def one(self, n: int) -> None:
        kind, expected = MIX[(n * 37 + self.index) % len(MIX)]
        sme_id = f"S{self.index:02d}-{n % self.args.smes:05d}"
        began = time.perf_counter()
        if n % BACKGROUND_EVERY == BACKGROUND_EVERY - 1:
            kind, expected = "background_batch", 202
            rows = [{**PROFILE, "sme_id": f"BG{self.index:02d}-{n}-{i}"} for i in range(2100)]
            headers = {"Idempotency-Key": uuid.uuid4().hex}
            path = "/api/v1/batches"
            status = self.call("POST", path, json.dumps(rows), headers)
        elif kind == "score":
            path = "/api/v1/scores"
            status = self.call("POST", path, json.dumps({**PROFILE, "sme_id": sme_id}))
        elif kind == "read_list":
            path = "/api/v1/smes?per_page=20"
            status = self.call("GET", path)
        elif kind == "read_one":
            path = f"/api/v1/smes/S{self.index:02d}-00000"
            status = self.call("GET", path)
        elif kind == "page":
            path = ("/", "/cohorts", f"/smes/S{self.index:02d}-00000")[n % 3]
            status = self.staff.get(path)[0]
        else:
            rows = [
                {**PROFILE, "sme_id": f"B{self.index:02d}-{n}-{i}"}
                for i in range(self.args.batch_rows)
            ]
            path = "/api/v1/batches"
            status = self.call("POST", path, json.dumps(rows))
        seconds = time.perf_counter() - began
        self.latency[kind].append(seconds)
        self.outcomes[(kind, "expected" if status == expected else str(status))] += 1
        if status != expected:
            failure = (self.staff if kind == "page" else self).failure
            if status is not None:
                failure = f"status {status}"
            self.failures.append(
                {"kind": kind, "path": path, "answer": failure, "seconds": round(seconds, 2)}
            )


def database_size(deployment: TwoInstances) -> tuple[int, int]:
    engine = deployment.engine()
    with engine.connect() as connection:
        size = connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
        scores = connection.execute(text("SELECT count(*) FROM scores")).scalar()
    engine.dispose()
    return int(size), int(scores)


def memory_report(sampler: Sampler, seconds: float) -> list[dict]:
    rows = []
    for (role, pid), samples in sorted(sampler.samples.items()):
        values = [v for _, v in samples]
        if len(values) < 4:
            continue

        def at(share: float, values=values, samples=samples) -> float:
            moment = share * seconds
            return min(samples, key=lambda s: abs(s[0] - moment))[1]

        rows.append(
            {
                "process": f"{role} pid {pid}",
                "after_warmup_mb": round(at(0.1), 1),
                "halfway_mb": round(at(0.5), 1),
                "end_mb": round(values[-1], 1),
                "max_mb": round(max(values), 1),
                "second_half_growth_mb": round(values[-1] - at(0.5), 1),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--smes", type=int, default=300, help="SMEs per client, cycled.")
    parser.add_argument("--batch-rows", type=int, default=50)
    parser.add_argument("--max-growth-mb", type=float, default=50.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with TwoInstances(args.redis, rate_limit="100000/minute") as deployment:
        result = soak(deployment, args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["passed"] else 1


def soak(deployment: TwoInstances, args) -> dict:
    clients = []
    for i in range(args.clients):
        deployment.user(f"staff{i:02d}", PASSWORD)
        key = deployment.key(f"client-{i}", "score", "read")
        clients.append(Client(i, deployment.proxy, key, f"staff{i:02d}", args))
    size_before, scores_before = database_size(deployment)
    per_client = args.requests // args.clients
    sampler = Sampler(deployment)
    sampler.start()
    began = time.monotonic()
    threads = [
        threading.Thread(target=lambda c=c: [c.one(n) for n in range(per_client)]) for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - began
    sampler.stopped.set()
    size_after, scores_after = database_size(deployment)
    outcomes: Counter = Counter()
    latency: dict[str, list[float]] = defaultdict(list)
    for client in clients:
        outcomes.update(client.outcomes)
        for kind, values in client.latency.items():
            latency[kind].extend(values)
    kinds = {}
    for kind, values in sorted(latency.items()):
        ms = np.array(values) * 1000
        answers = {k[1]: v for k, v in outcomes.items() if k[0] == kind}
        kinds[kind] = {
            "requests": len(values),
            "unexpected": sum(v for a, v in answers.items() if a != "expected"),
            "answers": answers,
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1),
        }
    memory = memory_report(sampler, seconds)
    stored = scores_after - scores_before
    unexpected = sum(k["unexpected"] for k in kinds.values())
    grew = [m for m in memory if m["second_half_growth_mb"] > args.max_growth_mb]
    return {
        "requests": sum(k["requests"] for k in kinds.values()),
        "clients": args.clients,
        "seconds": round(seconds, 1),
        "per_second": round(sum(k["requests"] for k in kinds.values()) / seconds, 1),
        "kinds": kinds,
        "unexpected": unexpected,
        "failures": [failure for client in clients for failure in client.failures][:100],
        "pages_resent_after_idle_close": sum(client.staff.resent for client in clients),
        "memory": memory,
        "scores_stored": stored,
        "database_growth_mb": round((size_after - size_before) / 2**20, 1),
        "database_growth_per_1000_scores_mb": round(
            (size_after - size_before) / 2**20 / max(stored, 1) * 1000, 2
        ),
        "passed": unexpected == 0 and not grew,
    }


if __name__ == "__main__":
    sys.exit(main())
