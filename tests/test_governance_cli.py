"""Retraining on a small labelled office file, then the registry commands end to end:
the warning, the comparison, the promotion guard, a forced promotion whose reason reaches
the history and the service's audit log, and a rollback."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from governance_helpers import SHIPPED, copy_models

from api.cli import main
from api.db import make_engine, make_sessionmaker, sqlite_url
from scoring.model import synth
from scoring.model.additive import active_version
from scoring.model.registry import history

LIST_COLUMNS = ("certifications", "export_markets", "target_markets")
#: One pass of 3-fold cross-validation keeps the test fast; the default is 5 folds x 5.
CV = ("--cv-folds", "3", "--cv-repeats", "1")


def _office_csv(frame: pd.DataFrame, path) -> None:
    """Written the way an Indonesian office's spreadsheet exports it: `;`, Ya/Tidak, lists
    joined with `, `, decimal commas."""
    out = frame.copy()
    for name in LIST_COLUMNS:
        out[name] = [", ".join(items) for items in out[name]]
    for name in out.columns:
        if out[name].dtype == bool:
            out[name] = np.where(out[name], "Ya", "Tidak")
    for name in out.columns:
        if out[name].dtype.kind == "f" or str(out[name].dtype) == "Int64":
            whole = name == "monthly_capacity_units"
            out[name] = [
                "" if pd.isna(v) else str(int(v)) if whole else f"{v:.2f}".replace(".", ",")
                for v in out[name]
            ]
    out.to_csv(path, sep=";", index=False, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A models folder where a candidate was trained on 150 labelled office rows."""
    root = tmp_path_factory.mktemp("retrain")
    models = copy_models(root / "models")
    data = root / "outcomes.csv"
    _office_csv(synth.generate_profiles(150, seed=7), data)
    database = root / "service.db"
    runner = CliRunner()
    env = {"DATABASE_URL": sqlite_url(database)}
    upgraded = runner.invoke(main, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    result = runner.invoke(
        main,
        [*("train", "--data", str(data), "--models-dir", str(models)), *CV],
        env=env,
    )
    assert result.exit_code == 0, result.output
    candidate = next(p.name for p in models.iterdir() if p.is_dir() and p.name != SHIPPED)
    return {"models": models, "result": result, "candidate": candidate, "env": env, "db": database}


def test_small_file_warns_with_how_many_more_are_needed(trained):
    stderr = trained["result"].stderr
    assert "warning: only 150 labelled profiles" in stderr and "add 50 more" in stderr
    assert "more positives (at least 50 of each outcome)" in stderr


def test_candidate_is_cross_validated_and_compared_with_the_active_model(trained):
    stdout = trained["result"].stdout
    assert "evaluation (repeated stratified k-fold cross-validation, 3 folds x 1 repeats" in stdout
    assert f"comparison with active {SHIPPED} on the same 150 rows" in stdout
    manifest = json.loads((trained["models"] / trained["candidate"] / "manifest.json").read_text())
    assert manifest["comparison"]["against"] == SHIPPED
    assert manifest["comparison"]["rows"] == 150
    assert manifest["evaluation"]["folds"] == 3
    low, high = (
        manifest["evaluation"]["roc_auc"]["ci_low"],
        manifest["evaluation"]["roc_auc"]["ci_high"],
    )
    assert low <= manifest["evaluation"]["roc_auc"]["estimate"] <= high
    assert manifest["data_warnings"][0].startswith("only 150 labelled profiles")
    assert manifest["training_data"]["synthetic"] is False
    assert active_version(trained["models"]) == SHIPPED  # not activated without --activate


def test_guard_refuses_the_worse_candidate_then_a_forced_promotion_is_logged_and_rolled_back(
    trained,
):
    models, candidate, env = trained["models"], trained["candidate"], trained["env"]
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, [*args, "--models-dir", str(models)], env=env)

    listed = run("models", "list")
    assert f"* {SHIPPED}" in listed.stdout and f"  {candidate}" in listed.stdout
    refused = run("models", "promote", candidate)
    assert refused.exit_code == 1
    assert "refused" in refused.stderr and "--force" in refused.stderr
    no_reason = run("models", "promote", candidate, "--force")
    assert no_reason.exit_code == 1 and "needs a reason" in no_reason.stderr
    assert active_version(models) == SHIPPED

    forced = run("models", "promote", candidate, "--force", "--reason", "pilot on real outcomes")
    assert forced.exit_code == 0, forced.output
    assert active_version(models) == candidate
    (event,) = history(models)
    assert (event["forced"], event["reason"]) == (True, "pilot on real outcomes")
    engine = make_engine(sqlite_url(trained["db"]))
    try:
        from api import store

        with make_sessionmaker(engine)() as session:
            events = [e for e in store.audit_events(session) if e["action"] == "promote"]
    finally:
        engine.dispose()
    assert [(e["subject"], e["details"]["reason"]) for e in events] == [
        (candidate, "pilot on real outcomes")
    ]

    rolled = run("models", "rollback", "--reason", "back to the shipped model")
    assert rolled.exit_code == 0, rolled.output
    assert active_version(models) == SHIPPED
    assert [e["action"] for e in history(models)] == ["promote", "rollback"]


def test_fairness_and_drift_commands_on_small_files(tmp_path):
    reference = tmp_path / "reference.parquet"
    recent = tmp_path / "recent.parquet"
    synth.generate_profiles(300, seed=1).to_parquet(reference, index=False)
    # Recent SMEs nearly all trained: completed_export_training must drift.
    synth.generate_profiles(100, seed=2, trained_share=0.95).to_parquet(recent, index=False)
    runner = CliRunner()
    fairness = runner.invoke(main, ["fairness", "--data", str(reference), "--json"])
    assert fairness.exit_code == 0, fairness.output
    report = json.loads(fairness.stdout)
    assert report["rows"] == 300 and report["shortlisted"] == 60
    assert {g["group"] for g in report["attributes"]["owner_gender"]["groups"]} == {
        "female",
        "male",
        "undisclosed",
    }
    assert 0.3 < report["proxy"]["inputs_predict_gender_auc"] < 0.7
    drift = runner.invoke(
        main, ["drift", "--reference", str(reference), "--recent", str(recent), "--json"]
    )
    assert drift.exit_code == 0, drift.output
    report = json.loads(drift.stdout)
    by_name = {f["feature"]: f for f in report["features"]}
    assert by_name["completed_export_training"]["status"] == "act"
    assert report["status"] == "act" and report["recent_rows"] == 100
