"""How well a model trained on an office's few outcomes ranks fresh SMEs, with the
large-data boosting settings and with the small-data ones (``scoring.model.training``).

Trains on ``n`` synthetic labelled profiles (three samples per size), scores 10,000 fresh
ones from the same generator, and prints the ROC AUC of each fit. ``gbm_params`` chooses
the small-data settings below 1,000 rows; this script forces each setting in turn.

Usage: python benchmarks/small_data_training.py [--sizes 100 200 500]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import roc_auc_score

from scoring.contract.validate import validate_records
from scoring.model import synth
from scoring.model import training as T
from scoring.model.features import encode_features


def encoded(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    records = synth.generate_profiles(n, seed=seed).to_dict("records")
    for record in records:
        for key, value in list(record.items()):
            if isinstance(value, np.ndarray):
                record[key] = list(value)
            elif isinstance(value, float) and np.isnan(value):
                record[key] = None
    batch = validate_records(records, require_label=True)
    return encode_features(batch.profiles), np.asarray(batch.labels, dtype=np.int64)


def fitted_auc(X, y, X_fresh, y_fresh, *, seed: int, params: dict) -> float:
    saved = dict(T.GBM_PARAMS)
    try:
        T.GBM_PARAMS.clear()
        T.GBM_PARAMS.update(params)
        original, T.SMALL_DATA_ROWS = T.SMALL_DATA_ROWS, 0  # use GBM_PARAMS as given
        estimator = T.make_estimator(
            seed=seed, n_positive=int(y.sum()), n_negative=int((1 - y).sum())
        )
        estimator.fit(X, y)
    finally:
        T.GBM_PARAMS.clear()
        T.GBM_PARAMS.update(saved)
        T.SMALL_DATA_ROWS = original
    return roc_auc_score(y_fresh, estimator.predict_proba(X_fresh)[:, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500])
    args = parser.parse_args()
    X_fresh, y_fresh = encoded(10_000, 99)
    print("rows  settings  ROC AUC on 10,000 fresh SMEs (three training samples)")
    for n in args.sizes:
        X0 = [encoded(n, 1000 + seed) for seed in range(3)]
        for name, params in (("large", dict(T.GBM_PARAMS)), ("small", T.gbm_params(n))):
            aucs = [
                fitted_auc(X, y, X_fresh, y_fresh, seed=seed, params=params)
                for seed, (X, y) in enumerate(X0)
            ]
            print(f"{n:>4}  {name:<8}  " + "  ".join(f"{a:.3f}" for a in aucs))


if __name__ == "__main__":
    main()
