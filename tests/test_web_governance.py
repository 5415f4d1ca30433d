"""Governance web pages: model card, fairness, drift, model versions and ruleset impact,
each for the roles allowed to see it, in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from governance_helpers import SHIPPED, clone_version, comparison
from web_helpers import csrf_token

from api import store
from api.db import get_session
from scoring.errors import RulesetError
from scoring.rules import registry as ruleset_registry
from scoring.rules.loading import load_ruleset

pytest_plugins = ["api_fixtures", "web_fixtures"]

TRANSLATIONS = Path(__file__).resolve().parent.parent / "api" / "web" / "translations"
DEFAULT_RULESET = Path(__file__).resolve().parent.parent / "scoring" / "rulesets" / "default.yaml"


def _keys(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_both_languages_have_the_same_keys():
    english = yaml.safe_load((TRANSLATIONS / "governance.en.yaml").read_text(encoding="utf-8"))
    indonesian = yaml.safe_load((TRANSLATIONS / "governance.id.yaml").read_text(encoding="utf-8"))
    assert sorted(_keys(english)) == sorted(_keys(indonesian))


@pytest.mark.parametrize(
    ("path", "allowed", "refused"),
    [
        ("/model-card", "officer", None),
        ("/fairness", "lead", "officer"),
        ("/drift", "lead", "officer"),
        ("/models", "admin", "lead"),
        ("/rulesets/impact", "admin", "lead"),
    ],
)
def test_pages_open_for_their_roles_only(web_app, login, path, allowed, refused):
    assert web_app.test_client().get(path).status_code == 302  # to the login page
    page = login(allowed).get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    assert "governance." not in page.get_data(as_text=True)  # every text key is translated
    if refused:
        assert login(refused).get(path).status_code == 403


def test_model_card_shows_origin_charts_and_limitations(login):
    html = login("officer").get("/model-card?lang=en").get_data(as_text=True)
    assert SHIPPED in html
    # ROC curve and score distribution need the model's own training data (API test).
    assert 'id="calibration-chart"' in html and 'id="feature-effects"' in html
    assert "Data SINTETIS" in html or "SYNTHETIC" in html
    assert "has_nib (+)" in html


def test_fairness_page_highlights_gaps_and_shows_the_proxy_check(login):
    html = login("lead").get("/fairness").get_data(as_text=True)
    assert 'id="fairness-owner_gender"' in html and 'id="fairness-sector"' in html
    assert 'id="proxy"' in html
    assert 'class="gap"' in html  # the synthetic sectors differ enough to be flagged


def test_drift_page_after_a_profile_is_scored(web_app, login, auth, client, profile):
    lead = login("lead")
    assert 'id="no-drift"' in lead.get("/drift").get_data(as_text=True)
    web_app.test_client().post("/api/v1/scores", json=profile, headers={"X-API-Key": _key(web_app)})
    html = lead.get("/drift").get_data(as_text=True)
    assert 'id="drift-table"' in html and 'id="drift-status"' in html


def _key(app) -> str:
    """A key that may store the example profile, owner and contact fields included."""
    from api_fixtures import create_key

    return create_key(app, "score", "personal")


def test_models_page_refuses_a_worse_model_then_promotes_it_forced_and_rolls_back(web_app, login):
    models = Path(web_app.config["MODELS_DIR"])
    worse = clone_version(
        models,
        "20261201-aaaaaaaaaa",
        comparison=comparison(against=SHIPPED, candidate=(0.7, 0.16), active=(0.87, 0.11)),
    )
    admin = login("admin")
    token = csrf_token(admin, "/models")
    refused = admin.post(
        "/models", data={"csrf_token": token, "action": "promote", "version": worse}
    )
    assert refused.status_code == 409 and 'id="error"' in refused.get_data(as_text=True)
    forced = admin.post(
        "/models",
        data={
            "csrf_token": token,
            "action": "promote",
            "version": worse,
            "force": "on",
            "reason": "pilot on real outcomes",
        },
    )
    assert forced.status_code == 200 and 'id="message"' in forced.get_data(as_text=True)
    assert (models / "ACTIVE").read_text().strip() == worse
    with web_app.app_context():
        (event,) = [e for e in store.audit_events(get_session()) if e["action"] == "promote"]
    assert event["actor"] == "user:admin" and event["details"]["reason"] == "pilot on real outcomes"
    back = admin.post("/models", data={"csrf_token": token, "action": "rollback"})
    assert back.status_code == 200
    assert (models / "ACTIVE").read_text().strip() == SHIPPED


def test_ruleset_impact_page_lists_the_smes_that_change_tier(web_app, login, profile, tmp_path):
    data = yaml.safe_load(DEFAULT_RULESET.read_text(encoding="utf-8"))
    data["version"] = "2026.12.1"
    for tier, low in zip(data["tiers"], (0.3, 0.2, 0.1, 0), strict=True):
        tier["min_score"] = low  # everyone not knocked out becomes ready
    path = tmp_path / "lenient.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    version = ruleset_registry.register(Path(web_app.config["RULESETS_DIR"]), path).version_string
    key = _key(web_app)
    web_app.test_client().post("/api/v1/scores?cohort=c1", json=profile, headers={"X-API-Key": key})
    html = (
        login("admin")
        .get("/rulesets/impact", query_string={"ruleset": version, "cohort": "c1"})
        .get_data(as_text=True)
    )
    assert 'id="impact"' in html and profile["sme_id"] in html
    assert "tiers" in html  # the diff names the changed setting


def test_ruleset_impact_of_the_packaged_default_as_the_page_lists_it(web_app, login, profile):
    """A fresh install lists only the packaged default, by its version: choosing it works."""
    default = load_ruleset(None).version_string
    key = _key(web_app)
    web_app.test_client().post("/api/v1/scores?cohort=c1", json=profile, headers={"X-API-Key": key})
    page = login("admin").get("/rulesets/impact", query_string={"ruleset": default, "cohort": "c1"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "0 dari 1 UKM berganti tingkatan" in html  # the active ruleset against itself


def test_a_registry_resolves_the_packaged_defaults_version_to_the_default(tmp_path):
    default = load_ruleset(None).version_string
    assert ruleset_registry.resolve(tmp_path, default) is None
    assert ruleset_registry.resolve(tmp_path, "default") is None
    with pytest.raises(RulesetError, match="no such file or registered version"):
        ruleset_registry.resolve(tmp_path, "2031.1.1")
