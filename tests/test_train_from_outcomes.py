"""Retraining on the office's own outcomes, end to end on PostgreSQL: a synthetic cohort
scored and stored with personal fields, support decisions recorded, follow-ups imported
from an office file (some decisions left censored), then ``sme-export train
--from-outcomes``: the training table, the manifest, the comparison with the active model,
the promotion guard, the model card and the registry listing; and a mixed run that adds
synthetic rows from a file.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from governance_helpers import SHIPPED, copy_models
from test_outcomes_cli import (
    PERSONAL,
    database,
    outcome_plan,
    record_decisions,
    store_cohort,
    write_followups,
)
from web_helpers import create_user, log_in

from api import store
from api.cli import main
from api.cli.common import EXIT_INPUT
from api.db import make_engine
from api.migrate import upgrade
from api.services.outcomes import training_frame, training_from_outcomes
from scoring.audit.modelcard import OUTCOMES_LIMITATION, SYNTHETIC_LIMITATION, model_card
from scoring.contract import fields as F
from scoring.engine import Scorer
from scoring.model import synth
from scoring.model.additive import active_version, load_model
from scoring.model.registry import list_versions

pytest_plugins = ["db_fixtures", "api_fixtures", "web_fixtures"]

#: Two folds, one repeat: enough to exercise the evaluation, quick on two slow cores.
CV = ("--cv-folds", "2", "--cv-repeats", "1")
COHORT_SIZE = 120
SYNTHETIC_ROWS = 200
REASON = "trial of the office's own outcomes beside the synthetic data"


def _manifest(models, version) -> dict:
    return json.loads((models / version / "manifest.json").read_text())


def _new_version(models, before: set[str]) -> str:
    (version,) = {p.name for p in models.iterdir() if p.is_dir()} - before - {".staging"}
    return version


def _versions(models) -> set[str]:
    return {p.name for p in models.iterdir() if p.is_dir()}


@pytest.fixture(scope="module")
def office(tmp_path_factory, postgres_database, scorer):
    """A PostgreSQL database with a scored cohort of 120 SMEs, a decision about each, and
    follow-ups imported from a file through ``sme-export outcomes import``."""
    root = tmp_path_factory.mktemp("office")
    frame = synth.generate_profiles(COHORT_SIZE, seed=11)
    with postgres_database("sme_retrain") as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        url = url.render_as_string(hide_password=False)
        store_cohort(url, frame, scorer=scorer)
        decisions, rows, known = outcome_plan(frame)
        record_decisions(url, decisions)
        runner = CliRunner()
        env = {"DATABASE_URL": url}
        imported = runner.invoke(
            main,
            ["outcomes", "import", str(write_followups(root / "followups.csv", rows))],
            env=env,
        )
        assert imported.exit_code == 0, imported.output
        assert imported.stdout.strip() == f"received {len(rows)}, stored {len(rows)}, " + (
            "already recorded 0, rejected 0"
        )
        yield {
            "url": url,
            "env": env,
            "root": root,
            "frame": frame,
            "decisions": decisions,
            "known": known,
            "runner": runner,
        }


@pytest.fixture(scope="module")
def first_run(office):
    """``train --from-outcomes --activate`` on a copy of the shipped models folder."""
    models = copy_models(office["root"] / "models")
    before = _versions(models)
    result = office["runner"].invoke(
        main,
        ["train", "--from-outcomes", "--models-dir", str(models), "--activate", *CV],
        env=office["env"],
    )
    return {"models": models, "result": result, "version": _new_version(models, before)}


def test_training_table_has_one_row_per_known_outcome_and_no_personal_field(office):
    with database(office["url"]) as session:
        training = training_from_outcomes(session)
    frame = training_frame(training)
    known = office["known"]
    assert training.rows == len(known)
    assert training.censored == len(office["decisions"]) - len(known)
    assert training.invalid == []
    assert list(frame.columns) == [*F.PROFILE_COLUMNS, F.LABEL]
    assert not set(frame.columns) & set(F.PERSONAL_COLUMNS)
    # Rows are named by decision, never by the SME, and hold no personal value.
    assert all(name.startswith("d") for name in frame["sme_id"])
    assert not set(frame["sme_id"]) & set(office["frame"]["sme_id"])
    text = frame.astype(str).to_csv()
    assert "Rahasia" not in text and "rahasia" not in text and "0812-555" not in text
    assert PERSONAL["district"] not in text
    assert int(frame[F.LABEL].sum()) == sum(label for label, _ in known.values())


def test_manifest_counts_the_real_outcomes_and_their_period(office, first_run):
    known = office["known"]
    training = _manifest(first_run["models"], first_run["version"])["training_data"]
    days = [day for _, day in known.values()]
    assert training["origin"] == "real outcomes"
    assert training["synthetic"] is False
    assert training["real_outcomes"] == training["rows"] == len(known)
    assert training["synthetic_rows"] == 0
    assert training["positives"] == sum(label for label, _ in known.values())
    assert training["outcome_period"] == {
        "from": min(days).isoformat(),
        "until": max(days).isoformat(),
    }
    assert training["source"] == "stored outcomes"


def test_manifest_records_what_was_left_out_and_no_personal_data(office, first_run):
    manifest = _manifest(first_run["models"], first_run["version"])
    censored = len(office["decisions"]) - len(office["known"])
    assert manifest["outcomes"]["censored_left_out"] == censored
    assert manifest["outcomes"]["invalid_left_out"] == 0
    assert manifest["outcomes"]["decisions"] == len(office["decisions"])
    text = json.dumps(manifest)
    assert "Rahasia" not in text and "rahasia" not in text
    assert not any(sme_id in text for sme_id in office["frame"]["sme_id"])


def test_train_prints_the_censored_count_and_compares_with_the_active_model(office, first_run):
    stdout = first_run["result"].stdout
    known = len(office["known"])
    censored = len(office["decisions"]) - known
    assert (
        f"stored outcomes: {known} known outcome(s) of {len(office['decisions'])} decision(s), "
        "decided 2024-01-"
    ) in stdout
    assert f"; {censored} censored decision(s) left out (outcome not known yet)" in stdout
    assert f"training data: real outcomes: {known} (2024-01-" in stdout
    assert "evaluation (repeated stratified k-fold cross-validation, 2 folds x 1 repeats" in stdout
    assert f"comparison with active {SHIPPED} on the same {known} rows" in stdout
    comparison = _manifest(first_run["models"], first_run["version"])["comparison"]
    assert comparison["against"] == SHIPPED and comparison["rows"] == known


def test_activate_goes_through_the_promotion_guard(first_run):
    """90 rows fit a weak candidate: the guard refuses it, and it stays registered."""
    models, version = first_run["models"], first_run["version"]
    result = first_run["result"]
    assert _manifest(models, version)["comparison"]["guard"]
    assert result.exit_code == EXIT_INPUT
    assert f"error: promotion of {version} refused: " in result.stderr
    assert "to promote anyway use --force with --reason" in result.stderr
    assert active_version(models) == SHIPPED
    assert version in {v["version"] for v in list_versions(models)}


def test_model_card_and_listing_say_real_outcomes_with_count_and_period(office, first_run, ruleset):
    models, version = first_run["models"], first_run["version"]
    known = len(office["known"])
    card = model_card(load_model(models, version), ruleset=ruleset)
    data = card["training_data"]
    assert data["origin"] == "real outcomes" and data["synthetic"] is False
    assert data["real_outcomes"] == known
    period = data["outcome_period"]
    assert data["origin_text"] == (
        f"real outcomes: {known} ({period['from']} to {period['until']})"
    )
    assert SYNTHETIC_LIMITATION not in card["limitations"]
    assert card["limitations"][0] == OUTCOMES_LIMITATION.format(
        period=f" ({period['from']} to {period['until']})"
    )
    (listed,) = [v for v in list_versions(models) if v["version"] == version]
    assert (listed["origin"], listed["synthetic"], listed["real_outcomes"]) == (
        "real outcomes",
        False,
        known,
    )
    (shipped,) = [v for v in list_versions(models) if v["version"] == SHIPPED]
    assert (shipped["origin"], shipped["synthetic"], shipped["synthetic_rows"]) == (
        "synthetic",
        True,
        30_000,
    )


@pytest.fixture(scope="module")
def mixed_run(office, first_run):
    """``train --from-outcomes --data synthetic.parquet --synthetic --activate --force``."""
    models = first_run["models"]
    data = office["root"] / "synthetic.parquet"
    synth.generate_profiles(SYNTHETIC_ROWS, seed=5).to_parquet(data)
    before = _versions(models)
    result = office["runner"].invoke(
        main,
        [
            *("train", "--from-outcomes", "--data", str(data), "--synthetic"),
            *("--models-dir", str(models), "--activate", "--force", "--reason", REASON, *CV),
        ],
        env=office["env"],
    )
    return {"models": models, "result": result, "version": _new_version(models, before)}


def test_mixed_run_says_how_many_rows_of_each_kind(office, mixed_run, ruleset):
    models, version, result = mixed_run["models"], mixed_run["version"], mixed_run["result"]
    assert result.exit_code == 0, result.output
    training = _manifest(models, version)["training_data"]
    known = len(office["known"])
    period = training["outcome_period"]
    assert training["origin"] == "mixed"
    assert training["synthetic"] is True  # readers that know only this key still warn
    assert (training["real_outcomes"], training["synthetic_rows"], training["rows"]) == (
        known,
        SYNTHETIC_ROWS,
        known + SYNTHETIC_ROWS,
    )
    assert training["source"] == "stored outcomes + synthetic.parquet"
    mix = (
        f"mixed: {known} real outcomes ({period['from']} to {period['until']}) + "
        f"{SYNTHETIC_ROWS} synthetic rows"
    )
    assert f"training data: {mix}" in result.stdout
    assert active_version(models) == version
    card = model_card(load_model(models, version), ruleset=ruleset)
    assert card["training_data"]["origin_text"] == mix
    assert card["limitations"][0].startswith(f"Trained on {known} real outcomes (")
    assert SYNTHETIC_LIMITATION not in card["limitations"]
    (listed,) = [v for v in list_versions(models) if v["version"] == version]
    assert listed["origin"] == "mixed" and listed["origin_text"] == mix


def test_governance_pages_show_the_origin(office, first_run, mixed_run, make_web_app, ruleset):
    models, real, mixed = first_run["models"], first_run["version"], mixed_run["version"]
    known = len(office["known"])
    period = _manifest(models, real)["training_data"]["outcome_period"]
    pages = {}
    for version in (real, mixed):
        app = make_web_app(
            SCORER=Scorer(ruleset, load_model(models, version)), MODELS_DIR=str(models)
        )
        create_user(app, "admin", "admin", language="en")
        create_user(app, "kepala", "admin", language="id")
        english, indonesian = app.test_client(), app.test_client()
        assert log_in(english, "admin").status_code == 302
        assert log_in(indonesian, "kepala").status_code == 302
        pages[version] = english.get("/model-card").get_data(as_text=True)
        pages["models"] = indonesian.get("/models").get_data(as_text=True)
    when = f"from {period['from']} to {period['until']}"
    assert 'data-origin="real outcomes"' in pages[real]
    assert f"{known} real outcomes of support decisions made {when}." in pages[real]
    assert "SYNTHETIC data" not in pages[real] and "MIXED data" not in pages[real]
    assert 'data-origin="mixed"' in pages[mixed] and "MIXED data" in pages[mixed]
    assert (
        f"{known} real outcomes (decisions {when}) + {SYNTHETIC_ROWS} synthetic rows."
        in pages[mixed]
    )
    listing = pages["models"]
    assert f"{known + SYNTHETIC_ROWS} ({known} hasil nyata + {SYNTHETIC_ROWS} baris sintetis)" in (
        listing
    )
    assert f"{known} (hasil nyata)" in listing and "30000 (Data SINTETIS)" in listing
    assert "retraining." not in listing and "retraining." not in pages[mixed]


def test_training_is_in_the_processing_log(office, first_run):
    with database(office["url"]) as session:
        events = [e for e in store.audit_events(session) if e["action"] == "model.train"]
    event = next(e for e in events if e["subject"] == first_run["version"])
    known = len(office["known"])
    assert event["actor"] == "cli:train"
    assert event["details"] == {
        "origin": "real outcomes",
        "rows": known,
        "real_outcomes": known,
        "synthetic_rows": 0,
        "censored_left_out": len(office["decisions"]) - known,
        "invalid_left_out": 0,
    }
