"""End-to-end batch scoring against the bare model, measured in the same run.

Generates N synthetic profiles, validates them (as a file's rows would be), and
times three things on the same machine, back to back, best of R repeats:

  bare     the fitted scikit-learn estimator's predict_proba on the already-encoded matrix
  score    score_frame on the canonical frame: rules, model, blend, reasons, exact action plans
  table    score_frame + the flat output table (what `sme-export score --out` writes)
  full     validation of the raw rows + score_frame + the flat output table

Usage: python benchmarks/score_batch.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import sklearn

from scoring.contract.validate import validate_table
from scoring.engine import Scorer
from scoring.files.table import RawTable
from scoring.model import synth
from scoring.model.features import encode_features


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    scorer = Scorer.load()
    raw_frame = synth.generate_profiles(args.rows, seed=7).drop(columns=["exported_within_12m"])
    raw = RawTable(frame=raw_frame, first_row_number=1, decimal=".", source="generated")
    batch = validate_table(raw)
    assert batch.rejected == 0, batch.errors[:3]
    X = encode_features(batch.profiles)
    estimator = scorer.model.estimator

    bare = best_of(args.repeats, lambda: estimator.predict_proba(X))
    scored = best_of(args.repeats, lambda: scorer.score(batch.profiles, assumed=batch.assumed))
    tabled = best_of(
        args.repeats, lambda: scorer.score(batch.profiles, assumed=batch.assumed).to_frame()
    )

    def full() -> None:
        validated = validate_table(raw)
        scorer.score(validated.profiles, assumed=validated.assumed).to_frame()

    end_to_end = best_of(args.repeats, full)
    print(
        f"python {platform.python_version()}, scikit-learn {sklearn.__version__}, rows {args.rows}"
    )
    print(f"model {scorer.model.version}, ruleset {scorer.ruleset.version_string}")
    print(f"{'bare predict_proba':<34}{bare:8.3f} s  {args.rows / bare:12,.0f} rows/s  1.00x")
    for label, seconds in (
        ("score_frame (rules+ML+explain)", scored),
        ("score_frame + flat output table", tabled),
        ("validate + score + flat table", end_to_end),
    ):
        rate = args.rows / seconds
        print(f"{label:<34}{seconds:8.3f} s  {rate:12,.0f} rows/s  {seconds / bare:.2f}x")


if __name__ == "__main__":
    main()
