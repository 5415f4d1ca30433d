"""Single-score latency and throughput of the service under gunicorn, beside a bare endpoint.

Starts two gunicorn servers on loopback with the same settings: the service
(``api:create_app()``, on a fresh SQLite database with one API key) and the
bare model endpoint (``benchmarks/bare_app.py``). Then, for 1, 8 and 32
concurrent keep-alive clients, sends a fixed number of requests to each and
reports p50 and p99 latency and requests per second. The service is called
with ``dry_run=true`` (scored, not stored), so the figures measure scoring
and not SQLite's single writer. Every request is checked for status 200.

The load comes from ``wrk`` (Debian package ``wrk``) when it is installed: a C
client that takes little of the CPU the servers need on a small machine. Without it,
or with ``--client python``, keep-alive Python client threads send the requests
(``--requests`` per level), which take a visible share of the same cores.

Usage: python benchmarks/api_load.py [--client wrk|python] [--duration 10]
       [--requests 2000] [--workers 2] [--threads 4] [--worker-class gthread|sync]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROFILE = (ROOT / "data" / "example_profile.json").read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not become ready")


def migrated_database_with_key(
    env: dict, *, name: str, scopes: tuple[str, ...] = ("score",)
) -> str:
    """Migrate the database of ``env`` (its ``DATABASE_URL``) and create a key with ``scopes``."""
    subprocess.run([str(BIN / "sme-export"), "db", "upgrade"], env=env, check=True)
    scope_options = [option for scope in scopes for option in ("--scope", scope)]
    created = subprocess.run(
        [str(BIN / "sme-export"), "keys", "create", "--name", name, *scope_options],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.split()[0]


def start(
    app: str, port: int, env: dict, *, workers: int, threads: int, worker_class: str
) -> subprocess.Popen:
    command = [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(workers)]
    command += ["-k", worker_class, "--log-level", "warning", "--backlog", "256"]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    return subprocess.Popen([*command, app], cwd=ROOT, env=env)


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = io.open(os.getenv("BENCH_BODY")):read("*a")
{headers}
"""
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()
    return float(number) * _UNIT[unit]


def load_wrk(
    port: int, path: str, headers: dict, *, clients: int, seconds: float, body: bytes = PROFILE
) -> dict:
    """``clients`` keep-alive connections for ``seconds``, driven by one wrk thread, each
    request a POST of ``body``."""
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(body)
        script = Path(tmp) / "post.lua"
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        script.write_text(_WRK_SCRIPT.format(headers=lines))
        url = f"http://127.0.0.1:{port}{path}"
        command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
        out = subprocess.run(
            [*command, "-s", str(script), url],
            env={**os.environ, "BENCH_BODY": str(body_file)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if "Latency Distribution" not in out:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    percentile = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, flags=re.MULTILINE))
    requests = int(re.search(r"^\s+(\d+) requests in", out, flags=re.MULTILINE).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": requests,
        "failed": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(map(int, errors.groups())) if errors else 0),
        "p50_ms": _milliseconds(percentile["50"]),
        "p99_ms": _milliseconds(percentile["99"]),
        "per_second": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),
    }


def load(
    port: int, path: str, headers: dict, *, clients: int, total: int, body: bytes = PROFILE
) -> dict:
    """``total`` POSTs of ``body`` from ``clients`` keep-alive Python client threads."""
    per_client = total // clients
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def client() -> None:
        nonlocal failures
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, bad = [], 0
        for _ in range(per_client):
            start_at = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - start_at)
            bad += response.status // 100 != 2
        conn.close()
        with lock:
            latencies.extend(mine)
            failures += bad

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "failed": failures,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "per_second": len(latencies) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per concurrency level")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", choices=("gthread", "sync"), default="gthread")
    parser.add_argument(
        "--client", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per level (wrk)")
    args = parser.parse_args()
    server = {"workers": args.workers, "threads": args.threads, "worker_class": args.worker_class}

    def measure(port: int, path: str, headers: dict, clients: int) -> dict:
        if args.client == "wrk":
            return load_wrk(port, path, headers, clients=clients, seconds=args.duration)
        return load(port, path, headers, clients=clients, total=args.requests)

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "SME_EXPORT_RATE_LIMIT": "off",  # measure scoring, not the per-key limit
        }
        key = migrated_database_with_key(env, name="bench")
        service_port, bare_port = free_port(), free_port()
        servers = [
            start("api:create_app()", service_port, env, **server),
            start("benchmarks.bare_app:create_app()", bare_port, env, **server),
        ]
        try:
            wait_ready(service_port, "/readyz")
            wait_ready(bare_port, "/bare")
            json_headers = {"Content-Type": "application/json"}
            targets = {
                "bare predict_proba": (bare_port, "/bare", json_headers),
                "POST /api/v1/scores": (
                    service_port,
                    "/api/v1/scores?dry_run=true",
                    {**json_headers, "X-API-Key": key},
                ),
            }
            for port, path, headers in targets.values():  # warm every worker's model
                load(port, path, headers, clients=args.workers * args.threads, total=200)
            threads = f" --threads {args.threads}" if args.worker_class == "gthread" else ""
            amount = (
                f"{args.duration:g} s per level"
                if args.client == "wrk"
                else f"{args.requests} requests per level"
            )
            print(
                f"gunicorn -w {args.workers} -k {args.worker_class}{threads}, "
                f"{args.client} client, {amount}, loopback"
            )
            columns = ("p50 ms", "p99 ms", "req/s", "failed")
            print(f"{'clients':>7}  {'endpoint':<22}" + "".join(f"{c:>9}" for c in columns))
            results = {}
            for clients in (1, 8, 32):
                for name, (port, path, headers) in targets.items():
                    r = measure(port, path, headers, clients)
                    results[(clients, name)] = r
                    print(
                        f"{clients:>7}  {name:<22}{r['p50_ms']:9.1f}{r['p99_ms']:9.1f}"
                        f"{r['per_second']:9.0f}{r['failed']:9d}"
                    )
                ratio = (
                    results[(clients, "POST /api/v1/scores")]["per_second"]
                    / results[(clients, "bare predict_proba")]["per_second"]
                )
                print(f"{'':>7}  throughput of the service / bare endpoint: {ratio:.2f}")
            print(json.dumps({f"{c}:{n}": r for (c, n), r in results.items()}, indent=1))
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
