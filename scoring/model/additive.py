"""The export-probability model: registered artifacts, verification and fast exact evaluation.

The shipped estimator is a scikit-learn ``HistGradientBoostingClassifier``
trained with ``interaction_cst="no_interactions"`` (every tree splits on one
feature), so its log-odds are a sum of one function per feature. At load time
those functions are read off the fitted trees into lookup tables
(``AdditiveLogit``); the tables reproduce scikit-learn's ``decision_function``
exactly (checked on a probe set stored in the artifact) and make the
counterfactuals behind action plans and reasons cheap.

Artifacts live in ``models/<version>/`` with a ``manifest.json``; the artifact's
SHA-256 and the scikit-learn version are checked before anything is unpickled. Beside the
artifact, ``tables.npz`` holds those lookup tables and the calibration as plain arrays
(read without unpickling, its SHA-256 in the manifest too): a process that only scores
(``load_model(..., estimator=False)``, the command line's rescoring) loads them without
importing scikit-learn, and checks them on the same probe set.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import re
import zipfile
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits

from scoring.errors import ModelArtifactError, ModelNotFoundError
from scoring.files.atomic import write_atomically
from scoring.model.features import FEATURE_NAMES, GROUP_INDEX, GROUPS

ARTIFACT_NAME = "model.joblib"
MANIFEST_NAME = "manifest.json"
TABLES_NAME = "tables.npz"
TABLES_FORMAT = 1
ACTIVE_NAME = "ACTIVE"
FORMAT_VERSION = 1
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
PROBE_TOLERANCE = 1e-9
#: Rows whose features are looked up together, one kind of table at a time.
_LOOKUP_ROWS = 8192
#: From this many rows on, features are looked up one kind of table at a time (fewer
#: comparisons, more calls); below it, all in one set of arrays.
_BY_FEATURE_ROWS = 96
#: Sets of features whose lookup arrays are kept (the action plan's, one per set of fixes).
_SUBSETS_KEPT = 256
RETRAIN_HINT = (
    "retrain with `sme-export train --data data/training.parquet --activate` "
    "or restore the models/ folder from the release"
)


def default_models_dir() -> Path:
    """``SME_EXPORT_MODELS_DIR`` if set, else the ``models/`` folder beside the package."""
    configured = os.environ.get("SME_EXPORT_MODELS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    import joblib
    import pandas
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "joblib": joblib.__version__,
    }


@dataclass(frozen=True)
class FeatureTable:
    """Piecewise-constant log-odds contribution of one feature."""

    thresholds: np.ndarray  # sorted split thresholds; a value <= t goes left, as in the trees
    values: np.ndarray  # len(thresholds) + 1 contributions, one per interval
    nan_value: float  # contribution of a missing value

    def lookup(self, x: np.ndarray) -> np.ndarray:
        if self.thresholds.size == 0:
            out = np.full(x.shape, self.values[0])
        else:
            out = self.values[np.searchsorted(self.thresholds, x, side="left")]
        missing = np.isnan(x)
        if missing.any():
            out = np.where(missing, self.nan_value, out)
        return out


@dataclass(frozen=True)
class _Lookup:
    """Feature tables laid out in flat arrays, for looking up many features in one go: a
    value's interval is the number of its table's thresholds below it."""

    owner: np.ndarray  # (K,) the feature (position in the set) of each threshold
    thresholds: np.ndarray  # (K,) every table's thresholds, table after table
    split: np.ndarray  # positions of the features that have thresholds
    split_starts: np.ndarray  # where each of those features' thresholds start
    value_starts: np.ndarray  # where each feature's values start in ``values``
    values: np.ndarray
    nan_values: np.ndarray
    # the same tables by kind, for many rows: one value, one threshold, several
    constant: np.ndarray  # positions of the features without thresholds
    single: np.ndarray  # positions of the features with one threshold
    single_thresholds: np.ndarray  # (len(single), 1) their thresholds
    several: tuple[tuple[int, np.ndarray], ...]  # (position, thresholds) of the others

    @classmethod
    def of(cls, tables: list[FeatureTable]) -> _Lookup:
        sizes = np.array([t.thresholds.size for t in tables], dtype=np.intp)
        split = np.flatnonzero(sizes)
        return cls(
            owner=np.repeat(np.arange(len(tables)), sizes),
            thresholds=np.concatenate([t.thresholds for t in tables] + [np.empty(0)]),
            split=split,
            split_starts=(np.cumsum(sizes) - sizes)[split],
            value_starts=np.cumsum(sizes + 1) - (sizes + 1),
            values=np.concatenate([t.values for t in tables] + [np.empty(0)]),
            nan_values=np.array([t.nan_value for t in tables], dtype=np.float64),
            constant=np.flatnonzero(sizes == 0),
            single=np.flatnonzero(sizes == 1),
            single_thresholds=np.array(
                [t.thresholds[0] for t in tables if t.thresholds.size == 1], dtype=np.float64
            )[:, None],
            several=tuple((int(j), tables[j].thresholds) for j in np.flatnonzero(sizes > 1)),
        )

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Each table's ``lookup`` of its column of ``X`` (the same values, picked from the
        same array), row-major: sums along a row depend on the layout."""
        return np.ascontiguousarray(self.by_feature(X).T)

    def by_feature(self, X: np.ndarray) -> np.ndarray:
        """``__call__``'s values feature-major: (features, rows), contiguous."""
        columns = X.T
        if len(X) >= _BY_FEATURE_ROWS:
            return self._by_kind(columns)
        index = np.empty(columns.shape, dtype=np.intp)
        index[:] = self.value_starts[:, None]
        if self.split.size:
            # the thresholds t < x of each feature, as searchsorted(t, x, "left") counts
            below = columns[self.owner] > self.thresholds[:, None]
            index[self.split] += np.add.reduceat(below, self.split_starts, axis=0, dtype=np.intp)
        values = self.values[index]
        np.copyto(values, self.nan_values[:, None], where=np.isnan(columns))
        return values

    def _by_kind(self, columns: np.ndarray) -> np.ndarray:
        """``by_feature`` of many rows (``columns``: one row per feature), in blocks of rows
        whose temporary arrays stay small: a table of one value fills its row, one threshold
        is one comparison for all such features, more are ``searchsorted``."""
        out = np.empty(columns.shape, dtype=np.float64)
        starts, values = self.value_starts, self.values
        if self.constant.size:
            out[self.constant] = values[starts[self.constant], None]
        first = starts[self.single, None]
        for start in range(0, columns.shape[1], _LOOKUP_ROWS):
            rows = slice(start, start + _LOOKUP_ROWS)
            block = columns[:, rows]
            if self.single.size:
                out[self.single, rows] = values[
                    first + (block[self.single] > self.single_thresholds)
                ]
            for j, thresholds in self.several:
                out[j, rows] = values[starts[j] + np.searchsorted(thresholds, block[j])]
            np.copyto(out[:, rows], self.nan_values[:, None], where=np.isnan(block))
        return out


def column_sums(by_feature: np.ndarray) -> np.ndarray:
    """Each column's sum of a feature-major (k, n) array: to the bit what NumPy's
    ``by_feature.T.copy().sum(axis=1)`` gives, without the copy. NumPy sums a contiguous
    row of 8 to 128 values pairwise: eight running sums (values 0-7, each then adding every
    eighth value), combined as ((0+1)+(2+3))+((4+5)+(6+7)), then the values left over one
    by one; here each step is one addition of whole rows (a test holds the two together)."""
    k, n = by_feature.shape
    if not 8 <= k <= 128 or n < _BY_FEATURE_ROWS:  # (a few rows: fewer calls this way)
        return np.ascontiguousarray(by_feature.T).sum(axis=1)
    partial = by_feature[:8].copy()
    whole = k - k % 8
    for start in range(8, whole, 8):
        partial += by_feature[start : start + 8]
    p = partial
    total = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
    for rest in range(whole, k):
        total += by_feature[rest]
    return total


class AdditiveLogit:
    """Exact lookup-table form of a single-feature-per-tree gradient-boosting model."""

    def __init__(self, intercept: float, tables: list[FeatureTable]):
        self.intercept = intercept
        self.tables = tables
        self._all = _Lookup.of(tables)
        self._subsets: dict[bytes, _Lookup] = {}

    @classmethod
    def from_estimator(cls, hgb: Any) -> AdditiveLogit:
        n_features = hgb.n_features_in_
        thresholds: list[set[float]] = [set() for _ in range(n_features)]
        for iteration in hgb._predictors:
            for predictor in iteration:
                nodes = predictor.nodes
                splits = ~nodes["is_leaf"].astype(bool)
                if np.unique(nodes["feature_idx"][splits]).size > 1:
                    raise ModelArtifactError(
                        "the model has trees that combine features, so it cannot be explained "
                        f"exactly; {RETRAIN_HINT}"
                    )
                for feature, threshold in zip(
                    nodes["feature_idx"][splits], nodes["num_threshold"][splits], strict=True
                ):
                    thresholds[int(feature)].add(float(threshold))
        base = np.zeros((1, n_features))
        base_value = float(hgb.decision_function(base)[0])
        tables = []
        for j in range(n_features):
            # An infinite threshold only separates missing from present values, which the
            # missing-value entry already covers.
            t = np.array(sorted(v for v in thresholds[j] if np.isfinite(v)), dtype=np.float64)
            points = np.concatenate(
                [t, [np.nextafter(t[-1], np.inf)] if t.size else [0.0], [np.nan]]
            )
            grid = np.repeat(base, points.size, axis=0)
            grid[:, j] = points
            delta = hgb.decision_function(grid) - base_value
            tables.append(FeatureTable(t, delta[:-1].copy(), float(delta[-1])))
        # base's own contributions are folded into the intercept: raw(x) = c + sum_j T_j(x_j).
        own = sum(float(tab.lookup(np.zeros(1))[0]) for tab in tables)
        return cls(base_value - own, tables)

    def contributions(self, X: np.ndarray, *, features: np.ndarray | None = None) -> np.ndarray:
        """(n, n_features) log-odds contribution of each feature; with ``features``, of those
        features only, ``X`` holding their columns. Each table's ``lookup``, for every
        feature at once."""
        X = np.asarray(X, dtype=np.float64)
        if features is None:
            return self._all(X)
        if len(features) == 1:
            return self.tables[features[0]].lookup(X[:, 0])[:, None]
        return self._subset(features)(X)

    def contributions_by_feature(
        self, X: np.ndarray, *, features: np.ndarray | None = None
    ) -> np.ndarray:
        """``contributions(X, features=features)`` feature-major: (features, n), contiguous."""
        X = np.asarray(X, dtype=np.float64)
        if features is None:
            return self._all.by_feature(X)
        if len(features) == 1:
            return self.tables[features[0]].lookup(X[:, 0])[None, :]
        return self._subset(features).by_feature(X)

    def _subset(self, features: np.ndarray) -> _Lookup:
        """The lookup of some features' tables, kept for the next call with the same set."""
        key = np.asarray(features, dtype=np.intp).tobytes()
        lookup = self._subsets.get(key)
        if lookup is None:
            if len(self._subsets) >= _SUBSETS_KEPT:
                self._subsets.clear()
            tables = [self.tables[j] for j in np.frombuffer(key, dtype=np.intp)]
            lookup = self._subsets[key] = _Lookup.of(tables)
        return lookup

    def decision(self, X: np.ndarray) -> np.ndarray:
        return self.intercept + self.contributions(X).sum(axis=1)


class ExportModel:
    """A verified, loaded model version: probability of exporting within 12 months.

    Scoring needs the lookup tables (``additive``), the calibration's ``(a, b)`` and the
    reference contributions; ``estimator`` and ``baseline`` are the scikit-learn objects,
    None when the model was loaded from ``tables.npz`` or made ``portable``."""

    def __init__(
        self,
        *,
        version: str,
        manifest: dict,
        additive: AdditiveLogit,
        sigmoid: tuple[float, float],
        reference: np.ndarray,
        estimator: Any = None,
        baseline: Any = None,
    ):
        self.version = version
        self.manifest = manifest
        self.estimator = estimator
        self.baseline = baseline
        self._sigmoid = sigmoid
        self.additive = additive
        self.reference = np.asarray(reference, dtype=np.float64)
        # Features of a group are adjacent, so a group's sum is a segment sum along the row.
        if np.any(np.diff(GROUP_INDEX) < 0) or len(np.unique(GROUP_INDEX)) != len(GROUPS):
            raise ModelArtifactError("feature groups must be contiguous")  # pragma: no cover
        self._group_starts = np.searchsorted(GROUP_INDEX, np.arange(len(GROUPS)))

    @classmethod
    def from_bundle(cls, *, version: str, manifest: dict, bundle: dict) -> ExportModel:
        """The model of an unpickled ``model.joblib``, its tables read off the trees."""
        estimator = bundle["estimator"]
        calibrated = estimator.calibrated_classifiers_
        if len(calibrated) != 1:
            raise ModelArtifactError(
                f"model {version} has {len(calibrated)} calibrated copies, expected 1; "
                f"{RETRAIN_HINT}"
            )
        # scikit-learn's _SigmoidCalibration.predict is expit(-(a * decision + b)); keeping only
        # a and b lets a copy without scikit-learn objects score identically (``portable``).
        calibrator = calibrated[0].calibrators[0]
        return cls(
            version=version,
            manifest=manifest,
            additive=AdditiveLogit.from_estimator(calibrated[0].estimator),
            sigmoid=(calibrator.a_, calibrator.b_),
            reference=bundle["reference_contributions"],
            estimator=estimator,
            baseline=bundle.get("baseline"),
        )

    @classmethod
    def from_tables(cls, *, version: str, manifest: dict, arrays: dict) -> ExportModel:
        """The model of a ``tables.npz`` (``to_arrays``), without scikit-learn."""
        counts = arrays["threshold_counts"].astype(np.intp)
        n = len(FEATURE_NAMES)
        if (
            len(counts) != n
            or counts.sum() != len(arrays["thresholds"])
            or (counts + 1).sum() != len(arrays["values"])
            or arrays["nan_values"].shape != (n,)
            or arrays["reference"].shape != (n,)
            or arrays["sigmoid"].shape != (2,)
        ):
            raise ModelArtifactError(f"{TABLES_NAME} of {version} is malformed; {RETRAIN_HINT}")
        thresholds = np.split(arrays["thresholds"], np.cumsum(counts)[:-1])
        values = np.split(arrays["values"], np.cumsum(counts + 1)[:-1])
        tables = [
            FeatureTable(t.copy(), v.copy(), float(nan))
            for t, v, nan in zip(thresholds, values, arrays["nan_values"], strict=True)
        ]
        a, b = arrays["sigmoid"]
        return cls(
            version=version,
            manifest=manifest,
            additive=AdditiveLogit(float(arrays["intercept"]), tables),
            sigmoid=(a, b),
            reference=arrays["reference"],
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """What scoring needs as plain arrays (``from_tables`` reads them back): each
        feature's thresholds and values, table after table, the intercept, the calibration's
        a and b, and the reference contributions."""
        tables = self.additive.tables
        return {
            "format": np.array(TABLES_FORMAT),
            "features": np.array(FEATURE_NAMES),
            "intercept": np.array(self.additive.intercept, dtype=np.float64),
            "sigmoid": np.array(self._sigmoid, dtype=np.float64),
            "threshold_counts": np.array([t.thresholds.size for t in tables], dtype=np.int64),
            "thresholds": np.concatenate([t.thresholds for t in tables] + [np.empty(0)]),
            "values": np.concatenate([t.values for t in tables]),
            "nan_values": np.array([t.nan_value for t in tables], dtype=np.float64),
            "reference": self.reference,
        }

    def probability_from_decision(self, decision: np.ndarray) -> np.ndarray:
        """``clip(expit(-(a * decision + b)), 0, 1)``, each step in place in one new array
        (the same operations in the same order: the same bits, a third of the time)."""
        a, b = self._sigmoid
        x = np.multiply(a, np.ravel(np.asarray(decision, dtype=np.float64)))
        x += b
        np.negative(x, out=x)
        expit(x, out=x)
        return np.clip(x, 0.0, 1.0, out=x)

    def portable(self) -> ExportModel:
        """This model without its scikit-learn estimators: it scores identically (lookup tables
        and calibration only) and a process it is sent to never imports scikit-learn, about
        70 MB less per worker process. ``self_check`` and ``estimator`` need the full model."""
        slim = copy.copy(self)
        slim.estimator = slim.baseline = None
        return slim

    def decision(self, X: np.ndarray) -> np.ndarray:
        return self.additive.decision(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class for an encoded matrix."""
        return self.probability_from_decision(self.decision(X))

    def group_contributions(self, contributions: np.ndarray) -> np.ndarray:
        """(n, n_groups) log-odds contribution of each profile fact against the training average,
        from the per-feature ``additive.contributions``."""
        return np.add.reduceat(contributions - self.reference, self._group_starts, axis=1)

    def self_check(self, X: np.ndarray, expected: np.ndarray) -> None:
        """Refuse the model unless it gives the probe set's probabilities recorded at
        training (and so does its estimator, when it has one)."""
        worst = float(np.max(np.abs(self.predict_proba(X) - expected)))
        if self.estimator is not None:
            theirs = self.estimator.predict_proba(X)[:, 1]
            worst = max(worst, float(np.max(np.abs(theirs - expected))))
        if worst > PROBE_TOLERANCE:
            raise ModelArtifactError(
                f"model {self.version} fails its self-check (probabilities differ by {worst:.2e} "
                f"from those recorded at training); {RETRAIN_HINT}"
            )


def bundle_for(
    estimator: Any, *, baseline: Any, reference: np.ndarray, probe_X: np.ndarray
) -> dict:
    """What goes into ``model.joblib``: estimator, baseline and the data needed to verify it."""
    return {
        "format": FORMAT_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "estimator": estimator,
        "baseline": baseline,
        "reference_contributions": np.asarray(reference, dtype=np.float64),
        "probe_X": probe_X,
        "probe_p": estimator.predict_proba(probe_X)[:, 1],
    }


def tables_arrays(bundle: dict) -> dict[str, np.ndarray]:
    """What goes into ``tables.npz``: the scoring form of a bundle's estimator
    (``ExportModel.to_arrays``) and the probe set that checks it."""
    model = ExportModel.from_bundle(version="being saved", manifest={}, bundle=bundle)
    return {
        **model.to_arrays(),
        "probe_X": np.asarray(bundle["probe_X"], dtype=np.float64),
        "probe_p": np.asarray(bundle["probe_p"], dtype=np.float64),
    }


def write_tables(bundle: dict, folder: Path) -> dict[str, str]:
    """Write ``tables.npz`` of ``bundle`` into ``folder``; the manifest's entries for it."""
    path = folder / TABLES_NAME
    with path.open("wb") as handle:
        np.savez_compressed(handle, **tables_arrays(bundle))
    return {"tables": TABLES_NAME, "tables_sha256": sha256_file(path)}


def save_model(bundle: dict, manifest: dict, models_dir: Path, *, activate: bool) -> Path:
    """Write ``models/<version>/`` atomically; the version embeds the artifact's hash."""
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = models_dir / f".staging-{os.getpid()}"
    staging.mkdir(exist_ok=True)
    artifact = staging / ARTIFACT_NAME
    import joblib  # here and in load_model: a process that scores from the tables needs none

    joblib.dump(bundle, artifact, compress=3)
    digest = sha256_file(artifact)
    version = f"{manifest['created_at'][:10].replace('-', '')}-{digest[:10]}"
    manifest = {**manifest, "version": version, "artifact": ARTIFACT_NAME, "sha256": digest}
    manifest |= write_tables(bundle, staging)
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    target = models_dir / version
    if target.exists():
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()
    else:
        staging.rename(target)
    if activate:
        activate_version(models_dir, version)
    return target


def activate_version(models_dir: Path, version: str) -> None:
    """Point ``ACTIVE`` at a version through fsync and rename, so it is never half-written."""
    read_manifest(models_dir, version)
    write_atomically(models_dir / ACTIVE_NAME, version + "\n")


def active_version(models_dir: Path) -> str:
    pointer = models_dir / ACTIVE_NAME
    if not pointer.is_file():
        raise ModelNotFoundError(
            f"no active model in {models_dir} (missing {ACTIVE_NAME}); {RETRAIN_HINT}"
        )
    version = pointer.read_text().strip()
    if not VERSION_PATTERN.match(version):
        raise ModelArtifactError(f"{pointer} does not name a model version; {RETRAIN_HINT}")
    return version


def read_manifest(models_dir: Path, version: str) -> dict:
    if not VERSION_PATTERN.match(version):
        raise ModelNotFoundError(f"{version!r} is not a model version name")
    path = models_dir / version / MANIFEST_NAME
    if not path.is_file():
        raise ModelNotFoundError(
            f"model version {version} has no manifest at {path}; {RETRAIN_HINT}"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelArtifactError(f"manifest {path} is unreadable ({exc}); {RETRAIN_HINT}") from exc
    missing = {"version", "artifact", "sha256", "libraries", "features"} - set(manifest)
    if missing:
        raise ModelArtifactError(f"manifest {path} lacks {sorted(missing)}; {RETRAIN_HINT}")
    if manifest["version"] != version:
        raise ModelArtifactError(
            f"manifest {path} names version {manifest['version']}, not {version}"
        )
    return manifest


def load_model(
    models_dir: Path | None = None, version: str | None = None, *, estimator: bool = True
) -> ExportModel:
    """Load a registered model version (the active one by default), verifying it first.

    With ``estimator=False`` only what scoring needs is loaded: ``tables.npz`` when the
    version has one (no scikit-learn import, nothing unpickled), else the whole artifact
    made ``portable``."""
    models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
    version = version or active_version(models_dir)
    manifest = read_manifest(models_dir, version)
    if manifest["artifact"] != ARTIFACT_NAME:
        raise ModelArtifactError(f"manifest of {version} points outside its folder; {RETRAIN_HINT}")
    trained_with = manifest["libraries"].get("scikit-learn")
    installed = installed_version("scikit-learn")
    if trained_with != installed:
        raise ModelArtifactError(
            f"model {version} was trained with scikit-learn {trained_with} but "
            f"{installed} is installed; install scikit-learn=={trained_with} "
            f"or {RETRAIN_HINT}"
        )
    if list(manifest["features"]) != list(FEATURE_NAMES):
        raise ModelArtifactError(
            f"model {version} was trained on other features than this version of the software "
            f"computes; {RETRAIN_HINT}"
        )
    # The artifact is verified even when only the tables are read: a version with a
    # changed file is refused whatever loads it.
    artifact = _verified(models_dir / version, ARTIFACT_NAME, manifest["sha256"])
    if not estimator and "tables" in manifest:
        return _load_tables(models_dir / version, manifest)
    import joblib

    try:
        bundle = joblib.load(artifact)
    except Exception as exc:  # a verified file that still fails to unpickle is corrupt
        raise ModelArtifactError(
            f"model file {artifact} cannot be read ({exc}); {RETRAIN_HINT}"
        ) from exc
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT_VERSION:
        raise ModelArtifactError(f"model file {artifact} has an unknown layout; {RETRAIN_HINT}")
    # Reading the tables off the trees makes many tiny predictions: one thread avoids OpenMP
    # start-up and spin costs that dominate them, above all on a busy machine.
    with threadpool_limits(limits=1, user_api="openmp"):
        model = ExportModel.from_bundle(version=version, manifest=manifest, bundle=bundle)
        model.self_check(bundle["probe_X"], bundle["probe_p"])
    return model if estimator else model.portable()


def _verified(folder: Path, name: str, sha256: str) -> Path:
    """``folder / name``, refused unless it exists and its SHA-256 is the manifest's."""
    path = folder / name
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} is missing; {RETRAIN_HINT}")
    found = sha256_file(path)
    if found != sha256:
        raise ModelArtifactError(
            f"model file {path} does not match its manifest (sha256 {found[:12]}..., expected "
            f"{sha256[:12]}...): it was changed after training and will not be loaded; "
            f"{RETRAIN_HINT}"
        )
    return path


def _load_tables(folder: Path, manifest: dict) -> ExportModel:
    version = manifest["version"]
    if manifest["tables"] != TABLES_NAME:
        raise ModelArtifactError(f"manifest of {version} points outside its folder; {RETRAIN_HINT}")
    path = _verified(folder, TABLES_NAME, manifest.get("tables_sha256", ""))
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        if int(arrays["format"]) != TABLES_FORMAT:
            raise ValueError(f"format {int(arrays['format'])}, not {TABLES_FORMAT}")
        if arrays["features"].tolist() != list(FEATURE_NAMES):
            raise ValueError("other features than the manifest's")
        model = ExportModel.from_tables(version=version, manifest=manifest, arrays=arrays)
        model.self_check(arrays["probe_X"], arrays["probe_p"])
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as exc:
        raise ModelArtifactError(
            f"model file {path} cannot be read ({exc}); {RETRAIN_HINT}"
        ) from exc
    return model
