"""Two instances behind a proxy, under load and faults: nothing counted twice, nothing lost.

Deploys on loopback what docs/operations.md describes for an office with two servers:

- two service instances (``gunicorn 'api:create_app()'``, production configuration, two
  gthread workers each) on their own ports, sharing one PostgreSQL database and Redis for
  the per-key rate limits;
- two ``sme-export worker`` processes running background batches;
- HAProxy in front (round robin, ``/readyz`` health checks every second).

Then ``--clients`` clients (each with its own API key) send a mix through the proxy for
``--seconds`` seconds: single scores (each a new sme_id), reads, and background batch
uploads of ``--batch-rows`` profiles with an ``Idempotency-Key`` (sent again with the same
key until accepted). Meanwhile it kills instance A with SIGKILL and starts it again, kills
worker 1 with SIGKILL and starts it again, and restarts PostgreSQL; ``/readyz`` of each
instance is polled every 0.25 s.

Afterwards it checks, in the database: every score answered 2xx is stored exactly once;
every accepted batch exists once, complete, with all its rows; and that the rate limit
holds across instances (a fresh key sends 650 reads of the active model's card,
alternating between the two instances directly: 600 pass, 50 get 429). It prints the
requests and errors of each phase, the recovery time of each fault and what ``/readyz``
reported; exit 1 if a check fails.

Needs PostgreSQL (``pg_ctlcluster`` to restart it: run as root on a machine of its own),
Redis on 127.0.0.1:6379 and HAProxy (Debian: ``apt-get install haproxy``).

Usage: python benchmarks/fault_drill.py [--seconds 90] [--clients 16] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from deployment import PROFILE, TwoInstances, request, restart_postgres  # same folder

#: Each client uploads a background batch as its BATCH_AT-th request and every BATCH_EVERY
#: requests after it: a few dozen batches in a run, enough to keep both workers busy.
BATCH_AT, BATCH_EVERY = 20, 400


class Drill:
    def __init__(self, args):
        self.args = args
        self.t0 = 0.0
        self.events: list[tuple[float, str]] = []
        self.log: list[tuple[float, str, int | None]] = []  # (t, op, status)
        self.acked: set[str] = set()
        self.attempted: set[str] = set()
        self.batches: dict[str, int | None] = {}  # idempotency key -> status of acceptance
        self.readyz: list[tuple[float, str, int | None]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, what: str) -> None:
        with self.lock:
            self.events.append((self.now(), what))
        print(f"{self.now():6.1f}s  {what}", flush=True)

    def client(self, index: int, key: str) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            if n % BATCH_EVERY == BATCH_AT:
                self._batch(key)
                continue
            if n % 5 == 0:
                status, _ = request(self.args.proxy, "GET", "/api/v1/smes?per_page=5", key=key)
                op = "read"
            else:
                sme_id = f"D-{index}-{n}"
                with self.lock:
                    self.attempted.add(sme_id)
                status, _ = request(
                    self.args.proxy,
                    "POST",
                    "/api/v1/scores",
                    key=key,
                    body={**PROFILE, "sme_id": sme_id},
                )
                op = "score"
                if status is not None and 200 <= status < 300:
                    with self.lock:
                        self.acked.add(sme_id)
            with self.lock:
                self.log.append((self.now(), op, status))

    def _batch(self, key: str) -> None:
        idem = uuid.uuid4().hex
        rows = [
            {**PROFILE, "sme_id": f"BATCH-{idem[:10]}-{i}"} for i in range(self.args.batch_rows)
        ]
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            status, _ = request(
                self.args.proxy,
                "POST",
                "/api/v1/batches",
                key=key,
                body=rows,
                headers={"Idempotency-Key": idem},
            )
            with self.lock:
                self.log.append((self.now(), "batch", status))
            if status is not None and 200 <= status < 300:
                break
            time.sleep(1.0)
        with self.lock:
            self.batches[idem] = status

    def watch(self, name: str, port: int) -> None:
        while not self.stop.is_set():
            status, _ = request(port, "GET", "/readyz")
            with self.lock:
                self.readyz.append((self.now(), name, status))
            time.sleep(0.25)


def phase_table(drill: Drill, seconds: float) -> list[dict]:
    marks = sorted(drill.events)
    edges = [0.0] + [t for t, _ in marks] + [seconds]
    names = ["start"] + [what for _, what in marks]
    rows = []
    for (low, high), name in zip(itertools.pairwise(edges), names, strict=True):
        inside = [(op, s) for t, op, s in drill.log if low <= t < high]
        ok = sum(1 for _, s in inside if s is not None and 200 <= s < 300)
        limited = sum(1 for _, s in inside if s == 429)
        failed = Counter("no answer" if s is None else str(s) for _, s in inside)
        for good in [k for k in failed if k.isdigit() and (200 <= int(k) < 300 or k == "429")]:
            del failed[good]
        rows.append(
            {
                "phase": f"after {name}",
                "from_s": round(low, 1),
                "to_s": round(high, 1),
                "requests": len(inside),
                "2xx": ok,
                "429": limited,
                "errors": len(inside) - ok - limited,
                "errors_by_answer": dict(failed),
            }
        )
    return rows


def readyz_report(drill: Drill) -> dict:
    """Per instance: the periods /readyz did not answer 200, and what it answered."""
    report: dict[str, list] = {}
    for name in ("a", "b"):
        spans, current = [], None
        for t, n, status in drill.readyz:
            if n != name:
                continue
            bad = status != 200
            if bad and current is None:
                current = [round(t, 1), None, Counter()]
            if bad:
                current[2]["down" if status is None else str(status)] += 1
            if not bad and current is not None:
                current[1] = round(t, 1)
                spans.append(
                    {"from_s": current[0], "to_s": current[1], "answers": dict(current[2])}
                )
                current = None
        if current is not None:
            spans.append({"from_s": current[0], "to_s": None, "answers": dict(current[2])})
        report[name] = spans
    return report


def check_database(url: str, drill: Drill) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        counts = dict(
            connection.execute(
                text("SELECT sme_id, count(*) FROM scores WHERE sme_id LIKE 'D-%' GROUP BY sme_id")
            ).all()
        )
        batches = connection.execute(
            text(
                "SELECT idempotency_key, count(*), min(status), min(scored), "
                "(SELECT count(*) FROM scores s WHERE s.batch_id = min(b.id)) "
                "FROM batches b WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key"
            )
        ).all()
    engine.dispose()
    missing = sorted(drill.acked - set(counts))
    twice = sorted(sme_id for sme_id, n in counts.items() if n > 1)
    unacked_stored = sorted(set(counts) - drill.acked)
    by_key = {key: (n, status, scored, rows) for key, n, status, scored, rows in batches}
    accepted = [k for k, s in drill.batches.items() if s is not None and 200 <= s < 300]
    bad_batches = [
        k
        for k in accepted
        if by_key.get(k) is None
        or by_key[k][0] != 1
        or by_key[k][1] != "complete"
        or by_key[k][2] != drill.args.batch_rows
        or by_key[k][3] != drill.args.batch_rows
    ]
    return {
        "scores_acknowledged": len(drill.acked),
        "scores_missing": missing[:20],
        "scores_stored_twice": twice[:20],
        "scores_stored_without_2xx": len(unacked_stored),
        "batches_accepted": len(accepted),
        "batches_not_accepted": len(drill.batches) - len(accepted),
        "batches_wrong": bad_batches[:20],
    }


def wait_batches_done(url: str, timeout: float = 300.0) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, pool_pre_ping=True)
    deadline = time.monotonic() + timeout
    left = -1
    while time.monotonic() < deadline:
        try:
            with engine.connect() as connection:
                left = connection.execute(
                    text("SELECT count(*) FROM batches WHERE status IN ('queued', 'running')")
                ).scalar_one()
        except Exception:  # the database may still be coming back
            left = -1
        if left == 0:
            break
        time.sleep(1.0)
    engine.dispose()
    return left


def rate_limit_probe(a: int, b: int, key: str) -> dict:
    statuses = Counter()
    for i in range(650):
        status, _ = request(a if i % 2 == 0 else b, "GET", "/api/v1/models/active", key=key)
        statuses[status] += 1
    return {
        "200": statuses.get(200, 0),
        "429": statuses.get(429, 0),
        "other": sum(statuses.values()) - statuses.get(200, 0) - statuses.get(429, 0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch-rows", type=int, default=2100)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with TwoInstances(args.redis) as deployment:
        args.proxy = deployment.proxy
        result = drill_on(deployment, args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["passed"] else 1


def drill_on(deployment: TwoInstances, args) -> dict:
    keys = [deployment.key(f"client-{i}", "score", "read") for i in range(args.clients)]
    probe = deployment.key("probe", "read")
    ports = deployment.ports
    drill = Drill(args)
    drill.t0 = time.monotonic()
    threads = [threading.Thread(target=drill.watch, args=item) for item in ports.items()]
    threads += [threading.Thread(target=drill.client, args=(i, k)) for i, k in enumerate(keys)]
    for thread in threads:
        thread.start()
    seconds = args.seconds
    instance_a, worker_1 = deployment.instances["a"], deployment.workers[0]
    schedule = [
        (0.20, "instance a killed (SIGKILL)", instance_a.kill),
        (0.30, "instance a started again", instance_a.start),
        (0.45, "worker 1 killed (SIGKILL)", worker_1.kill),
        (0.55, "worker 1 started again", worker_1.start),
        (0.70, "PostgreSQL restarted", restart_postgres),
    ]
    try:
        for share, what, action in schedule:
            time.sleep(max(0.0, share * seconds - drill.now()))
            action()
            drill.note(what)
        time.sleep(max(0.0, seconds - drill.now()))
    finally:
        drill.stop.set()
        for thread in threads:
            thread.join()
    left = wait_batches_done(deployment.url)
    database = check_database(deployment.url, drill)
    limits = rate_limit_probe(ports["a"], ports["b"], probe)
    failed = bool(
        database["scores_missing"]
        or database["scores_stored_twice"]
        or database["batches_wrong"]
        or left != 0
        or limits != {"200": 600, "429": 50, "other": 0}
    )
    return {
        "seconds": seconds,
        "clients": args.clients,
        "phases": phase_table(drill, seconds),
        "readyz_not_200": readyz_report(drill),
        "batches_unfinished_after_wait": left,
        "database": database,
        "rate_limit_probe": limits,
        "passed": not failed,
    }


if __name__ == "__main__":
    sys.exit(main())
