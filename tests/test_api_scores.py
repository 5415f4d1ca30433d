"""POST /api/v1/scores: one profile scored, stored (or not, on a dry run), validated."""

from __future__ import annotations

import pytest
from api_fixtures import create_key

from api.http.errors import PROBLEM_JSON
from scoring.contract import fields as F

pytest_plugins = ["api_fixtures"]

PERSONAL_VALUES = ("Eko Suryana", "eko.suryana@example.com", "+62 877-4015-4778", "Kiaracondong")


@pytest.fixture
def writer(app) -> dict[str, str]:
    """The headers of a key that may store profiles with their personal fields."""
    return {"X-API-Key": create_key(app, "score", "personal", name="writer")}


def without_time(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "scored_at"}


def test_score_is_stored_and_equals_the_engine(client, auth, profile, scorer, writer):
    response = client.post("/api/v1/scores", json=profile, headers=writer)
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/v1/smes/BDG-2020-001"
    record = response.get_json()
    assert without_time(record) == without_time(scorer.score_profile(profile))
    assert list(record)[:5] == ["sme_id", "score", "tier", "rules_score", "ml_probability"]
    stored = client.get("/api/v1/smes/BDG-2020-001", headers=auth("admin")).get_json()
    assert stored["latest_score"] == record
    assert stored["profile"]["owner_name"] == "Eko Suryana"


def test_dry_run_stores_nothing(client, auth, profile):
    response = client.post("/api/v1/scores?dry_run=true", json=profile, headers=auth("score"))
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert response.get_json()["sme_id"] == "BDG-2020-001"
    read = auth("read")
    assert client.get("/api/v1/smes", headers=read).get_json()["total"] == 0
    assert client.get("/api/v1/smes/BDG-2020-001", headers=read).status_code == 404


def test_labels_in_bahasa_indonesia(client, auth, profile):
    en = client.post("/api/v1/scores?dry_run=true", json=profile, headers=auth("score"))
    id_ = client.post("/api/v1/scores?dry_run=true&lang=id", json=profile, headers=auth("score"))
    assert en.get_json()["criteria"][0]["label"] == "Has a business ID (NIB)"
    assert id_.get_json()["criteria"][0]["label"] == "Memiliki NIB (Nomor Induk Berusaha)"
    assert en.get_json()["score"] == id_.get_json()["score"]


def test_cohort_query_adds_the_sme_to_the_cohort(client, auth, profile, writer):
    client.post("/api/v1/scores?cohort=bandung-2020", json=profile, headers=writer)
    sme = client.get("/api/v1/smes/BDG-2020-001", headers=auth("read")).get_json()
    assert sme["cohorts"] == ["bandung-2020"]


def test_left_out_booleans_are_reported_as_assumed(client, auth, profile, writer):
    del profile["has_website"], profile["knows_incoterms"]
    record = client.post("/api/v1/scores", json=profile, headers=writer).get_json()
    assert record["assumed"] == ["has_website", "knows_incoterms"]


def test_invalid_profile_is_422_with_every_field_error(client, auth, profile, writer):
    profile.update(employees=-3, sector="space", colour="red")
    del profile["name"]
    response = client.post("/api/v1/scores", json=profile, headers=writer)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["title"] == "Unprocessable Entity"
    fields = [e["field"] for e in body["errors"]]
    assert fields == ["name", "sector", "employees", "colour"]
    assert all(e["message"] for e in body["errors"])
    assert client.get("/api/v1/smes", headers=auth("read")).get_json()["total"] == 0


def test_body_that_is_not_an_object_is_422(client, auth, profile):
    response = client.post("/api/v1/scores", json=[profile], headers=auth("score"))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "_schema"


def test_malformed_json_is_400(client, auth):
    response = client.post(
        "/api/v1/scores", data="{nope", content_type="application/json", headers=auth("score")
    )
    assert response.status_code == 400
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json()["detail"] == "Invalid JSON body."


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, auth, content_type):
    headers = auth("score")
    kwargs = {"data": "sme_id=1"}
    if content_type:
        kwargs["content_type"] = content_type
    response = client.post("/api/v1/scores", headers=headers, **kwargs)
    assert response.status_code == 415
    assert response.mimetype == PROBLEM_JSON


def test_bad_query_parameters_are_422(client, auth, profile):
    response = client.post("/api/v1/scores?lang=fr", json=profile, headers=auth("score"))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "lang"


def test_too_large_body_is_413(make_app, make_key, profile):
    app = make_app(MAX_CONTENT_LENGTH=1000)
    key = make_key(app, "score")
    profile["name"] = "x" * 2000
    response = app.test_client().post("/api/v1/scores", json=profile, headers={"X-API-Key": key})
    assert response.status_code == 413
    assert response.mimetype == PROBLEM_JSON


def test_personal_data_only_on_the_smes_own_page(client, auth, profile, writer):
    client.post("/api/v1/scores", json=profile, headers=writer)
    read = auth("read")
    own = client.get("/api/v1/smes/BDG-2020-001", headers=auth("admin")).get_data(as_text=True)
    assert all(value in own for value in PERSONAL_VALUES)
    for path in (
        "/api/v1/smes",
        "/api/v1/smes/BDG-2020-001",  # personal fields need the personal scope
        "/api/v1/smes/BDG-2020-001/scores",
    ):
        text = client.get(path, headers=read).get_data(as_text=True)
        assert not any(value in text for value in PERSONAL_VALUES), path
        assert not any(f'"{name}"' in text for name in F.PERSONAL_COLUMNS), path
