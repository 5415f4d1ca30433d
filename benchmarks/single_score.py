"""One score through the whole service, in process, beside the bare model endpoint.

Both apps are driven through Flask's test client in this one process, so no network,
server or client threads are measured, only what each app does per request:

- **bare predict_proba** (``benchmarks/bare_app.py``): parse the JSON body, run the
  shipped scikit-learn estimator's ``predict_proba`` on one already-encoded row, answer
  the probability as JSON. No validation, rules, explanation, authentication or storage.
- **POST /api/v1/scores** (``api.create_app``, default configuration, SQLite in a
  temporary folder): API key check, rate limit (on, set high enough never to refuse),
  validation, rules, model, blend, reasons, action plan, the JSON answer, and the profile,
  the score, its events and the audit entry stored and committed.
- **POST /api/v1/scores?dry_run=true**: the same without storing.

Each round sends ``--requests`` requests to each endpoint in turn (the order alternates
between rounds); the figure of an endpoint is the median of its per-round mean, the
spread the lowest and highest round. The ratio is taken round by round (both endpoints
measured within the same second of the same round) and its median printed.

Usage: python benchmarks/single_score.py [--rounds 5] [--requests 100] [--profile FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "example_profile.json"


def service_client(folder: Path):
    """A test client of the real app on a fresh SQLite database, and a key's headers."""
    from api import create_app, store
    from api.db import get_session, sqlite_url

    app = create_app(
        {
            "DATABASE_URL": sqlite_url(folder / "bench.db"),
            "RULESETS_DIR": str(folder / "rulesets"),
            "RATE_LIMIT": "1000000/minute",  # checked on every request, never reached
            "BATCH_RUNNER": False,  # no background thread polling the database
        }
    )
    with app.app_context():
        session = get_session()
        _, key = store.create_api_key(session, name="bench", scopes=["score", "personal"])
        session.commit()
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    return app.test_client(), headers


def bare_client():
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))  # after PYTHONPATH: another checkout can be measured
    from benchmarks.bare_app import create_app

    return create_app().test_client(), {"Content-Type": "application/json"}


def sender(client, path: str, headers: dict, body: bytes, status: int) -> Callable[[], None]:
    def send() -> None:
        response = client.post(path, data=body, headers=headers)
        if response.status_code != status:
            raise RuntimeError(f"{path}: {response.status_code} {response.get_data(as_text=True)}")

    return send


def per_request_ms(send: Callable[[], None], requests: int) -> float:
    began = time.perf_counter()
    for _ in range(requests):
        send()
    return (time.perf_counter() - began) / requests * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="per endpoint and round")
    parser.add_argument("--profile", type=Path, default=EXAMPLE, help="the JSON body sent")
    args = parser.parse_args()
    body = args.profile.read_bytes()

    with tempfile.TemporaryDirectory() as tmp:
        service, service_headers = service_client(Path(tmp))
        bare, bare_headers = bare_client()
        targets = {
            "bare predict_proba": sender(bare, "/bare", bare_headers, body, 200),
            "POST /api/v1/scores (stored)": sender(
                service, "/api/v1/scores", service_headers, body, 201
            ),
            "POST /api/v1/scores?dry_run=true": sender(
                service, "/api/v1/scores?dry_run=true", service_headers, body, 200
            ),
        }
        for send in targets.values():  # load the model, fill caches, warm the database
            per_request_ms(send, 50)
        times: dict[str, list[float]] = {name: [] for name in targets}
        names = list(targets)
        for k in range(args.rounds):
            for name in names if k % 2 == 0 else names[::-1]:
                times[name].append(per_request_ms(targets[name], args.requests))

    load = Path("/proc/loadavg").read_text().split()[:3] if os.path.exists("/proc/loadavg") else []
    print(
        f"{args.rounds} rounds x {args.requests} requests per endpoint, Flask test client, "
        f"Python {sys.version.split()[0]}, load average {' '.join(load)}"
    )
    print(f"{'endpoint':<34}{'median ms':>10}{'min':>8}{'max':>8}{'vs bare':>9}")
    bare_times = times["bare predict_proba"]
    for name, values in times.items():
        ratio = statistics.median(v / b for v, b in zip(values, bare_times, strict=True))
        print(
            f"{name:<34}{statistics.median(values):10.2f}{min(values):8.2f}{max(values):8.2f}"
            f"{ratio:8.2f}x"
        )


if __name__ == "__main__":
    main()
