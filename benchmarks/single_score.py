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
- both again on an app without a rate limit (``RATE_LIMIT`` off), to show what the
  limiter's in-memory storage costs (it starts a timer thread to expire its entries).

The bare endpoint is also measured with scikit-learn's OpenMP limited to one thread
(``threadpoolctl``): on a loaded two-core machine the default threads wait for each
other, which makes the bare endpoint slower and its times far more spread; the ratio to
the one-thread figure is the stricter one.

The profile (``data/example_profile.json``) is sent under ``--smes`` different
``sme_id``s in turn (1,000 by default), so that each SME's stored history stays short,
as in an office's use. Each round sends ``--requests`` requests to each endpoint in turn
(the order alternates between rounds); the figure of an endpoint is the median of its
per-round mean, the spread the lowest and highest round. The ratio is taken round by
round (both endpoints measured within the same second of the same round) and its median
printed.

Usage: python benchmarks/single_score.py [--rounds 5] [--requests 100] [--profile FILE]
       [--smes 1000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "example_profile.json"


def service_client(folder: Path, *, rate_limit: str | None = "1000000/minute"):
    """A test client of the real app on a fresh SQLite database, and a key's headers; the
    rate limit is checked on every request and never reached (None: no limit)."""
    from api import create_app, store
    from api.db import get_session, sqlite_url

    folder.mkdir(parents=True, exist_ok=True)
    app = create_app(
        {
            "DATABASE_URL": sqlite_url(folder / "bench.db"),
            "RULESETS_DIR": str(folder / "rulesets"),
            "RATE_LIMIT": rate_limit,
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


def sender(
    client, path: str, headers: dict, bodies: list[bytes], status: int, *, one_thread=False
) -> Callable[[int], float]:
    """A function that sends ``requests`` requests (the ``bodies`` in turn) and gives the
    mean time of one (ms); with ``one_thread``, OpenMP (scikit-learn's prediction) runs on
    one thread meanwhile."""
    turn = itertools.cycle(bodies)

    def send(requests: int) -> float:
        limit = threadpool_limits(limits=1, user_api="openmp") if one_thread else nullcontext()
        with limit:
            began = time.perf_counter()
            for _ in range(requests):
                response = client.post(path, data=next(turn), headers=headers)
                if response.status_code != status:
                    text = response.get_data(as_text=True)
                    raise RuntimeError(f"{path}: {response.status_code} {text}")
            return (time.perf_counter() - began) / requests * 1000

    return send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="per endpoint and round")
    parser.add_argument("--profile", type=Path, default=EXAMPLE, help="the JSON body sent")
    parser.add_argument(
        "--smes", type=int, default=1000, help="the profile is sent under this many sme_ids"
    )
    args = parser.parse_args()
    profile = json.loads(args.profile.read_bytes())
    body = [
        json.dumps({**profile, "sme_id": f"{profile['sme_id']}-{k:05d}"}).encode()
        for k in range(args.smes)
    ]

    with tempfile.TemporaryDirectory() as tmp:
        service, service_headers = service_client(Path(tmp) / "limited")
        unlimited, unlimited_headers = service_client(Path(tmp) / "unlimited", rate_limit=None)
        bare, bare_headers = bare_client()
        targets = {
            "bare predict_proba": sender(bare, "/bare", bare_headers, body, 200),
            "bare predict_proba, 1 OpenMP thread": sender(
                bare, "/bare", bare_headers, body, 200, one_thread=True
            ),
            "POST /api/v1/scores (stored)": sender(
                service, "/api/v1/scores", service_headers, body, 201
            ),
            "POST /api/v1/scores?dry_run=true": sender(
                service, "/api/v1/scores?dry_run=true", service_headers, body, 200
            ),
            "POST /api/v1/scores, no rate limit": sender(
                unlimited, "/api/v1/scores", unlimited_headers, body, 201
            ),
            "POST ...?dry_run=true, no rate limit": sender(
                unlimited, "/api/v1/scores?dry_run=true", unlimited_headers, body, 200
            ),
        }
        for send in targets.values():  # load the model, fill caches, warm the database
            send(50)
        times: dict[str, list[float]] = {name: [] for name in targets}
        names = list(targets)
        for k in range(args.rounds):
            for name in names if k % 2 == 0 else names[::-1]:
                times[name].append(targets[name](args.requests))

    load = Path("/proc/loadavg").read_text().split()[:3] if os.path.exists("/proc/loadavg") else []
    print(
        f"{args.rounds} rounds x {args.requests} requests per endpoint, Flask test client, "
        f"Python {sys.version.split()[0]}, load average {' '.join(load)}"
    )
    bare = {"vs bare": "bare predict_proba", "vs 1 thread": "bare predict_proba, 1 OpenMP thread"}
    print(
        f"{'endpoint':<38}{'median ms':>10}{'min':>8}{'max':>8}" + "".join(f"{b:>13}" for b in bare)
    )
    for name, values in times.items():
        ratios = [
            statistics.median(v / b for v, b in zip(values, times[base], strict=True))
            for base in bare.values()
        ]
        print(
            f"{name:<38}{statistics.median(values):10.2f}{min(values):8.2f}{max(values):8.2f}"
            + "".join(f"{r:12.2f}x" for r in ratios)
        )


if __name__ == "__main__":
    main()
