"""Soak test: many scoring requests against gunicorn, counting failures and watching memory.

Starts the service under gunicorn on loopback (a fresh SQLite database unless
``--database-url`` is given, one API key), warms every worker up, then sends
``--requests`` scoring requests from ``--clients`` concurrent keep-alive clients. Each
request scores and stores a profile (``--dry-run`` scores without storing); the sme_ids
cycle over ``--smes`` SMEs, so the database grows by one score per request as in real
use. Meanwhile the resident memory (RSS) of every gunicorn worker is sampled from
``/proc`` once a second.

Reports failed requests (any status other than 201/200, or a broken connection),
latency percentiles, throughput, and each worker's RSS after warm-up, halfway, at the
end and at its highest (a leak keeps growing in the second half; warm-up caches do
not). Exits 1 if any request failed or a worker grew by more than ``--max-growth-mb``.
Linux only (reads ``/proc``).

Usage: python benchmarks/soak.py [--requests 50000] [--clients 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
from api_load import free_port, migrated_database_with_key, wait_ready  # the same script folder

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROFILE = json.loads((ROOT / "data" / "example_profile.json").read_text(encoding="utf-8"))


def start_gunicorn(port: int, env: dict, *, workers: int, threads: int) -> subprocess.Popen:
    command = [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(workers)]
    command += ["-k", "gthread", "--threads", str(threads), "--log-level", "warning"]
    return subprocess.Popen([*command, "api:create_app()"], cwd=ROOT, env=env)


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MiB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def workers_of(master: int) -> list[int]:
    """The pids of the gunicorn master's worker processes."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return sorted(int(pid) for pid in children.read_text().split())


class MemorySampler(threading.Thread):
    """Samples every worker's RSS once a second until stopped."""

    def __init__(self, master: int, interval: float = 1.0):
        super().__init__(daemon=True)
        self.master, self.interval = master, interval
        self.samples: dict[int, list[float]] = {}
        self.stopped = threading.Event()

    def sample(self) -> None:
        for pid in workers_of(self.master):
            value = rss_mb(pid)
            if value is not None:
                self.samples.setdefault(pid, []).append(value)

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.sample()


def body(i: int, smes: int) -> bytes:
    return json.dumps({**PROFILE, "sme_id": f"SOAK-{i % smes:05d}"}).encode()


def fire(port: int, path: str, key: str, *, clients: int, total: int, smes: int) -> dict:
    """Send ``total`` requests from ``clients`` threads; latencies and outcomes."""
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    latencies: list[float] = []
    outcomes: Counter = Counter()
    lock = threading.Lock()
    counter = iter(range(total))
    counter_lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, seen = [], Counter()
        while True:
            with counter_lock:
                i = next(counter, None)
            if i is None:
                break
            began = time.perf_counter()
            try:
                conn.request("POST", path, body=body(i, smes), headers=headers)
                response = conn.getresponse()
                response.read()
                seen[response.status] += 1
            except (OSError, http.client.HTTPException) as exc:
                seen[type(exc).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine.append(time.perf_counter() - began)
        conn.close()
        with lock:
            latencies.extend(mine)
            outcomes.update(seen)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ms = np.array(latencies) * 1000
    ok = outcomes[200] + outcomes[201]
    return {
        "requests": len(latencies),
        "failed": len(latencies) - ok,
        "outcomes": {str(k): v for k, v in sorted(outcomes.items(), key=str)},
        "seconds": round(elapsed, 1),
        "per_second": round(len(latencies) / elapsed, 1),
        **{f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)},
        "max_ms": round(float(ms.max()), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--smes", type=int, default=1000, help="distinct sme_ids to cycle over")
    parser.add_argument("--warmup", type=int, default=400, help="requests before measuring")
    parser.add_argument("--dry-run", action="store_true", help="score without storing")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--max-growth-mb", type=float, default=40.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/soak.db",
            # The per-key limit stays on (its bookkeeping is part of every request) but
            # high enough not to refuse the soak's single key.
            "SME_EXPORT_RATE_LIMIT": "100000000/minute",
        }
        env.pop("SME_EXPORT_CONFIG", None)
        key = migrated_database_with_key(env, name="soak")
        port = free_port()
        server = start_gunicorn(port, env, workers=args.workers, threads=args.threads)
        path = "/api/v1/scores" + ("?dry_run=true" if args.dry_run else "")
        try:
            wait_ready(port, "/healthz")
            warm = fire(port, path, key, clients=args.clients, total=args.warmup, smes=args.smes)
            sampler = MemorySampler(server.pid)
            sampler.sample()
            sampler.start()
            result = fire(
                port, path, key, clients=args.clients, total=args.requests, smes=args.smes
            )
            sampler.stopped.set()
            sampler.join()
            sampler.sample()
        finally:
            server.terminate()
            server.wait(timeout=30)

    memory = {
        str(pid): {
            "start_mb": round(values[0], 1),
            "halfway_mb": round(values[len(values) // 2], 1),
            "end_mb": round(values[-1], 1),
            "max_mb": round(max(values), 1),
            "growth_mb": round(values[-1] - values[0], 1),
        }
        for pid, values in sampler.samples.items()
    }
    report = {
        "requests": args.requests,
        "clients": args.clients,
        "workers": args.workers,
        "threads": args.threads,
        "stored": not args.dry_run,
        "warmup_failed": warm["failed"],
        **result,
        "worker_rss": memory,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    grown = [pid for pid, m in memory.items() if m["growth_mb"] > args.max_growth_mb]
    return 1 if result["failed"] or warm["failed"] or grown else 0


if __name__ == "__main__":
    sys.exit(main())
