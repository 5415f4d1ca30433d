"""Rescoring at scale: throughput, stages, peak memory and the Dask engine, beside the bare model.

Generates 500,000 synthetic profiles (``generate_profiles``) and repeats them, each copy with
new ``sme_id`` values, up to the largest size (written as Parquet row groups of 100,000, and as
CSV for --csv-rows; each size is a prefix of the same rows) into a temporary folder, or into
--data-dir where they are kept for the next run, then
measures, on the same machine and back to back:

  throughput  ``scoring.batch.rescore.rescore`` (Parquet or CSV in, Parquet out) at each of
              --rows (Parquet) and --csv-rows (CSV), with --workers 1 and 2 (2 starts a
              helper process only from 300,000 rows; its start-up is included), beside its
              baseline, the model called in 25,000-row slices (the chunk size) on the same
              rows: ``predict_proba`` of the encoded slices, and ``encode_features`` +
              ``predict_proba`` of each slice of the validated profiles; each the fastest of
              three runs with scikit-learn's default threads and one with one thread
              (``FLOOR_RUNS``). The contenders take turns in
              each of --rounds rounds (their order rotates); medians and per-round ratios
              are reported. The scorer is loaded once beforehand; beside these in-process
              runs, ``sme-export rescore`` itself (as an office runs it: the command
              starting and loading the model and ruleset included) takes its turn too
  stages      the same path taken apart in one process, chunk by chunk (the default 25,000
              rows), at --stage-rows from Parquet and from CSV: reading, contract validation,
              scoring (rules, model, explanations, action plans), the flat table, Parquet
              encoding; each stage's seconds summed over the chunks
  memory      peak resident memory of ``sme-export rescore`` at each of --memory-rows
              (Parquet) and --csv-rows (CSV), run as a command: the largest single process
              (``/usr/bin/time -v``, when present) and the whole process tree (sampled from
              /proc every 20 ms); beside it, reading, validating and scoring the whole
              Parquet file at once, at --whole-file-rows
  dask        ``--engine dask`` on a local cluster of 2 worker processes against the pandas
              engine, on --dask-rows rows (cluster start-up included, as a user sees it)
  bare        (stages, dask) the fitted estimator's ``predict_proba`` on the already-encoded
              matrix of the same rows in 25,000-row slices: the floor every figure is
              compared with

--sections runs some of these only; with --json naming an existing file, the sections run
replace theirs in it and the others are kept (so a long run can be done in parts).

Usage: python benchmarks/rescore.py [--rows 10000 100000 1000000] [--csv-rows 1000000] [--rounds 3]
           [--stage-rows 1000000] [--memory-rows 500000 1000000 5000000]
           [--whole-file-rows 500000] [--dask-rows 1000000] [--data-dir DIR]
           [--sections throughput stages memory dask] [--json results.json]
           [--plot docs/rescore.png]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

# A run's worker process imports this module again before it scores (as those of
# ``sme-export rescore`` import the command line's): nothing here imports scikit-learn,
# which the workers do not need and which the command line does not import for them.
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from scoring.batch.rescore import DEFAULT_CHUNK_ROWS, rescore
from scoring.batch.results import encode
from scoring.batch.workers import fewer_collections, steady_heap
from scoring.contract.validate import validate_table
from scoring.engine import Scorer
from scoring.files.readers import iter_tables, read_table
from scoring.files.writers import TableWriter
from scoring.model.features import encode_features

PIECE = 500_000
ROW_GROUP = 100_000
ROOT = Path(__file__).resolve().parent.parent


def generate(sizes: list[int], csv_sizes: list[int], folder: Path) -> dict[tuple[int, str], Path]:
    """One Parquet file per size and one CSV per CSV size, keyed (rows, format); each is a
    prefix of the same generated rows. Files already in ``folder`` are kept."""
    paths = {(n, "parquet"): folder / f"profiles_{n}.parquet" for n in sizes}
    paths |= {(n, "csv"): folder / f"profiles_{n}.csv" for n in csv_sizes}
    if all(path.exists() for path in paths.values()):
        return paths
    from scoring.model import synth  # imports scikit-learn: see the imports above

    largest = max(n for n, _ in paths)
    writing = {key: path.with_name(path.name + ".part") for key, path in paths.items()}
    writers: dict[int, pq.ParquetWriter] = {}
    csv_writers = {n: TableWriter(writing[n, "csv"], format="csv") for n in csv_sizes}
    written = dict.fromkeys(sizes, 0)
    piece = synth.generate_profiles(min(PIECE, largest), seed=1).drop(columns=[synth.LABEL])
    for start in range(0, largest, PIECE):
        count = min(PIECE, largest - start)
        frame = piece.iloc[:count].copy()
        frame["sme_id"] = [f"SYN-{i:08d}" for i in range(start + 1, start + count + 1)]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for n in sizes:
            take = min(n - written[n], count)
            if take <= 0:
                continue
            if n not in writers:
                writers[n] = pq.ParquetWriter(writing[n, "parquet"], table.schema)
            writers[n].write_table(table.slice(0, take), row_group_size=ROW_GROUP)
            written[n] += take
        for n, writer in csv_writers.items():
            if start < n:
                writer.write(frame.iloc[: n - start])
        print(f"  generated {start + count:,} rows", file=sys.stderr)
    for writer in [*writers.values(), *csv_writers.values()]:
        writer.close()
    for key, path in writing.items():  # complete files only: a later run trusts them
        path.replace(paths[key])
    return paths


def bare_model(scorer: Scorer, path: Path, repeats: int = 3, *, slices: int | None = None) -> float:
    """Best time of predict_proba on the encoded matrix of every row of ``path``, with
    scikit-learn's default threads and with one: on a busy machine OpenMP threads that wait
    for each other can be many times slower than one thread, and the floor is the faster.
    With ``slices``, the matrix is predicted that many rows at a time: for a large matrix
    scikit-learn is faster per row that way (every tree walks fewer rows that fit the cache)."""
    batch = validate_table(read_table(path))
    X = encode_features(batch.profiles)
    del batch
    step = slices or len(X)
    best = np.inf
    for threads in (None, 1):
        with threadpool_limits(limits=threads):
            for _ in range(repeats):
                start = time.perf_counter()
                for first in range(0, len(X), step):
                    scorer.model.estimator.predict_proba(X[first : first + step])
                best = min(best, time.perf_counter() - start)
    return best


def stages(scorer: Scorer, path: Path) -> dict[str, float]:
    """Seconds of each stage of the streaming path in this process, summed over the chunks,
    with the garbage-collector settings of a run; the file read as ``rescore`` reads it
    (cells kept as Arrow arrays)."""
    spent = dict.fromkeys(("read", "validate", "score", "flat_table", "encode"), 0.0)
    chunks = iter(iter_tables(path, chunk_rows=DEFAULT_CHUNK_ROWS, arrow=True))
    with fewer_collections():
        _stages(scorer, chunks, spent)
    return spent


def _stages(scorer: Scorer, chunks: Iterator, spent: dict[str, float]) -> None:
    while True:
        start = time.perf_counter()
        raw = next(chunks, None)
        spent["read"] += time.perf_counter() - start
        if raw is None:
            return
        start = time.perf_counter()
        batch = validate_table(raw)
        del raw
        spent["validate"] += time.perf_counter() - start
        start = time.perf_counter()
        table = scorer.score(batch.profiles, assumed=batch.assumed, scored_at="2026-01-01T00:00Z")
        spent["score"] += time.perf_counter() - start
        start = time.perf_counter()
        flat = table.to_frame()
        flat.insert(0, "row", batch.row_numbers)
        spent["flat_table"] += time.perf_counter() - start
        start = time.perf_counter()
        encode(flat, "parquet")
        spent["encode"] += time.perf_counter() - start


def timed_rescore(scorer: Scorer, path: Path, out: Path, *, workers: int) -> dict:
    """Wall time of one run, and the CPU seconds it spent in this process and in the pool
    process; this process's heap set as the command sets its own (``steady_heap``, which
    the model's runs then share)."""
    steady_heap()
    before = cpu_seconds()
    start = time.perf_counter()
    rescore(path, out, scorer=scorer, workers=workers)
    seconds = time.perf_counter() - start
    after = cpu_seconds()
    return {"seconds": seconds, "cpu": {name: after[name] - before[name] for name in after}}


def timed_command(path: Path, out: Path) -> dict:
    """Wall time and CPU seconds (the command and its pool process) of ``sme-export rescore``
    as an office runs it: starting, loading the model and ruleset, and the run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "api.cli", "rescore", str(path), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"seconds": seconds, "cpu": {"command": cpu}}


#: Runs of the model in slices per round, the fastest kept: with two OpenMP threads its time
#: is bimodal on this kind of machine (3.0 or 4.6 s for 1M rows, with nothing else
#: running), and a single run per round let the slow mode into the medians.
FLOOR_RUNS = 3


def model_in_slices(scorer: Scorer, X: np.ndarray, profiles=None) -> float:
    """Seconds of ``predict_proba`` on ``X`` 25,000 rows a call (with ``profiles``, each
    slice's features encoded from them first): the fastest of ``FLOOR_RUNS`` runs with
    scikit-learn's default threads and one with one thread. On a busy machine OpenMP threads
    that wait for each other can be many times slower than one, and the floor should be the
    model at its fastest."""
    step, best = DEFAULT_CHUNK_ROWS, np.inf
    estimator = scorer.model.estimator
    for threads in (None,) * FLOOR_RUNS + (1,):
        with threadpool_limits(limits=threads):
            start = time.perf_counter()
            for first in range(0, len(X), step):
                if profiles is None:
                    estimator.predict_proba(X[first : first + step])
                else:
                    rows = profiles.iloc[first : first + step]
                    estimator.predict_proba(encode_features(rows))
            best = min(best, time.perf_counter() - start)
    return best


def throughput(scorer: Scorer, path: Path, out: Path, *, rounds: int, workers: list[int]) -> dict:
    """Rescoring ``path`` and its baselines, taking turns in each of ``rounds`` rounds."""
    profiles = validate_table(read_table(path)).profiles
    X = encode_features(profiles)
    contenders = {
        "model_slices": lambda: {"seconds": model_in_slices(scorer, X)},
        "encode_model_slices": lambda: {"seconds": model_in_slices(scorer, X, profiles)},
        **{
            f"workers_{w}": (lambda w=w: timed_rescore(scorer, path, out, workers=w))
            for w in workers
        },
        "command": lambda: timed_command(path, out),
    }
    names = list(contenders)
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            runs[name].append(contenders[name]())
            print(f"    round {round_ + 1} {name}: {runs[name][-1]}", file=sys.stderr)
    row = {"rows": len(profiles), "input": path.suffix.lstrip("."), "runs": runs}
    for name in names:
        row[f"{name}_seconds"] = statistics.median(r["seconds"] for r in runs[name])
    for name in [*(f"workers_{w}" for w in workers), "command"]:
        for base in ("model_slices", "encode_model_slices"):
            ratios = [
                a["seconds"] / b["seconds"] for a, b in zip(runs[name], runs[base], strict=True)
            ]
            row[f"{name}_vs_{base}"] = {
                "median": statistics.median(ratios),
                "min": min(ratios),
                "max": max(ratios),
            }
    row["fastest_model_slices_seconds"] = min(r["seconds"] for r in runs["model_slices"])
    return row


def cpu_seconds() -> dict[str, float]:
    """User + system CPU seconds of this process and of its ended child processes (a run's
    pool process has ended when ``rescore`` returns)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "this_process": own.ru_utime + own.ru_stime,
        "pool": children.ru_utime + children.ru_stime,
    }


class TreeMemory:
    """Peak summed VmRSS of a process and its descendants, sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def _rss(self, pid: int) -> int:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return 0
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(found.group(1)) * 1024 if found else 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(self._rss(p) for p in self._tree()))
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def measure_command(command: list[str]) -> dict:
    """Wall time, largest process's max RSS (GNU time) and the tree's peak RSS of a command."""
    full = ["/usr/bin/time", "-v", *command] if Path("/usr/bin/time").exists() else command
    start = time.perf_counter()
    process = subprocess.Popen(full, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    sampler = TreeMemory(process.pid)
    _, stderr = process.communicate()
    wall = time.perf_counter() - start
    tree_peak = sampler.stop()
    if process.returncode not in (0, 3):
        raise RuntimeError(f"{command} failed:\n{stderr[-2000:]}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return {
        "seconds": wall,
        "max_rss_largest_process_mb": int(found.group(1)) / 1024 if found else None,
        "peak_rss_tree_mb": tree_peak / 2**20,
    }


WHOLE_FILE = """
import sys
from scoring.engine import Scorer
from scoring.files.readers import read_table
from scoring.contract.validate import validate_table
scorer = Scorer.load()
batch = validate_table(read_table(sys.argv[1]))
scorer.score(batch.profiles, assumed=batch.assumed).to_frame().to_parquet(sys.argv[2])
"""


SECTIONS = ("throughput", "stages", "memory", "dask")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--csv-rows", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--stage-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--memory-rows", type=int, nargs="+", default=[500_000, 1_000_000, 5_000_000]
    )
    parser.add_argument("--whole-file-rows", type=int, nargs="*", default=[500_000])
    parser.add_argument("--dask-rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument(
        "--rounds", type=int, default=3, help="Throughput: rounds of every contender in turn."
    )
    parser.add_argument("--data-dir", type=Path, help="Keep the generated inputs here.")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--json", type=Path, help="Also write the results here (merged).")
    parser.add_argument("--plot", type=Path, help="PNG of rows/s and memory against rows.")
    parser.add_argument(
        "--from-json", type=Path, help="Measure nothing: report and plot these results."
    )
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        report(results)
        if args.plot:
            plot(results, args.plot)
        return

    scorer = Scorer.load()
    results: dict = {}
    if args.json and args.json.exists():
        results = json.loads(args.json.read_text())
    results |= {
        "python": platform.python_version(),
        "scikit_learn": version("scikit-learn"),
        "model": scorer.model.version,
        "ruleset": scorer.ruleset.version_string,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }
    wanted = set(args.sections)
    sizes = {*args.rows, *args.memory_rows, args.stage_rows, args.dask_rows}
    csv_sizes = {*args.csv_rows, args.stage_rows}
    with tempfile.TemporaryDirectory(prefix="rescore-bench-") as tmp:
        folder = args.data_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        inputs = generate(sorted(sizes), sorted(csv_sizes), folder)
        out = Path(tmp) / "out.parquet"

        if "throughput" in wanted:
            print("throughput", file=sys.stderr)
            results["throughput"] = []
            runs = [(n, "parquet") for n in args.rows] + [(n, "csv") for n in args.csv_rows]
            for n, fmt in runs:
                row = throughput(
                    scorer, inputs[n, fmt], out, rounds=args.rounds, workers=args.workers
                )
                results["throughput"].append(row)
                print(f"  {row}", file=sys.stderr)

        if "stages" in wanted:
            print("stages", file=sys.stderr)
            results["stages"] = []
            for fmt in ("parquet", "csv"):
                n = args.stage_rows
                row = {"rows": n, "input": fmt, "seconds": stages(scorer, inputs[n, fmt])}
                row["bare_seconds"] = bare_model(
                    scorer, inputs[n, "parquet"], slices=DEFAULT_CHUNK_ROWS
                )
                results["stages"].append(row)
                print(f"  {row}", file=sys.stderr)

        if "memory" in wanted:
            print("memory", file=sys.stderr)
            results["memory"] = []
            cli = [sys.executable, "-m", "api.cli", "rescore"]
            runs = [(n, "parquet") for n in args.memory_rows]
            runs += [(n, "csv") for n in args.csv_rows]
            for n, fmt in runs:
                source = str(inputs[n, fmt])
                command = [*cli, source, "--out", str(out), "--quiet"]
                row = {"rows": n, "input": fmt, "streaming": measure_command(command)}
                if fmt == "parquet" and n in args.whole_file_rows:
                    script = [sys.executable, "-c", WHOLE_FILE, source, str(out)]
                    row["whole_file"] = measure_command(script)
                results["memory"].append(row)
                print(f"  {row}", file=sys.stderr)

        if "dask" in wanted:
            print("dask", file=sys.stderr)
            from scoring.batch.dask_engine import rescore_dask

            n = args.dask_rows
            source = inputs[n, "parquet"]
            pandas_seconds = timed_rescore(scorer, source, out, workers=2)["seconds"]
            start = time.perf_counter()
            rescore_dask(source, Path(tmp) / "d.parquet", workers=2, scorer=scorer)
            dask_seconds = time.perf_counter() - start
            results["dask"] = {
                "rows": n,
                "pandas_seconds": pandas_seconds,
                "dask_seconds": dask_seconds,
                "bare_seconds": bare_model(scorer, source, slices=DEFAULT_CHUNK_ROWS),
            }
            print(f"  {results['dask']}", file=sys.stderr)

    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.plot:
        plot(results, args.plot)


def report(results: dict) -> None:
    print(
        f"python {results['python']}, scikit-learn {results['scikit_learn']}, "
        f"model {results['model']}, ruleset {results['ruleset']}, {results['cpus']} CPUs, "
        f"load average at start {results['load_average_at_start']:.1f}"
    )
    if "throughput" in results:
        print(
            "\n| rows | input | model, 25,000 rows a call | encode + model, 25,000 a call | "
            "rescore --workers 1 | rescore (default, 2) | vs model in slices | "
            "vs encode + model | `sme-export rescore` | vs model in slices |"
        )
        print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in results["throughput"]:
            n = row["rows"]
            if "model_slices_seconds" not in row:
                continue  # recorded by an earlier version of this script
            cells = [
                f"{n / row[key]:,.0f} rows/s ({row[key]:.1f} s)" if key in row else "-"
                for key in (
                    "model_slices_seconds",
                    "encode_model_slices_seconds",
                    "workers_1_seconds",
                    "workers_2_seconds",
                )
            ]
            ratios = [
                "{median:.2f}x ({min:.2f}-{max:.2f})".format(**row[key]) if key in row else "-"
                for key in ("workers_2_vs_model_slices", "workers_2_vs_encode_model_slices")
            ]
            command = "-"
            if "command_seconds" in row:
                command = (
                    f"{n / row['command_seconds']:,.0f} rows/s ({row['command_seconds']:.1f} s)"
                )
            ratios += [
                command,
                "{median:.2f}x ({min:.2f}-{max:.2f})".format(**row["command_vs_model_slices"])
                if "command_vs_model_slices" in row
                else "-",
            ]
            print(f"| {n:,} | {row['input']} | " + " | ".join(cells + ratios) + " |")
        print("(median of the rounds; ratios: median of each round's ratio, and its range)")
        # The stricter reading: each median against the model's fastest run of the whole
        # section at that size (the Parquet and CSV files hold the same rows).
        fastest: dict[int, float] = {}
        for row in results["throughput"]:
            if "fastest_model_slices_seconds" in row:
                seconds = row["fastest_model_slices_seconds"]
                fastest[row["rows"]] = min(fastest.get(row["rows"], seconds), seconds)
        for row in results["throughput"]:
            if row["rows"] in fastest:
                floor = fastest[row["rows"]]
                against = ", ".join(
                    f"{label} {row[key] / floor:.2f}x"
                    for label, key in (
                        ("rescore (default, 2)", "workers_2_seconds"),
                        ("`sme-export rescore`", "command_seconds"),
                    )
                    if key in row
                )
                print(
                    f"Against the model's fastest run in slices of the section ({floor:.2f} s), "
                    f"{row['rows']:,} rows from {row['input']}, medians: {against}"
                )
        for row in results["throughput"]:
            for key, runs in row.get("runs", {}).items():
                if key.startswith("workers_"):
                    cpu = [
                        f"{r['cpu']['this_process']:.1f} + {r['cpu']['pool']:.1f} s CPU "
                        f"in {r['seconds']:.1f} s"
                        for r in runs
                    ]
                    print(
                        f"CPU (this process + pool) of --workers {key[-1]}, {row['rows']:,} "
                        f"rows from {row['input']}, each round: {'; '.join(cpu)}"
                    )
                elif key == "command":
                    cpu = [f"{r['cpu']['command']:.1f} s CPU in {r['seconds']:.1f} s" for r in runs]
                    print(
                        f"CPU (command + pool) of `sme-export rescore`, {row['rows']:,} rows from "
                        f"{row['input']}, each round: {'; '.join(cpu)}"
                    )
    for row in results.get("stages", []):
        bare = row["bare_seconds"]
        total = sum(row["seconds"].values())
        print(f"\nstages, {row['rows']:,} rows from {row['input']}, one process:")
        print("| stage | seconds | vs bare predict_proba |")
        print("| --- | ---: | ---: |")
        for stage, seconds in row["seconds"].items():
            print(f"| {stage} | {seconds:.2f} | {seconds / bare:.2f}x |")
        print(f"| all stages | {total:.2f} | {total / bare:.2f}x |")
        print(f"| bare predict_proba | {bare:.2f} | 1.00x |")
    if "memory" in results:
        print(
            "\n| rows | input | rescore: peak RSS, all processes | largest process | wall | "
            "whole file in memory: peak RSS |"
        )
        print("| ---: | --- | ---: | ---: | ---: | ---: |")
        for row in results["memory"]:
            s = row["streaming"]
            largest = s["max_rss_largest_process_mb"]
            largest = "-" if largest is None else f"{largest:,.0f} MB"
            whole = row.get("whole_file")
            whole = "-" if whole is None else f"{whole['peak_rss_tree_mb']:,.0f} MB"
            print(
                f"| {row['rows']:,} | {row.get('input', 'parquet')} | "
                f"{s['peak_rss_tree_mb']:,.0f} MB | {largest} | "
                f"{s['seconds']:.0f} s | {whole} |"
            )
    if "dask" in results:
        d = results["dask"]
        ratio = d["dask_seconds"] / d["pandas_seconds"]
        print(
            f"\ndask vs pandas on {d['rows']:,} rows: dask {d['dask_seconds']:.1f} s, "
            f"pandas {d['pandas_seconds']:.1f} s, ratio {ratio:.2f}x; "
            f"bare predict_proba {d['bare_seconds']:.2f} s "
            f"(dask {d['dask_seconds'] / d['bare_seconds']:.1f}x, "
            f"pandas {d['pandas_seconds'] / d['bare_seconds']:.1f}x)"
        )


def plot(results: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    from matplotlib.ticker import NullLocator

    def rows_axis(axis, rows: list[int]) -> None:
        axis.set_xscale("log")
        axis.set_xticks(rows, [f"{r / 1e6:g}M" if r >= 1e6 else f"{r // 1000}k" for r in rows])
        axis.xaxis.set_minor_locator(NullLocator())

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    parquet = [
        r
        for r in results["throughput"]
        if r.get("input", "parquet") == "parquet" and "model_slices_seconds" in r
    ]
    rows = [r["rows"] for r in parquet]
    for key, label in (
        ("model_slices_seconds", "model, 25,000 rows a call"),
        ("encode_model_slices_seconds", "encode + model, 25,000 rows a call"),
        ("workers_1_seconds", "rescore --workers 1"),
        ("workers_2_seconds", "rescore --workers 2"),
    ):
        left.plot(rows, [r["rows"] / r.get(key, np.nan) for r in parquet], "o-", label=label)
    left.set(yscale="log", xlabel="rows", ylabel="rows/s", title="Throughput (Parquet in/out)")
    rows_axis(left, rows)
    left.legend()
    rows = [r["rows"] for r in results["memory"]]
    right.plot(
        rows,
        [r["streaming"]["peak_rss_tree_mb"] for r in results["memory"]],
        "o-",
        label="rescore, all processes",
    )
    right.plot(
        rows,
        [r["streaming"]["max_rss_largest_process_mb"] or np.nan for r in results["memory"]],
        "^:",
        label="rescore, largest process",
    )
    whole = [r for r in results["memory"] if "whole_file" in r]
    right.plot(
        [r["rows"] for r in whole],
        [r["whole_file"]["peak_rss_tree_mb"] for r in whole],
        "s--",
        label="whole file in memory",
    )
    right.set(xlabel="rows", ylabel="peak resident memory (MB)", title="Peak memory")
    rows_axis(right, rows)
    right.set_ylim(bottom=0)
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
