"""Single-score throughput and latency of the service beside MLflow's model server and a bare app.

Every contender runs on loopback with the same number of worker processes
(``--workers``) and gets the same example profile, each in its own request format:

  bare predict_proba      ``benchmarks/bare_app.py`` under gunicorn: the shipped estimator's
                          ``predict_proba`` on an already-encoded row (the floor)
  mlflow models serve     the same fitted estimator, saved with ``mlflow.sklearn.save_model``
                          (MLflow's default skops format, ``pyfunc_predict_fn=
                          "predict_proba"``, a signature of the 57 encoded features) and
                          served by ``mlflow models serve --env-manager local -w WORKERS``
                          (uvicorn workers); the body is the encoded row in MLflow's
                          ``dataframe_split`` format. scikit-learn's warning that the
                          estimator was fitted without column names is silenced: printed
                          for every request, it would slow MLflow down
  service, stored         ``POST /api/v1/scores`` under gunicorn on a fresh SQLite database
                          (or the empty one ``--database-url`` names, PostgreSQL say),
                          a key with the ``score`` and ``personal`` scopes: validated,
                          scored with rules, model, reasons and action plan, and stored
                          (profile, personal data, score, processing-log event): 201
  service, dry_run=true   the same request with ``?dry_run=true``: scored, not stored: 200

MLflow is never a dependency of the package: it is installed into a throw-away virtual
environment (``--mlflow-venv``, created on first use and kept for the next run) with the
scikit-learn version of this one, so the estimator unpickles there unchanged. Its answer
to the example row is checked against this environment's ``predict_proba`` before any load.

Load comes from ``wrk`` (one C thread, keep-alive connections, ``--duration`` seconds per
cell) at 1, 8 and 32 connections; the contenders take turns within each round and level
(their order rotates from round to round), for ``--rounds`` rounds. Printed: requests/s
median (min-max over rounds), median p50 and p99, failed requests (non-2xx and socket
errors, summed), and throughput against MLflow and against the bare endpoint: the median
over rounds of the ratio within each round.

Usage: python benchmarks/api_peers.py [--duration 10] [--rounds 3] [--workers 2]
           [--threads 4] [--connections 1 8 32] [--database-url URL] [--json peers.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import sklearn
from api_load import (  # the same script folder
    PROFILE,
    free_port,
    load,
    load_wrk,
    migrated_database_with_key,
    start,
    wait_ready,
)

from scoring.contract.schema import validate_profile
from scoring.model.additive import load_model
from scoring.model.features import FEATURE_NAMES, encode_features

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_VERSION = "3.17.2"
DEFAULT_MLFLOW_VENV = Path(__file__).resolve().parent / ".venv-mlflow"

#: Run by the MLflow environment's Python: argv = estimator.joblib, example.json, model dir.
_SAVE_MODEL = """
import json, sys
import joblib, pandas as pd
import mlflow.sklearn
from mlflow.models import infer_signature
estimator = joblib.load(sys.argv[1])
example = json.loads(open(sys.argv[2]).read())
frame = pd.DataFrame(example["data"], columns=example["columns"])
signature = infer_signature(frame, estimator.predict_proba(frame.to_numpy()))
mlflow.sklearn.save_model(  # skops, MLflow's default format; we made the file ourselves
    estimator,
    sys.argv[3],
    pyfunc_predict_fn="predict_proba",
    signature=signature,
    skops_trusted_types=[
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.model_selection._split.StratifiedKFold",
    ],
)
"""


@dataclass
class Contender:
    """Where a contender listens and the request it is sent."""

    port: int
    path: str
    headers: dict
    body: bytes


def mlflow_environment(venv: Path, *, version: str) -> Path:
    """The Python of a virtual environment with MLflow and this scikit-learn, made if absent."""
    python = venv / "bin" / "python"
    marker = venv / f"mlflow-{version}-sklearn-{sklearn.__version__}"
    if marker.exists():
        return python
    print(f"creating {venv} with mlflow=={version}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pins = [f"mlflow=={version}", f"scikit-learn=={sklearn.__version__}"]
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *pins], capture_output=True, text=True
    )
    if installed.returncode != 0:
        raise SystemExit(f"cannot install {' '.join(pins)}:\n{installed.stderr[-3000:]}")
    marker.touch()
    return python


def encoded_example() -> np.ndarray:
    """The example profile as the model's encoded feature row (1 x 57)."""
    return encode_features(validate_profile(json.loads(PROFILE)).profiles)


def save_mlflow_model(python: Path, folder: Path, row: np.ndarray) -> Path:
    """The shipped estimator saved as an MLflow model by the MLflow environment."""
    estimator_file = folder / "estimator.joblib"
    joblib.dump(load_model().estimator, estimator_file)
    example = folder / "example.json"
    example.write_text(json.dumps({"columns": list(FEATURE_NAMES), "data": row.tolist()}))
    model_dir = folder / "mlflow-model"
    subprocess.run(
        [str(python), "-c", _SAVE_MODEL, str(estimator_file), str(example), str(model_dir)],
        check=True,
        cwd=folder,
    )
    return model_dir


def start_mlflow(python: Path, model_dir: Path, port: int, *, workers: int, tmp: Path):
    bin_dir = python.parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(python.parent.parent),
        "MLFLOW_TRACKING_URI": (tmp / "mlruns").as_uri(),
        # The estimator was fitted on a matrix, MLflow hands it a DataFrame: scikit-learn
        # would print a warning for every request, which a model fitted on a frame avoids.
        "PYTHONWARNINGS": "ignore:X has feature names:UserWarning",
    }
    env.pop("PYTHONPATH", None)
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(model_dir)]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    log = (tmp / "mlflow.log").open("wb")  # a line per request: not on this terminal
    return subprocess.Popen(command, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)


def post(contender: Contender) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{contender.port}{contender.path}",
        data=contender.body,
        headers=contender.headers,
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read()


def check_answers(contenders: dict[str, Contender], expected: float) -> None:
    """Every contender answers the example with 2xx; the model servers with this probability."""
    for name, contender in contenders.items():
        status, body = post(contender)
        if status // 100 != 2:
            raise RuntimeError(f"{name} answered {status}: {body[:500]!r}")
        answer = json.loads(body)
        if name.startswith("mlflow"):
            probability = answer["predictions"][0][1]
        elif name.startswith("bare"):
            probability = answer["ml_probability"]
        else:
            continue
        if abs(probability - expected) > 1e-9:
            raise RuntimeError(f"{name} answered p={probability}, expected {expected}")


def summarise(runs: list[dict], baseline: dict[str, list[dict]]) -> dict:
    """Median and spread of one contender's rounds at one level, and its ratios per round."""
    rates = [r["per_second"] for r in runs]
    out = {
        "per_second_median": statistics.median(rates),
        "per_second_min": min(rates),
        "per_second_max": max(rates),
        "p50_ms_median": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms_median": statistics.median(r["p99_ms"] for r in runs),
        "p99_ms_max": max(r["p99_ms"] for r in runs),
        "failed": sum(r["failed"] for r in runs),
    }
    for label, other in baseline.items():
        ratios = [a["per_second"] / b["per_second"] for a, b in zip(runs, other, strict=True)]
        out[f"vs_{label}"] = statistics.median(ratios)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--workers", type=int, default=2, help="processes of every contender")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn gthread threads")
    parser.add_argument(
        "--database-url",
        help="the service's database (default: a fresh SQLite file); give an empty one, "
        "e.g. a PostgreSQL database made with createdb for this run",
    )
    parser.add_argument("--mlflow-venv", type=Path, default=DEFAULT_MLFLOW_VENV)
    parser.add_argument("--mlflow-version", default=MLFLOW_VERSION)
    parser.add_argument(
        "--omp-threads",
        type=int,
        help="OMP_NUM_THREADS of every server: scikit-learn's predict_proba (bare, MLflow) with "
        "two OpenMP threads per worker waits for the other's core on a loaded two-core machine",
    )
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args()
    gunicorn = {"workers": args.workers, "threads": args.threads, "worker_class": "gthread"}

    python = mlflow_environment(args.mlflow_venv, version=args.mlflow_version)
    row = encoded_example()
    expected = float(load_model().estimator.predict_proba(row)[0, 1])
    with tempfile.TemporaryDirectory(prefix="api-peers-") as tmp_name:
        tmp = Path(tmp_name)
        model_dir = save_mlflow_model(python, tmp, row)
        if args.omp_threads:
            os.environ["OMP_NUM_THREADS"] = str(args.omp_threads)  # every server inherits it
        env = {
            **os.environ,
            "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
            "SME_EXPORT_RATE_LIMIT": "off",  # measure scoring, not the per-key limit
        }
        key = migrated_database_with_key(env, name="bench", scopes=("score", "personal"))
        ports = {name: free_port() for name in ("service", "bare", "mlflow")}
        servers = [
            start("api:create_app()", ports["service"], env, **gunicorn),
            start("benchmarks.bare_app:create_app()", ports["bare"], env, **gunicorn),
            start_mlflow(python, model_dir, ports["mlflow"], workers=args.workers, tmp=tmp),
        ]
        json_headers = {"Content-Type": "application/json"}
        service_headers = {**json_headers, "X-API-Key": key}
        mlflow_body = {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": row.tolist()}}
        contenders = {
            "bare predict_proba": Contender(ports["bare"], "/bare", json_headers, PROFILE),
            "mlflow models serve": Contender(
                ports["mlflow"], "/invocations", json_headers, json.dumps(mlflow_body).encode()
            ),
            "service, stored": Contender(
                ports["service"], "/api/v1/scores", service_headers, PROFILE
            ),
            "service, dry_run=true": Contender(
                ports["service"], "/api/v1/scores?dry_run=true", service_headers, PROFILE
            ),
        }
        try:
            wait_ready(ports["service"], "/readyz")
            wait_ready(ports["bare"], "/bare")
            wait_ready(ports["mlflow"], "/ping")
            check_answers(contenders, expected)
            for c in contenders.values():  # warm every worker
                load(c.port, c.path, c.headers, clients=2 * args.workers, total=400, body=c.body)
            results = measure(contenders, args)
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


def measure(contenders: dict[str, Contender], args: argparse.Namespace) -> dict:
    """Every contender at every level in every round, interleaved; then the summaries."""
    names = list(contenders)
    runs: dict[tuple[int, str], list[dict]] = {}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = Path("/proc/loadavg").read_text().strip()
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for connections in args.connections:
            for name in order:
                c = contenders[name]
                r = load_wrk(
                    c.port,
                    c.path,
                    c.headers,
                    clients=connections,
                    seconds=args.duration,
                    body=c.body,
                )
                runs.setdefault((connections, name), []).append(r)
                print(
                    f"round {round_ + 1} {connections:>2} conn {name:<22} "
                    f"{r['per_second']:8.1f} req/s  p50 {r['p50_ms']:7.1f}  "
                    f"p99 {r['p99_ms']:7.1f}  failed {r['failed']}",
                    file=sys.stderr,
                )
    summary = {}
    for connections in args.connections:
        baseline = {
            "mlflow": runs[(connections, "mlflow models serve")],
            "bare": runs[(connections, "bare predict_proba")],
        }
        for name in names:
            summary[f"{connections}:{name}"] = summarise(runs[(connections, name)], baseline)
    return {
        "started": started,
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().strip(),
        "settings": {
            "workers": args.workers,
            "threads": args.threads,
            "duration": args.duration,
            "rounds": args.rounds,
            "mlflow": args.mlflow_version,
            "omp_threads": args.omp_threads,
            "scikit_learn": sklearn.__version__,
        },
        "summary": summary,
        "runs": {f"{c}:{n}": r for (c, n), r in runs.items()},
    }


def report(results: dict, args: argparse.Namespace) -> None:
    s = results["settings"]
    print(
        f"{results['started']}; {s['workers']} worker processes each (gunicorn gthread x "
        f"{s['threads']} threads; MLflow {s['mlflow']}: uvicorn); wrk, {s['duration']:g} s "
        f"per cell, {s['rounds']} rounds, interleaved; OMP_NUM_THREADS "
        f"{s.get('omp_threads') or 'unset'}; /proc/loadavg before: "
        f"{results['loadavg_before']}, after: {results['loadavg_after']}"
    )
    print(
        "\n| connections | contender | req/s median (min-max) | p50 ms | p99 ms | failed "
        "| vs MLflow | vs bare |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, r in results["summary"].items():
        connections, name = key.split(":", 1)
        print(
            f"| {connections} | {name} | {r['per_second_median']:,.0f} "
            f"({r['per_second_min']:,.0f}-{r['per_second_max']:,.0f}) | "
            f"{r['p50_ms_median']:.1f} | {r['p99_ms_median']:.1f} | {r['failed']} | "
            f"{r['vs_mlflow']:.2f}x | {r['vs_bare']:.2f}x |"
        )


if __name__ == "__main__":
    main()
