"""GET/DELETE /api/v1/smes...: lists with filters and pages, one SME, history, erasure."""

from __future__ import annotations

import pytest

pytest_plugins = ["api_fixtures"]


@pytest.fixture
def stored(client, auth, profile):
    """Five SMEs: three apparel in cohort a, two food (one without NIB) in cohort b."""
    specs = [
        ("A-1", "apparel", "a", {}),
        ("A-2", "apparel", "a", {}),
        ("A-3", "apparel", "a", {}),
        ("F-1", "food_beverage", "b", {}),
        ("F-2", "food_beverage", "b", {"has_nib": False}),
    ]
    records = {}
    for sme_id, sector, cohort, changes in specs:
        body = {**profile, "sme_id": sme_id, "sector": sector, **changes}
        response = client.post(
            f"/api/v1/scores?cohort={cohort}", json=body, headers=auth("score", "personal")
        )
        assert response.status_code == 201, response.get_json()
        records[sme_id] = response.get_json()
    return records


def ids(response) -> list[str]:
    return [item["sme_id"] for item in response.get_json()["items"]]


def test_list_is_ordered_by_sme_id_with_latest_score_summary(client, auth, stored):
    response = client.get("/api/v1/smes", headers=auth("read"))
    assert response.status_code == 200
    body = response.get_json()
    assert ids(response) == ["A-1", "A-2", "A-3", "F-1", "F-2"]
    assert (body["total"], body["page"], body["per_page"]) == (5, 1, 50)
    first = body["items"][0]
    assert first["name"] == "UD Moda Harapan Parahyangan"
    assert first["cohorts"] == ["a"]
    assert first["latest_score"]["score"] == stored["A-1"]["score"]
    assert first["latest_score"]["tier"] == stored["A-1"]["tier"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sector=food_beverage", ["F-1", "F-2"]),
        ("cohort=a", ["A-1", "A-2", "A-3"]),
        ("tier=not_ready", ["F-2"]),
        ("cohort=b&tier=not_ready", ["F-2"]),
        ("cohort=nobody", []),
    ],
)
def test_list_filters(client, auth, stored, query, expected):
    assert ids(client.get(f"/api/v1/smes?{query}", headers=auth("read"))) == expected


def test_list_pages(client, auth, stored):
    read = auth("read")
    page2 = client.get("/api/v1/smes?page=2&per_page=2", headers=read)
    assert ids(page2) == ["A-3", "F-1"]
    assert page2.get_json()["total"] == 5
    assert ids(client.get("/api/v1/smes?page=9&per_page=2", headers=read)) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=501", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("sector=space", "sector"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_field(client, auth, query, field):
    response = client.get(f"/api/v1/smes?{query}", headers=auth("read"))
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == [field]


def test_page_size_limit_comes_from_config(make_app, make_key):
    app = make_app(PAGE_SIZE_MAX=10, PAGE_SIZE_DEFAULT=5)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "read")}
    response = client.get("/api/v1/smes?per_page=11", headers=headers)
    assert response.get_json()["errors"] == [
        {"field": "per_page", "message": "Must be at most 10."}
    ]
    assert client.get("/api/v1/smes", headers=headers).get_json()["per_page"] == 5


def test_one_sme_has_profile_cohorts_and_latest_score(client, auth, stored, profile):
    response = client.get("/api/v1/smes/A-1", headers=auth("read"))
    assert response.status_code == 200
    sme = response.get_json()
    assert sme["sme_id"] == "A-1"
    assert sme["cohorts"] == ["a"]
    assert sme["latest_score"] == stored["A-1"]
    assert sme["profile"]["certifications"] == ["SNI"]
    assert "contact_email" not in sme["profile"]  # personal fields need the personal scope


def test_unknown_sme_is_404(client, auth):
    for path in ("/api/v1/smes/NOPE", "/api/v1/smes/NOPE/scores"):
        response = client.get(path, headers=auth("read"))
        assert response.status_code == 404
        assert response.get_json()["detail"] == "No SME with sme_id 'NOPE'."


def test_history_is_oldest_first(client, auth, stored, profile):
    better = {**profile, "sme_id": "A-1", "has_website": True, "knows_incoterms": True}
    second = client.post(
        "/api/v1/scores", json=better, headers=auth("score", "personal")
    ).get_json()
    history = client.get("/api/v1/smes/A-1/scores", headers=auth("read")).get_json()
    assert history["sme_id"] == "A-1"
    assert history["scores"] == [stored["A-1"], second]
    assert second["score"] > stored["A-1"]["score"]


def test_erasure_deletes_the_sme_and_its_personal_data(client, auth, stored):
    response = client.delete("/api/v1/smes/A-1", headers=auth("admin"))
    assert response.status_code == 204
    assert response.data == b""
    read = auth("read")
    assert client.get("/api/v1/smes/A-1", headers=read).status_code == 404
    assert client.get("/api/v1/smes/A-1/scores", headers=read).status_code == 404
    assert "A-1" not in ids(client.get("/api/v1/smes", headers=read))
    assert client.delete("/api/v1/smes/A-1", headers=auth("admin")).status_code == 404


def test_erasing_needs_the_admin_scope(client, auth, stored):
    assert client.delete("/api/v1/smes/A-1", headers=auth("score", "personal")).status_code == 403
    assert client.delete("/api/v1/smes/A-1", headers=auth("read")).status_code == 403


def test_latest_score_is_documented_as_a_nullable_reference(client):
    """Client generators read ``allOf: [$ref]`` + ``nullable`` as "a score record or null";
    apispec's ``anyOf`` with an untyped object made them a second, untyped model."""
    schemas = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    assert schemas["Sme"]["properties"]["latest_score"] == {
        "allOf": [{"$ref": "#/components/schemas/ScoreRecord"}],
        "nullable": True,
    }
    assert schemas["SmeSummary"]["properties"]["latest_score"] == {
        "allOf": [{"$ref": "#/components/schemas/ScoreSummary"}],
        "nullable": True,
    }
