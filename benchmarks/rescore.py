"""Rescoring at scale: throughput, peak memory and the Dask engine, beside the bare model.

Generates synthetic profiles once per run into a temporary folder (``generate_profiles`` in
pieces of 500,000 rows, written as Parquet row groups of 100,000), then measures, on the same
machine and back to back:

  throughput  rows/s of ``scoring.rescore.rescore`` (Parquet in, Parquet out) at each of
              --rows, with --workers 1 and 2 (2 starts a process pool only from 300,000
              rows; its start-up is included); the scorer is loaded once beforehand
  memory      peak resident memory of ``sme-export rescore`` at each of --memory-rows, run
              as a command: the largest single process (``/usr/bin/time -v``, when present)
              and the whole process tree (sampled from /proc every 20 ms); beside it, reading,
              validating and scoring the whole file at once, for the first two sizes
  dask        ``--engine dask`` on a local cluster of 2 worker processes against the pandas
              engine, on --dask-rows rows (cluster start-up included, as a user sees it)
  bare        the fitted estimator's ``predict_proba`` on the already-encoded matrix of the
              same rows: the floor every figure is compared with

Usage: python benchmarks/rescore.py [--rows 10000 100000 1000000]
           [--memory-rows 500000 1000000 5000000] [--dask-rows 1000000]
           [--json results.json] [--plot docs/rescore.png]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sklearn

from scoring import synth
from scoring.engine import Scorer
from scoring.features import encode_features
from scoring.readers import read_table
from scoring.rescore import rescore
from scoring.validate import validate_table

PIECE = 500_000
ROW_GROUP = 100_000
ROOT = Path(__file__).resolve().parent.parent


def generate(sizes: list[int], folder: Path) -> dict[int, Path]:
    """One Parquet file per size; each is a prefix of the same generated rows."""
    largest = max(sizes)
    paths = {n: folder / f"profiles_{n}.parquet" for n in sizes}
    writers: dict[int, pq.ParquetWriter] = {}
    written = dict.fromkeys(sizes, 0)
    for start in range(0, largest, PIECE):
        count = min(PIECE, largest - start)
        frame = synth.generate_profiles(count, seed=start // PIECE + 1)
        frame = frame.drop(columns=[synth.LABEL])
        frame["sme_id"] = [f"SYN-{i:08d}" for i in range(start + 1, start + count + 1)]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for n, path in paths.items():
            take = min(n - written[n], count)
            if take <= 0:
                continue
            if n not in writers:
                writers[n] = pq.ParquetWriter(path, table.schema)
            writers[n].write_table(table.slice(0, take), row_group_size=ROW_GROUP)
            written[n] += take
        print(f"  generated {start + count:,} rows", file=sys.stderr)
    for writer in writers.values():
        writer.close()
    return paths


def bare_model(scorer: Scorer, path: Path, repeats: int = 3) -> float:
    """Best time of predict_proba on the encoded matrix of every row of ``path``."""
    batch = validate_table(read_table(path))
    X = encode_features(batch.profiles)
    del batch
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        scorer.model.estimator.predict_proba(X)
        best = min(best, time.perf_counter() - start)
    return best


def timed_rescore(scorer: Scorer, path: Path, out: Path, *, workers: int) -> float:
    start = time.perf_counter()
    rescore(path, out, scorer=scorer, workers=workers)
    return time.perf_counter() - start


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
from scoring.readers import read_table
from scoring.validate import validate_table
scorer = Scorer.load()
batch = validate_table(read_table(sys.argv[1]))
scorer.score(batch.profiles, assumed=batch.assumed).to_frame().to_parquet(sys.argv[2])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--memory-rows", type=int, nargs="+", default=[500_000, 1_000_000, 5_000_000]
    )
    parser.add_argument("--dask-rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="Also write the results here.")
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
    results: dict = {
        "python": platform.python_version(),
        "scikit_learn": sklearn.__version__,
        "model": scorer.model.version,
        "ruleset": scorer.ruleset.version_string,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }
    sizes = sorted({*args.rows, *args.memory_rows, *([args.dask_rows] if args.dask_rows else [])})
    with tempfile.TemporaryDirectory(prefix="rescore-bench-") as tmp:
        folder = Path(tmp)
        inputs = generate(sizes, folder)

        print("throughput", file=sys.stderr)
        results["throughput"] = []
        for n in args.rows:
            bare = bare_model(scorer, inputs[n])
            row = {"rows": n, "bare_seconds": bare}
            for workers in (1, 2):
                seconds = timed_rescore(scorer, inputs[n], folder / "out.parquet", workers=workers)
                row[f"workers_{workers}_seconds"] = seconds
            results["throughput"].append(row)
            print(f"  {row}", file=sys.stderr)

        print("memory", file=sys.stderr)
        results["memory"] = []
        cli = [sys.executable, "-m", "scoring.cli", "rescore"]
        for k, n in enumerate(args.memory_rows):
            out = folder / "out.parquet"
            row = {
                "rows": n,
                "streaming": measure_command([*cli, str(inputs[n]), "--out", str(out), "--quiet"]),
            }
            if k < 2:
                script = [sys.executable, "-c", WHOLE_FILE, str(inputs[n]), str(out)]
                row["whole_file"] = measure_command(script)
            results["memory"].append(row)
            print(f"  {row}", file=sys.stderr)

        if args.dask_rows:
            print("dask", file=sys.stderr)
            from scoring.rescore_dask import rescore_dask

            n = args.dask_rows
            pandas_seconds = timed_rescore(scorer, inputs[n], folder / "p.parquet", workers=2)
            start = time.perf_counter()
            rescore_dask(inputs[n], folder / "d.parquet", workers=2, scorer=scorer)
            dask_seconds = time.perf_counter() - start
            results["dask"] = {
                "rows": n,
                "pandas_seconds": pandas_seconds,
                "dask_seconds": dask_seconds,
                "bare_seconds": bare_model(scorer, inputs[n]),
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
    print(
        "\n| rows | bare predict_proba | rescore --workers 1 | rescore --workers 2 (default) | "
        "2 vs 1 | best vs bare |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in results["throughput"]:
        n, bare = row["rows"], row["bare_seconds"]
        one, two = row["workers_1_seconds"], row["workers_2_seconds"]
        print(
            f"| {n:,} | {n / bare:,.0f} rows/s | {n / one:,.0f} rows/s ({one:.1f} s) | "
            f"{n / two:,.0f} rows/s ({two:.1f} s) | {one / two:.2f}x | "
            f"{min(one, two) / bare:.1f}x |"
        )
    print(
        "\n| rows | rescore: peak RSS, all processes | largest process | wall | "
        "whole file in memory: peak RSS |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    for row in results["memory"]:
        s = row["streaming"]
        largest = s["max_rss_largest_process_mb"]
        largest = "-" if largest is None else f"{largest:,.0f} MB"
        whole = row.get("whole_file")
        whole = "-" if whole is None else f"{whole['peak_rss_tree_mb']:,.0f} MB"
        print(
            f"| {row['rows']:,} | {s['peak_rss_tree_mb']:,.0f} MB | {largest} | "
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
    rows = [r["rows"] for r in results["throughput"]]
    for key, label in (
        ("bare_seconds", "bare predict_proba"),
        ("workers_1_seconds", "rescore --workers 1"),
        ("workers_2_seconds", "rescore --workers 2"),
    ):
        left.plot(rows, [r["rows"] / r[key] for r in results["throughput"]], "o-", label=label)
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
