"""POST /api/v1/shortlists, and the active model and ruleset."""

from __future__ import annotations

import pytest

from scoring.shortlist import build_shortlist

pytest_plugins = ["api_fixtures"]


@pytest.fixture
def cohort(client, auth, profile):
    """Six SMEs in cohort "c": four apparel, two food; one apparel without NIB (knocked out)."""
    records = {}
    specs = [
        ("A-1", "apparel", {"has_website": True, "knows_incoterms": True}),
        ("A-2", "apparel", {"has_website": True}),
        ("A-3", "apparel", {}),
        ("A-4", "apparel", {"has_nib": False}),
        ("F-1", "food_beverage", {"target_markets": ["GCC"]}),
        ("F-2", "food_beverage", {"target_markets": ["GCC", "EU"]}),
    ]
    for sme_id, sector, changes in specs:
        body = {**profile, "sme_id": sme_id, "sector": sector, **changes}
        response = client.post(
            "/api/v1/scores?cohort=c", json=body, headers=auth("score", "personal")
        )
        records[sme_id] = {**response.get_json(), "sector": sector}
    return records


def shortlist(client, auth, body):
    return client.post("/api/v1/shortlists", json=body, headers=auth("score", "personal"))


def test_shortlist_of_a_cohort_equals_build_shortlist_on_latest_scores(client, auth, cohort):
    response = shortlist(client, auth, {"cohort": "c", "capacity": 3})
    assert response.status_code == 200
    body = response.get_json()
    assert body == build_shortlist(list(cohort.values()), capacity=3)
    assert len(body["selected"]) == 3
    assert [e["sme_id"] for e in body["excluded"]] == ["A-4"]
    assert all(entry["reason"] for entry in body["selected"])


def test_max_per_sector_and_target_market(client, auth, cohort):
    body = shortlist(
        client, auth, {"cohort": "c", "capacity": 3, "max_per_sector": 1, "target_market": "GCC"}
    ).get_json()
    sectors = [entry["sector"] for entry in body["selected"]]
    assert len(sectors) == len(set(sectors))
    assert body["target_market"] == "GCC"
    assert body == build_shortlist(
        list(cohort.values()), capacity=3, target_market="GCC", max_per_sector=1
    )


def test_shortlist_from_sme_ids_and_from_a_batch(client, auth, cohort, profile):
    body = shortlist(client, auth, {"sme_ids": ["A-1", "F-1"], "capacity": 1}).get_json()
    assert [e["sme_id"] for e in body["selected"] + body["near_misses"]] == sorted(
        ["A-1", "F-1"], key=lambda s: -cohort[s]["score"]
    )
    rows = [{**profile, "sme_id": "B-1"}, {**profile, "sme_id": "B-2", "has_website": True}]
    batch = client.post("/api/v1/batches", json=rows, headers=auth("score", "personal")).get_json()
    body = shortlist(client, auth, {"batch_id": batch["id"], "capacity": 5}).get_json()
    assert sorted(e["sme_id"] for e in body["selected"]) == ["B-1", "B-2"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"capacity": 2}, "batch_id"),
        ({"cohort": "c", "sme_ids": ["A-1"], "capacity": 2}, "sme_ids"),
        ({"cohort": "c"}, "capacity"),
        ({"cohort": "c", "capacity": 0}, "capacity"),
        ({"cohort": "c", "capacity": 2, "target_market": "MARS"}, "target_market"),
        ({"cohort": "c", "capacity": 2, "max_per_sector": 0}, "max_per_sector"),
        ({"cohort": "c", "capacity": 2, "colour": "red"}, "colour"),
        ({"cohort": "nobody", "capacity": 2}, "cohort"),
        ({"batch_id": 999, "capacity": 2}, "batch_id"),
        ({"sme_ids": ["A-1", "NOPE"], "capacity": 2}, "sme_ids"),
    ],
)
def test_bad_shortlist_requests_are_422(client, auth, cohort, body, field):
    response = shortlist(client, auth, body)
    assert response.status_code == 422, response.get_json()
    assert field in [e["field"] for e in response.get_json()["errors"]]


@pytest.mark.parametrize(
    ("sources", "named"),
    [
        ({}, ["cohort", "batch_id", "sme_ids"]),
        ({"cohort": "c", "sme_ids": ["A-1"]}, ["cohort", "sme_ids"]),
        ({"cohort": "c", "batch_id": 1, "sme_ids": ["A-1"]}, ["cohort", "batch_id", "sme_ids"]),
    ],
)
def test_not_exactly_one_source_is_422_naming_the_fields(client, auth, sources, named):
    response = shortlist(client, auth, {**sources, "capacity": 2})
    assert response.status_code == 422
    got = f" (got {', '.join(named)})." if sources else "."
    message = "Give exactly one of cohort, batch_id or sme_ids" + got
    assert response.get_json()["errors"] == [{"field": f, "message": message} for f in named]


@pytest.fixture
def scored_in_indonesian(client, auth, profile):
    """Cohort "id": two apparel SMEs, one food SME targeting GCC, one without NIB; scored
    with ``lang=id`` (their action plans carry Indonesian labels)."""
    specs = [
        ("A-1", "apparel", {"has_website": True, "knows_incoterms": True}),
        ("A-2", "apparel", {}),
        ("F-1", "food_beverage", {"target_markets": ["GCC"]}),
        ("A-4", "apparel", {"has_nib": False}),
    ]
    for sme_id, sector, changes in specs:
        body = {**profile, "sme_id": sme_id, "sector": sector, **changes}
        response = client.post("/api/v1/scores?cohort=id&lang=id", json=body, headers=auth("admin"))
        assert response.status_code == 201


def test_reasons_and_labels_in_indonesian_with_lang_id(client, auth, scored_in_indonesian):
    body = {"cohort": "id", "capacity": 1, "max_per_sector": 1}
    response = client.post("/api/v1/shortlists?lang=id", json=body, headers=auth("score"))
    assert response.status_code == 200
    result = response.get_json()
    assert [e["reason"] for e in result["selected"]] == [
        "Peringkat 1 dari 3 menurut skor (54,4, Berkembang); "
        "1 dari paling banyak 1 di sektor Pakaian jadi."
    ]
    assert [e["reason"] for e in result["near_misses"]] == [
        "Peringkat 2 menurut skor; 6,4 poin di bawah tempat terakhir.",
        "Peringkat 3 menurut skor; 11,7 poin di bawah tempat terakhir.",
    ]
    assert result["near_misses"][0]["lacks"] == [
        {
            "criterion": "market.buyer_contacts",
            "gain": 7.8,
            "label": "Paling sedikit 3 kontak atau inkuiri pembeli luar negeri dalam 12 bulan",
        },
        {
            "criterion": "product.export_packaging",
            "gain": 4.5,
            "label": "Kemasan dan label standar ekspor",
        },
        {
            "criterion": "capacity.continuity",
            "gain": 4.1,
            "label": "Mampu memasok secara berkelanjutan",
        },
    ]
    assert [e["reason"] for e in result["excluded"]] == [
        "Syarat wajib belum terpenuhi: Memiliki NIB (Nomor Induk Berusaha)."
    ]

    body = {"cohort": "id", "capacity": 2, "target_market": "GCC"}
    result = client.post("/api/v1/shortlists?lang=id", json=body, headers=auth("score")).get_json()
    assert [e["reason"] for e in result["selected"]] == [
        "Peringkat 1 dari 1 menurut kesiapan untuk Negara Teluk (GCC) (47,8, Berkembang)."
    ]
    assert [e["reason"] for e in result["excluded"]] == [
        "Tidak menargetkan Negara Teluk (GCC).",
        "Tidak menargetkan Negara Teluk (GCC).",
        "Syarat wajib belum terpenuhi: Memiliki NIB (Nomor Induk Berusaha).",
    ]


def test_english_labels_by_default_whatever_language_scores_were_made_in(
    client, auth, scored_in_indonesian
):
    body = {"cohort": "id", "capacity": 1, "max_per_sector": 1}
    result = client.post("/api/v1/shortlists", json=body, headers=auth("score")).get_json()
    assert result["selected"][0]["reason"] == (
        "ranked 1 of 3 eligible by score (54.4, tier developing); 1 of at most 1 in apparel"
    )
    assert [lack["label"] for lack in result["near_misses"][0]["lacks"]] == [
        "At least 3 foreign buyer contacts or inquiries in 12 months",
        "Export-grade packaging and labelling",
        "Can supply continuously for repeat orders",
    ]
    assert result["excluded"][0]["reason"] == "failed knock-out: legal.nib"


def test_unknown_language_is_422(client, auth, scored_in_indonesian):
    body = {"cohort": "id", "capacity": 1}
    response = client.post("/api/v1/shortlists?lang=fr", json=body, headers=auth("score"))
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["lang"]


def test_shortlists_need_the_score_scope(client, auth, cohort):
    response = client.post(
        "/api/v1/shortlists", json={"cohort": "c", "capacity": 1}, headers=auth("read")
    )
    assert response.status_code == 403


# --- model and ruleset ------------------------------------------------------------------------


def test_active_model_card_says_the_training_data_is_synthetic(client, auth, scorer):
    response = client.get("/api/v1/models/active", headers=auth("read"))
    assert response.status_code == 200
    card = response.get_json()
    assert card["version"] == scorer.model.version
    assert card["training_data"]["synthetic"] is True
    assert card["training_data"]["rows"] == scorer.model.manifest["training_data"]["rows"]
    assert (
        card["metrics"]["model"]["roc_auc"] == scorer.model.manifest["metrics"]["model"]["roc_auc"]
    )
    assert "baseline_logistic" in card["metrics"]
    assert card["notes"] and "synthetic" in card["notes"][0]


def test_active_ruleset_lists_tiers_weights_and_labelled_criteria(client, auth, scorer):
    response = client.get("/api/v1/rulesets/active", headers=auth("read"))
    assert response.status_code == 200
    ruleset = response.get_json()
    rs = scorer.ruleset
    assert (ruleset["id"], ruleset["version"], ruleset["version_string"]) == (
        rs.id,
        rs.version,
        rs.version_string,
    )
    assert ruleset["blend"] == {"rules_weight": rs.rules_weight, "ml_weight": rs.ml_weight}
    assert [t["id"] for t in ruleset["tiers"]] == ["ready", "near_ready", "developing", "not_ready"]
    nib = ruleset["criteria"][0]
    assert nib["id"] == "legal.nib" and nib["knockout"] is True
    assert nib["label"] == {
        "id": "Memiliki NIB (Nomor Induk Berusaha)",
        "en": "Has a business ID (NIB)",
    }
    assert nib["condition"] == {"true": "has_nib"}
    assert len(ruleset["criteria"]) == len(rs.criteria)
    assert nib["recommendation_by_sector"] == {}
    packaging = next(c for c in ruleset["criteria"] if c["id"] == "product.export_packaging")
    shipped = next(c for c in rs.criteria if c.id == "product.export_packaging")
    assert packaging["recommendation_by_sector"] == dict(shipped.recommendation_by_sector)
    assert "food_beverage" in packaging["recommendation_by_sector"]
    halal = next(c for c in ruleset["criteria"] if c["id"] == "food.halal")
    assert (nib["enforced_by"], halal["enforced_by"]) == ([], ["GCC"])
    assert set(packaging["recommendation_by_sector"]["food_beverage"]) == {"id", "en"}
