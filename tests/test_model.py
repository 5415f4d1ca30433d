"""Model training, artifacts and verification on a small trained model."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import sklearn
from conftest import random_labels, random_profiles

from scoring.contract import fields as F
from scoring.errors import ModelArtifactError, ModelNotFoundError
from scoring.model.additive import ACTIVE_NAME, activate_version, load_model, save_model
from scoring.model.features import FEATURE_NAMES, FEATURES, MONOTONIC_CST, encode_features
from scoring.model.training import TrainingDataError, train


@pytest.fixture(scope="module")
def trained():
    profiles = random_profiles(3000, seed=11)
    return train(profiles, random_labels(profiles, seed=11), seed=5)


@pytest.fixture
def registry(tmp_path, trained):
    path = save_model(trained.bundle, trained.manifest, tmp_path, activate=True)
    return tmp_path, path.name


def test_no_personal_field_is_a_model_input():
    used = {name.split(":")[0] for name in FEATURE_NAMES}
    assert used.isdisjoint(F.PERSONAL_COLUMNS)
    assert "owner_gender" not in " ".join(FEATURE_NAMES)


def test_every_more_is_better_input_is_constrained_upward():
    by_name = dict(zip(FEATURE_NAMES, MONOTONIC_CST, strict=True))
    for name in ("has_nib", "has_website", "trade_fairs_last_3y", "foreign_buyer_contacts"):
        assert by_name[name] == 1
    for cert in F.CERTIFICATIONS:
        assert by_name[f"certifications:{cert}"] == 1
    assert by_name["year_established"] == -1
    assert all(f.monotone == 0 for f in FEATURES if f.group in ("sector", "legal_form"))


def test_lookup_tables_reproduce_sklearn_probabilities_exactly(registry):
    model = load_model(*registry)
    X = encode_features(random_profiles(2000, seed=99))
    ours = model.predict_proba(X)
    theirs = model.estimator.predict_proba(X)[:, 1]
    assert np.max(np.abs(ours - theirs)) < 1e-12


@pytest.mark.parametrize("rows", [1, 2, 95, 96, 97, 3000, 9000])
def test_all_features_are_looked_up_as_each_table_looks_up_its_own(registry, rows):
    """Few rows are looked up in one set of arrays, many table kind by table kind: both
    give each table's own ``lookup`` to the bit, row-major, with missing values, values
    on a threshold and values beyond the last."""
    additive = load_model(*registry).additive
    X = encode_features(random_profiles(rows, seed=rows))
    rng = np.random.default_rng(rows)
    for j, table in enumerate(additive.tables):
        if table.thresholds.size:
            picks = rng.integers(0, rows, size=max(1, rows // 4))
            X[picks, j] = rng.choice(
                np.append(table.thresholds, table.thresholds[-1] + 1), picks.size
            )
        X[rng.integers(0, rows, size=max(1, rows // 10)), j] = np.nan
    expected = np.column_stack([t.lookup(X[:, j]) for j, t in enumerate(additive.tables)])
    got = additive.contributions(X)
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(got.sum(axis=1), expected.sum(axis=1))
    by_feature = additive.contributions_by_feature(X)
    assert by_feature.flags.c_contiguous
    np.testing.assert_array_equal(by_feature, expected.T)
    subset = np.array([0, 5, len(additive.tables) - 1])
    np.testing.assert_array_equal(
        additive.contributions(X[:, subset], features=subset), expected[:, subset]
    )


def test_missing_optional_numbers_are_scored_like_sklearn(registry):
    model = load_model(*registry)
    profiles = random_profiles(200, seed=3)
    profiles["monthly_capacity_units"] = np.nan
    profiles["capacity_utilization"] = np.nan
    X = encode_features(profiles)
    assert np.max(np.abs(model.predict_proba(X) - model.estimator.predict_proba(X)[:, 1])) < 1e-12


def test_probability_never_falls_when_a_more_is_better_input_rises(registry):
    model = load_model(*registry)
    profiles = random_profiles(500, seed=21)
    X = encode_features(profiles)
    before = model.predict_proba(X)
    for j, constraint in enumerate(MONOTONIC_CST):
        if constraint == 0:
            continue
        raised = X.copy()
        raised[:, j] = np.nan_to_num(raised[:, j]) + (1 if constraint > 0 else -1)
        if FEATURE_NAMES[j].startswith("certifications:") or FEATURE_NAMES[j].startswith("has_"):
            raised[:, j] = 1.0
        after = model.predict_proba(raised)
        assert np.all(after >= before - 1e-12), FEATURE_NAMES[j]


def test_training_is_deterministic_for_a_seed(trained):
    profiles = random_profiles(3000, seed=11)
    again = train(profiles, random_labels(profiles, seed=11), seed=5)
    X = encode_features(random_profiles(300, seed=1))
    first = trained.bundle["estimator"].predict_proba(X)[:, 1]
    second = again.bundle["estimator"].predict_proba(X)[:, 1]
    assert np.array_equal(first, second)
    assert (
        again.manifest["training_data"]["fingerprint"]
        == trained.manifest["training_data"]["fingerprint"]
    )


def test_manifest_records_hash_versions_metrics_and_features(registry):
    models_dir, version = registry
    manifest = json.loads((models_dir / version / "manifest.json").read_text())
    assert manifest["version"] == version
    assert version.endswith(manifest["sha256"][:10])
    assert manifest["libraries"]["scikit-learn"] == sklearn.__version__
    assert manifest["features"] == list(FEATURE_NAMES)
    assert manifest["monotonic_cst"] == list(MONOTONIC_CST)
    assert set(manifest["metrics"]) == {"model", "baseline_logistic"}
    assert len(manifest["metrics"]["model"]["calibration"]) == 10
    assert manifest["split"] == {"test_size": 0.2, "train_rows": 2400, "test_rows": 600}
    assert (models_dir / ACTIVE_NAME).read_text().strip() == version


def _flip_a_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_tampered_artifact_is_refused_before_unpickling(registry):
    models_dir, version = registry
    _flip_a_byte(models_dir / version / "model.joblib")
    with pytest.raises(ModelArtifactError, match="does not match its manifest") as info:
        load_model(models_dir)
    assert "sme-export train" in str(info.value)


def test_truncated_artifact_is_refused(registry):
    models_dir, version = registry
    artifact = models_dir / version / "model.joblib"
    artifact.write_bytes(artifact.read_bytes()[:1000])
    with pytest.raises(ModelArtifactError, match="does not match its manifest"):
        load_model(models_dir)


def test_artifact_from_another_sklearn_version_is_refused(registry):
    models_dir, version = registry
    path = models_dir / version / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["libraries"]["scikit-learn"] = "0.24.2"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelArtifactError, match=r"trained with scikit-learn 0\.24\.2 but"):
        load_model(models_dir)


def test_missing_active_pointer_and_unknown_version_are_clear(tmp_path, registry):
    with pytest.raises(ModelNotFoundError, match="no active model"):
        load_model(tmp_path / "empty")
    models_dir, _ = registry
    with pytest.raises(ModelNotFoundError, match="no manifest"):
        load_model(models_dir, "19990101-0000000000")
    with pytest.raises(ModelNotFoundError, match="not a model version"):
        load_model(models_dir, "../../etc")


def test_activate_refuses_an_unknown_version(registry):
    models_dir, version = registry
    with pytest.raises(ModelNotFoundError):
        activate_version(models_dir, "20000101-abcdef0123")
    assert (models_dir / ACTIVE_NAME).read_text().strip() == version


def test_training_refuses_data_with_too_few_of_one_outcome():
    profiles = random_profiles(100, seed=2)
    labels = np.zeros(100, dtype=bool)
    labels[:5] = True
    with pytest.raises(TrainingDataError, match="got 5 and 95"):
        train(profiles, labels)


SCORE_WITHOUT_SKLEARN = """
import pickle, sys
scorer, profiles = pickle.load(open(sys.argv[1], "rb"))
frame = scorer.score(profiles, scored_at="2026-11-28T10:00:00Z").to_frame()
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "sklearn")
pickle.dump((frame, loaded), open(sys.argv[2], "wb"))
"""


def test_a_portable_scorer_scores_identically_in_a_process_without_scikit_learn(scorer, tmp_path):
    profiles = random_profiles(700, seed=8)
    expected = scorer.score(profiles, scored_at="2026-11-28T10:00:00Z").to_frame()
    portable = scorer.portable()
    assert portable.model.estimator is None and scorer.model.estimator is not None
    sent, back = tmp_path / "sent.pkl", tmp_path / "back.pkl"
    sent.write_bytes(pickle.dumps((portable, profiles)))
    subprocess.run([sys.executable, "-c", SCORE_WITHOUT_SKLEARN, sent, back], check=True)
    frame, loaded = pickle.loads(back.read_bytes())
    assert loaded == []
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert len(pickle.dumps(portable)) < len(pickle.dumps(scorer)) / 2


# --- the scoring tables (tables.npz): a model loaded without scikit-learn ---------------------


def test_a_saved_version_holds_its_scoring_tables_with_their_hash(registry):
    import hashlib

    models_dir, version = registry
    manifest = json.loads((models_dir / version / "manifest.json").read_text())
    tables = models_dir / version / "tables.npz"
    assert manifest["tables"] == "tables.npz"
    assert manifest["tables_sha256"] == hashlib.sha256(tables.read_bytes()).hexdigest()
    with np.load(tables, allow_pickle=False) as stored:  # plain arrays, nothing pickled
        assert stored["features"].tolist() == list(FEATURE_NAMES)


def test_the_tables_score_exactly_as_the_estimators_tables(registry):
    models_dir, _ = registry
    full = load_model(models_dir)
    slim = load_model(models_dir, estimator=False)
    assert slim.estimator is None and slim.baseline is None
    assert slim.version == full.version and slim.manifest == full.manifest
    X = encode_features(random_profiles(3000, seed=7))
    assert np.array_equal(slim.predict_proba(X), full.predict_proba(X))
    assert np.array_equal(slim.additive.contributions(X), full.additive.contributions(X))
    assert np.array_equal(slim.reference, full.reference)
    assert np.array_equal(
        slim.group_contributions(slim.additive.contributions(X)),
        full.group_contributions(full.additive.contributions(X)),
    )


def test_scoring_tables_load_without_importing_scikit_learn(registry):
    models_dir, _ = registry
    code = (
        "import sys\n"
        "from scoring.model.additive import load_model\n"
        f"model = load_model({str(models_dir)!r}, estimator=False)\n"
        "print(model.estimator is None, 'sklearn' in sys.modules, 'joblib' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "False", "False"]


def test_changed_tables_are_refused_with_what_to_do(registry):
    models_dir, version = registry
    _flip_a_byte(models_dir / version / "tables.npz")
    with pytest.raises(ModelArtifactError, match=r"tables\.npz does not match") as info:
        load_model(models_dir, estimator=False)
    assert "sme-export train" in str(info.value)
    assert load_model(models_dir).estimator is not None  # the estimator's path does not read it


def test_a_changed_artifact_is_refused_even_when_only_the_tables_are_read(registry):
    models_dir, version = registry
    artifact = models_dir / version / "model.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"x")
    with pytest.raises(ModelArtifactError, match=r"model\.joblib does not match its manifest"):
        load_model(models_dir, estimator=False)


def _rewrite_tables(models_dir, version, **changes):
    """tables.npz with ``changes``, its hash in the manifest made to match."""
    import hashlib

    path = models_dir / version / "tables.npz"
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files} | changes
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    manifest_path = models_dir / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["tables_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    return arrays


def test_tables_that_miss_the_recorded_probabilities_fail_the_self_check(registry):
    models_dir, version = registry
    with np.load(models_dir / version / "tables.npz") as stored:
        intercept = float(stored["intercept"])
    _rewrite_tables(models_dir, version, intercept=np.array(intercept + 0.01))
    with pytest.raises(ModelArtifactError, match="fails its self-check"):
        load_model(models_dir, estimator=False)


def test_malformed_tables_are_refused(registry):
    models_dir, version = registry
    with np.load(models_dir / version / "tables.npz") as stored:
        counts = stored["threshold_counts"]
    _rewrite_tables(models_dir, version, threshold_counts=counts[:-1])
    with pytest.raises(ModelArtifactError, match=r"tables\.npz of .* is malformed"):
        load_model(models_dir, estimator=False)
    _rewrite_tables(models_dir, version, format=np.array(99))
    with pytest.raises(ModelArtifactError, match=r"cannot be read .*format 99"):
        load_model(models_dir, estimator=False)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("values", lambda a: a[:-1], r"tables\.npz of .* is malformed"),
        ("reference", lambda a: a[:-2], r"tables\.npz of .* is malformed"),
        ("sigmoid", lambda a: a[:1], r"tables\.npz of .* is malformed"),
        ("probe_X", lambda a: a[:, :-1], r"tables\.npz cannot be read"),
    ],
)
def test_tables_of_the_wrong_shape_are_refused_before_scoring(registry, name, change, message):
    """Whatever array is cut short, loading says what is wrong and what to do; nothing
    fails later, while scoring."""
    models_dir, version = registry
    with np.load(models_dir / version / "tables.npz") as stored:
        array = stored[name]
    _rewrite_tables(models_dir, version, **{name: change(array)})
    with pytest.raises(ModelArtifactError, match=message) as info:
        load_model(models_dir, estimator=False)
    assert "sme-export train" in str(info.value)


def test_a_version_without_tables_is_loaded_from_its_artifact(registry):
    models_dir, version = registry
    manifest_path = models_dir / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["tables"], manifest["tables_sha256"]  # a version saved before tables.npz
    manifest_path.write_text(json.dumps(manifest))
    (models_dir / version / "tables.npz").unlink()
    slim = load_model(models_dir, estimator=False)
    assert slim.estimator is None
    X = encode_features(random_profiles(500, seed=8))
    assert np.array_equal(slim.predict_proba(X), load_model(models_dir).predict_proba(X))


@pytest.mark.parametrize("k", [3, 8, 9, 16, 57, 64, 127, 128, 129])
@pytest.mark.parametrize("n", [1, 2, 7, 96, 1000])
def test_column_sums_equal_numpys_row_sums_to_the_bit(n, k):
    """Values of wildly different sizes, so that any other order of addition would round
    differently somewhere."""
    from scoring.model.additive import column_sums

    rng = np.random.default_rng(n * 1000 + k)
    rows = rng.standard_normal((n, k)) * np.exp(rng.uniform(-30, 30, (n, k)))
    by_feature = np.ascontiguousarray(rows.T)
    assert column_sums(by_feature).tobytes() == rows.sum(axis=1).tobytes()
    orders = rows.sum(axis=1) - np.array([sum(row.tolist()) for row in rows])
    if n >= 96 and k >= 57:  # the test data does tell orders of addition apart
        assert np.any(orders != 0)
