"""The app factory, configuration, health, OpenAPI document, docs and the error envelope."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from flask import Flask
from openapi_spec_validator import validate as validate_openapi

from api import create_app
from api.config import ConfigError, ProductionConfig, load_config
from api.db import get_database
from api.http.errors import PROBLEM_JSON
from scoring.contract import fields as F

pytest_plugins = ["api_fixtures"]


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= set(body)
    return body


# --- configuration ----------------------------------------------------------------------


def test_production_config_refuses_to_start_without_its_environment(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SME_EXPORT_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="DATABASE_URL and SME_EXPORT_SECRET_KEY"):
        create_app("production")


def test_production_config_takes_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@db/sme")
    monkeypatch.setenv("SME_EXPORT_SECRET_KEY", "s3cret")
    config, overrides = load_config("production")
    assert isinstance(config, ProductionConfig)
    assert (config.DATABASE_URL, config.SECRET_KEY, config.AUTO_MIGRATE) == (
        "postgresql+psycopg://u:p@db/sme",
        "s3cret",
        False,
    )
    assert overrides == {}


def test_unknown_config_name_is_refused():
    with pytest.raises(ConfigError, match="unknown configuration 'staging'"):
        load_config("staging")


def test_default_config_creates_a_migrated_sqlite_database_in_the_instance_folder(
    tmp_path, monkeypatch, scorer
):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(tmp_path / "inst"))
    app = create_app({"SCORER": scorer})
    try:
        assert app.config["TESTING"] is False
        assert (tmp_path / "inst" / "sme_export.db").is_file()
        assert app.test_client().get("/readyz").get_json()["checks"]["database"]["ok"]
    finally:
        get_database(app).engine.dispose()


def test_limits_are_configurable(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 20 * 1024 * 1024
    assert app.config["BATCH_MAX_ROWS"] > 0
    assert app.config["PAGE_SIZE_MAX"] >= app.config["PAGE_SIZE_DEFAULT"]


# --- health ----------------------------------------------------------------------------


def test_healthz_needs_no_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_model_ruleset_and_database(client, scorer):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["model"] == {"ok": True, "detail": f"version {scorer.model.version}"}
    assert body["checks"]["ruleset"]["ok"] and body["checks"]["database"]["ok"]


@pytest.fixture
def broken_app(make_app, tmp_path):
    """An app whose models folder holds no model (and so cannot score)."""
    empty = tmp_path / "no-models"
    empty.mkdir()
    return make_app(SCORER=None, MODELS_DIR=str(empty))


def test_readyz_fails_with_the_reason_when_the_model_cannot_load(broken_app):
    body = assert_problem(broken_app.test_client().get("/readyz"), 503)
    assert body["checks"]["model"]["ok"] is False
    assert "no active model" in body["checks"]["model"]["detail"]
    assert body["checks"]["ruleset"]["ok"] is True
    assert body["checks"]["database"]["ok"] is True
    assert "model" in body["detail"]


def test_readyz_names_every_part_that_fails(make_app, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nversion: 1\n")
    app = make_app(SCORER=None, RULESET_PATH=str(bad), MODELS_DIR=str(tmp_path))
    body = assert_problem(app.test_client().get("/readyz"), 503)
    assert body["checks"]["ruleset"]["ok"] is False
    assert str(bad) in body["checks"]["ruleset"]["detail"]
    assert body["checks"]["model"]["ok"] is False
    assert body["detail"] == "Not ready: model, ruleset not usable."


def test_readyz_fails_when_the_database_is_not_migrated(make_app):
    app = make_app(AUTO_MIGRATE=False)
    body = assert_problem(app.test_client().get("/readyz"), 503)
    assert body["checks"]["database"]["ok"] is False
    assert "sme-export db upgrade" in body["checks"]["database"]["detail"]
    assert body["checks"]["model"]["ok"] is True
    assert body["detail"] == "Not ready: database not usable."


def test_scoring_answers_503_when_the_model_cannot_load(broken_app, profile, make_key):
    key = make_key(broken_app, "admin")
    client = broken_app.test_client()
    body = assert_problem(
        client.post("/api/v1/scores", json=profile, headers={"X-API-Key": key}), 503
    )
    assert "model cannot be loaded" in body["detail"]
    assert_problem(client.get("/api/v1/models/active", headers={"X-API-Key": key}), 503)


def test_the_scorer_is_loaded_lazily_once_per_process(make_app, monkeypatch, scorer):
    import api.services.scorer

    loads = []
    monkeypatch.setattr(
        api.services.scorer,
        "load_model",
        lambda d, **options: loads.append((d, options)) or scorer.model,
    )
    app = make_app(SCORER=None)
    assert loads == []  # nothing loaded by create_app (gunicorn workers load after the fork)
    with app.app_context():
        first = api.services.scorer.get_scorer()
        assert api.services.scorer.get_scorer() is first
    # only what scoring needs: the lookup tables, no scikit-learn estimator
    assert loads == [(Path(app.config["MODELS_DIR"]), {"estimator": False})]
    assert first.model is scorer.model


def test_a_failed_load_is_retried_after_the_configured_delay(make_app, monkeypatch, scorer):
    import api.services.scorer
    from scoring.errors import ModelNotFoundError

    outcomes = [ModelNotFoundError("no active model"), scorer.model]

    def load(models_dir, *, estimator):
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(api.services.scorer, "load_model", load)
    app = make_app(SCORER=None, SCORER_RETRY_SECONDS=0)
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz").status_code == 200
    assert outcomes == []


# --- OpenAPI and docs --------------------------------------------------------------------


def test_openapi_document_is_generated_from_the_schemas(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {
        "/api/v1/scores",
        "/api/v1/smes",
        "/api/v1/smes/{sme_id}",
        "/api/v1/smes/{sme_id}/scores",
        "/api/v1/smes/{sme_id}/report.pdf",
        "/api/v1/cohorts/{cohort}/report.pdf",
        "/api/v1/smes/{sme_id}/export",
        "/api/v1/processing-log",
        "/api/v1/batches",
        "/api/v1/batches/{batch_id}",
        "/api/v1/batches/profiles",
        "/api/v1/batches/{batch_id}/results",
        "/api/v1/batches/{batch_id}/results.csv",
        "/api/v1/batches/{batch_id}/results.xlsx",
        "/api/v1/cohorts/{cohort}/latest-scores",
        "/api/v1/shortlists",
        "/api/v1/decisions",
        "/api/v1/decisions/bulk",
        "/api/v1/decisions/{decision_id}",
        "/api/v1/outcomes",
        "/api/v1/outcomes/{followup_id}",
        "/api/v1/outcomes/import",
        "/api/v1/outcomes/template",
        "/api/v1/outcomes/worklist",
        "/api/v1/outcomes/evaluation",
        "/api/v1/smes/{sme_id}/outcomes",
        "/api/v1/invitations",
        "/api/v1/invitations/{invitation_id}",
        "/api/v1/invitations/{invitation_id}/revoke",
        "/api/v1/smes/{sme_id}/invitations",
        "/api/v1/models/active",
        "/api/v1/rulesets/active",
        "/api/v1/models",
        "/api/v1/models/{version}",
        "/api/v1/models/{version}/card",
        "/api/v1/models/{version}/promote",
        "/api/v1/models/rollback",
        "/api/v1/rulesets",
        "/api/v1/rulesets/diff",
        "/api/v1/rulesets/impact",
        "/api/v1/fairness",
        "/api/v1/drift",
        "/api/v1/events",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{subscription_id}",
        "/api/v1/webhooks/{subscription_id}/deliveries",
        "/api/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/resend",
        "/healthz",
        "/readyz",
    }
    body = spec["paths"]["/api/v1/scores"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Profile"}
    profile = spec["components"]["schemas"]["Profile"]
    assert set(profile["properties"]) == set(F.ALL_COLUMNS)
    assert profile["additionalProperties"] is False
    assert profile["properties"]["sector"]["enum"] == list(F.SECTORS)


def test_openapi_document_is_valid_openapi(client):
    spec = client.get("/api/openapi.json").get_json()
    validate_openapi(spec)  # raises, naming the place, for a document that breaks the spec


def test_openapi_documents_the_api_key_scheme_and_problem_errors(client):
    spec = client.get("/api/openapi.json").get_json()
    scheme = spec["components"]["securitySchemes"]["ApiKeyAuth"]
    assert {k: scheme[k] for k in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    for text in (scheme["description"], spec["info"]["description"]):
        assert all(f"`{scope}`" in text for scope in ("score", "read", "personal", "admin"))
    score = spec["paths"]["/api/v1/scores"]["post"]
    assert score["security"] == [{"ApiKeyAuth": []}]
    assert {"401", "403", "415", "422"} <= set(score["responses"])
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    unauthorized = spec["components"]["responses"]["UNAUTHORIZED"]
    assert list(unauthorized["content"]) == [PROBLEM_JSON]


def test_docs_page_uses_local_assets_only(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/api/docs/assets/") for s in sources)
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.data) > 1000


# --- the error envelope ---------------------------------------------------------------


def test_unknown_route_is_a_problem_not_an_html_page(client):
    body = assert_problem(client.get("/no/such/page"), 404)
    assert "<" not in body["detail"]


def test_wrong_method_is_405_with_allow_header(client, auth):
    response = client.put("/api/v1/smes/BDG-1", headers=auth("admin"))
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "DELETE"}


def test_unexpected_errors_are_500_problems_logged_without_personal_data(
    client, auth, monkeypatch, caplog
):
    import api.store

    email = "eko.suryana" + "@example.com"

    def explode(*args, **kwargs):
        raise RuntimeError(f"contact {email} failed")

    monkeypatch.setattr(api.store, "list_smes", explode)
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/smes", headers=auth("read"))
    body = assert_problem(response, 500)
    assert "Traceback" not in response.get_data(as_text=True)
    assert "eko.suryana" not in response.get_data(as_text=True)
    assert body["instance"].startswith("urn:uuid:")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and body["instance"] in logged
    assert "eko.suryana" not in logged
