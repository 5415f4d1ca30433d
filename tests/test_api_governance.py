"""Governance over HTTP: model versions, promotion guard, rollback, atomic activation in a
running service, ruleset diff and impact, model card, fairness and drift.

Every app works on its own copy of models/ (``api_fixtures``), never on models/ACTIVE.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from governance_helpers import SHIPPED, clone_version, comparison

from api import store
from api.cli import main as cli
from api.db import get_session
from scoring.files.atomic import write_atomically
from scoring.rules import registry as ruleset_registry

pytest_plugins = ["api_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULESET = ROOT / "scoring" / "rulesets" / "default.yaml"
TRAINING_DATA = ROOT / "data" / "training.parquet"
WORSE = comparison(against=SHIPPED, candidate=(0.70, 0.16), active=(0.87, 0.11))


@pytest.fixture
def app(make_app):
    return make_app(SCORER_CHECK_SECONDS=0.0)


@pytest.fixture
def models(app) -> Path:
    return Path(app.config["MODELS_DIR"])


def _active(client, auth) -> str:
    return client.get("/api/v1/models/active", headers=auth("read")).get_json()["version"]


def _model_check(client) -> dict:
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["checks"]["model"]


def test_versions_are_listed_and_shown_to_admins_only(client, auth, models):
    worse = clone_version(models, "20261201-aaaaaaaaaa", comparison=WORSE)
    assert client.get("/api/v1/models", headers=auth("read")).status_code == 403
    listing = client.get("/api/v1/models", headers=auth("admin")).get_json()
    assert {(v["version"], v["active"]) for v in listing["items"]} == {
        (SHIPPED, True),
        (worse, False),
    }
    shown = client.get(f"/api/v1/models/{worse}", headers=auth("admin")).get_json()
    assert shown["comparison"]["against"] == SHIPPED and shown["active"] is False
    missing = client.get("/api/v1/models/19990101-0000000000", headers=auth("admin"))
    assert missing.status_code == 404


def test_promotion_guard_refuses_a_worse_model_and_a_forced_one_is_audited(
    app, client, auth, models
):
    worse = clone_version(models, "20261201-aaaaaaaaaa", comparison=WORSE)
    url = f"/api/v1/models/{worse}/promote"
    refused = client.post(url, json={}, headers=auth("admin"))
    assert refused.status_code == 409
    assert "discrimination" in refused.get_json()["detail"]
    no_reason = client.post(url, json={"force": True}, headers=auth("admin"))
    assert no_reason.status_code == 409 and "needs a reason" in no_reason.get_json()["detail"]
    assert _active(client, auth) == SHIPPED

    forced = client.post(
        url, json={"force": True, "reason": "pilot on real outcomes"}, headers=auth("admin")
    )
    assert forced.status_code == 200, forced.get_json()
    assert forced.get_json()["forced"] is True
    assert _active(client, auth) == worse  # the running service swapped it in
    with app.app_context():
        (event,) = [e for e in store.audit_events(get_session()) if e["action"] == "promote"]
    assert event["subject"] == worse and event["actor"].startswith("key:")
    assert event["details"]["reason"] == "pilot on real outcomes"
    assert event["details"]["forced"] is True and event["details"]["previous"] == SHIPPED


def test_rollback_restores_the_previous_model_and_never_changes_stored_scores(
    client, auth, models, profile
):
    headers = auth("admin")
    assert client.post("/api/v1/models/rollback", json={}, headers=headers).status_code == 409
    first = client.post("/api/v1/scores", json=profile, headers=headers).get_json()
    assert first["model_version"] == SHIPPED
    worse = clone_version(models, "20261201-aaaaaaaaaa", comparison=WORSE)
    client.post(
        f"/api/v1/models/{worse}/promote",
        json={"force": True, "reason": "pilot on real outcomes"},
        headers=headers,
    )
    second = client.post("/api/v1/scores", json=profile, headers=headers).get_json()
    assert second["model_version"] == worse
    history_url = f"/api/v1/smes/{profile['sme_id']}/scores"
    before = client.get(history_url, headers=headers).get_json()

    rolled = client.post("/api/v1/models/rollback", json={"reason": "undo"}, headers=headers)
    assert rolled.status_code == 200
    assert rolled.get_json()["version"] == SHIPPED
    assert _active(client, auth) == SHIPPED
    after = client.get(history_url, headers=headers).get_json()
    assert after == before
    assert [s["model_version"] for s in _scores(after)] == [SHIPPED, worse]


def _scores(history) -> list[dict]:
    return history["scores"] if isinstance(history, dict) else history


def test_a_half_written_active_pointer_is_never_served(client, auth, models, profile):
    assert _model_check(client)["detail"] == f"version {SHIPPED}"
    (models / "ACTIVE").write_text(SHIPPED[:11])  # a writer that died mid-write
    check = _model_check(client)
    assert check["ok"] is True
    assert check["detail"].startswith(f"version {SHIPPED}; the newly activated model")
    scored = client.post(
        "/api/v1/scores?dry_run=true", json=profile, headers=auth("score", "personal")
    )
    assert scored.get_json()["model_version"] == SHIPPED
    (models / "ACTIVE").write_text("")
    assert _model_check(client)["detail"].startswith(f"version {SHIPPED}; the newly activated")


@pytest.mark.parametrize("damage", ["truncated artifact", "tampered manifest"])
def test_a_broken_new_version_is_refused_and_the_old_one_keeps_serving(
    client, auth, models, damage
):
    name = clone_version(models, "20261201-bbbbbbbbbb")
    if damage == "truncated artifact":
        artifact = models / name / "model.joblib"
        artifact.write_bytes(artifact.read_bytes()[:5000])
        expected = "does not match its manifest"
    else:
        path = models / name / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["sha256"] = "0" * 64
        path.write_text(json.dumps(manifest))
        expected = "does not match its manifest"
    write_atomically(models / "ACTIVE", name + "\n")
    check = _model_check(client)
    assert check["detail"].startswith(f"version {SHIPPED}; the newly activated model")
    assert expected in check["detail"] and str(models / name) in check["detail"]
    assert _active(client, auth) == SHIPPED


def test_a_valid_new_activation_is_loaded_before_it_replaces_the_old(client, auth, models):
    name = clone_version(models, "20261201-cccccccccc")
    write_atomically(models / "ACTIVE", name + "\n")
    assert _model_check(client)["detail"] == f"version {name}"
    assert _active(client, auth) == name


def test_a_corrupt_model_at_start_keeps_the_service_unready_naming_the_file(make_app, tmp_path):
    app = make_app(SCORER=None)
    models = Path(app.config["MODELS_DIR"])
    artifact = models / SHIPPED / "model.joblib"
    artifact.write_bytes(artifact.read_bytes()[:5000])
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    detail = response.get_json()["checks"]["model"]["detail"]
    assert str(artifact) in detail and "sme-export train" in detail


def _stricter_ruleset(directory: Path, tmp_path: Path) -> str:
    data = yaml.safe_load(DEFAULT_RULESET.read_text(encoding="utf-8"))
    data["version"] = "2026.12.1"
    for criterion in data["criteria"]:
        if criterion["id"] == "digital.website":
            criterion["knockout"] = True
    path = tmp_path / "stricter.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return ruleset_registry.register(directory, path).version_string


def _store_website_pair(client, auth, profile) -> None:
    """Two strong SMEs in cohort c1, alike but for a website: only NOWEB-1 would change tier
    under ``_stricter_ruleset``."""
    strong = copy.deepcopy(profile)
    strong.update(
        has_exported=True,
        export_years=3,
        export_value_usd_last_year=40_000.0,
        export_markets=["AU"],
        foreign_buyer_contacts=5,
        trade_fairs_last_3y=3,
        certifications=["SNI", "OEKOTEX"],
        can_supply_continuously=True,
        trademark_registered=True,
        export_packaging=True,
        knows_incoterms=True,
        has_logistics_partner=True,
        on_b2b_marketplace=True,
    )
    records = []
    for sme_id, website in (("WEB-1", True), ("NOWEB-1", False)):
        records.append({**strong, "sme_id": sme_id, "has_website": website})
    stored = client.post("/api/v1/batches?cohort=c1", json=records, headers=auth("admin"))
    assert stored.status_code in (200, 201), stored.get_json()


def test_ruleset_diff_and_impact_preview_on_a_stored_cohort(app, client, auth, profile, tmp_path):
    version = _stricter_ruleset(Path(app.config["RULESETS_DIR"]), tmp_path)
    _store_website_pair(client, auth, profile)
    assert client.get("/api/v1/rulesets", headers=auth("admin")).status_code == 200

    diff = client.get(
        "/api/v1/rulesets/diff",
        query_string={"old": "default", "new": version},
        headers=auth("admin"),
    ).get_json()
    assert [c["id"] for c in diff["changed"]] == ["digital.website"]
    impact = client.get(
        "/api/v1/rulesets/impact?ruleset=2026.12.1&cohort=c1", headers=auth("admin")
    )
    assert impact.status_code == 200, impact.get_json()
    assert [c["sme_id"] for c in impact.get_json()["changes"]] == ["NOWEB-1"]
    missing = client.get("/api/v1/rulesets/impact?ruleset=9.9&cohort=c1", headers=auth("admin"))
    assert missing.status_code == 404
    path_like = client.get("/api/v1/rulesets/diff?old=default&new=setup.cfg", headers=auth("admin"))
    assert path_like.status_code == 404


def test_impact_and_drift_commands_read_the_services_database(
    app, client, auth, profile, tmp_path, monkeypatch
):
    version = _stricter_ruleset(Path(app.config["RULESETS_DIR"]), tmp_path)
    _store_website_pair(client, auth, profile)
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    dirs = ["--rulesets-dir", app.config["RULESETS_DIR"], "--models-dir", app.config["MODELS_DIR"]]
    runner = CliRunner()

    impact = runner.invoke(cli, ["ruleset", "impact", version, "--cohort", "c1", *dirs, "--json"])
    assert impact.exit_code == 0, impact.output
    report = json.loads(impact.stdout)
    assert (report["profiles"], report["changed"]) == (2, 1)
    assert [c["sme_id"] for c in report["changes"]] == ["NOWEB-1"]
    unknown = runner.invoke(cli, ["ruleset", "impact", version, "--cohort", "c9", *dirs])
    assert unknown.exit_code != 0 and "c9: no such file or cohort" in unknown.stderr

    drift = runner.invoke(cli, ["drift", "--days", "7", "--models-dir", dirs[3], "--json"])
    assert drift.exit_code == 0, drift.output
    assert json.loads(drift.stdout)["recent_rows"] == 2  # the two SMEs stored above


def test_model_card_on_the_training_data_recomputes_the_held_out_figures(make_app, make_key):
    app = make_app(TRAINING_DATA_PATH=str(TRAINING_DATA))
    headers = {"X-API-Key": make_key(app, "read")}
    card = app.test_client().get("/api/v1/models/active/card", headers=headers)
    assert card.status_code == 200, card.get_json()
    card = card.get_json()
    assert card["version"] == SHIPPED
    assert card["training_data"]["synthetic"] is True
    assert card["training_data"]["origin"] == "synthetic"
    assert card["limitations"][0].startswith("Trained on SYNTHETIC data")
    interval = card["metrics"]["roc_auc_interval"]
    assert interval["method"] == "bootstrap"
    assert interval["ci_low"] < interval["estimate"] < interval["ci_high"]
    assert interval["estimate"] == card["metrics"]["held_out"]["roc_auc"]
    assert card["roc_curve"][0] == {"fpr": 0.0, "tpr": 0.0}
    assert sum(b["count"] for b in card["score_distribution"]) == 6000
    assert len(card["calibration"]) == 10
    assert {c["feature"] for c in card["monotonic_constraints"]} >= {"has_nib", "has_website"}
    assert all(e["feature"] != "owner_gender" for e in card["feature_effects"])


def test_card_without_the_training_data_fairness_and_drift(client, auth, profile):
    card = client.get("/api/v1/models/active/card", headers=auth("read")).get_json()
    assert card["roc_curve"] is None  # other data than the model's: no held-out rows
    assert card["metrics"]["roc_auc_interval"]["method"] == "Hanley-McNeil standard error"
    assert len(card["calibration"]) == 10  # from the manifest
    assert card["drift"] is None  # nothing scored yet

    fairness = client.get("/api/v1/fairness", headers=auth("admin")).get_json()
    assert fairness["rows"] == 2000
    genders = {g["group"] for g in fairness["attributes"]["owner_gender"]["groups"]}
    assert genders == {"female", "male", "undisclosed"}
    assert 0.3 < fairness["proxy"]["inputs_predict_gender_auc"] < 0.8

    assert client.get("/api/v1/drift", headers=auth("admin")).status_code == 404
    client.post("/api/v1/scores", json=profile, headers=auth("score", "personal"))
    drift = client.get("/api/v1/drift", headers=auth("admin")).get_json()
    assert drift["recent_rows"] == 1 and drift["status"] == "act"
    card = client.get("/api/v1/models/active/card", headers=auth("read")).get_json()
    assert card["drift"]["status"] == "act"
    assert any(w.startswith("drift: ") for w in card["warnings"])
    assert client.get("/readyz").status_code == 200  # drift never makes the service unready


def test_a_new_ruleset_activation_is_swapped_in_and_a_broken_one_is_not(app, client, tmp_path):
    directory = Path(app.config["RULESETS_DIR"])
    version = _stricter_ruleset(directory, tmp_path)
    assert (
        client.get("/readyz")
        .get_json()["checks"]["ruleset"]["detail"]
        .startswith("version 2026.11.3+")
    )
    write_atomically(directory / "ACTIVE", version + "\n")
    assert client.get("/readyz").get_json()["checks"]["ruleset"]["detail"] == f"version {version}"
    (directory / "ACTIVE").write_text("2026.13")  # half-written: names no registered file
    check = client.get("/readyz").get_json()["checks"]["ruleset"]
    assert check["ok"] is True
    assert check["detail"].startswith(f"version {version}; the newly activated ruleset")
    assert "the active ruleset file is missing" in check["detail"]
