"""Shortlist selection: capacity, knock-outs, sector cap, target market, deterministic order."""

from __future__ import annotations

import random

import pytest

from scoring.shortlist import build_shortlist


def record(sme_id, score, *, sector="apparel", knockouts=(), ml=0.5, markets=None, actions=()):
    return {
        "sme_id": sme_id,
        "sector": sector,
        "score": score,
        "tier": "ready" if score >= 70 else "developing",
        "ml_probability": ml,
        "knockouts": list(knockouts),
        "market_readiness": markets or {},
        "action_plan": [{"criterion": c, "gain": g, "label": c.upper()} for c, g in actions],
    }


COHORT = [
    record("A", 80.0),
    record("B", 75.0, sector="food_beverage"),
    record("C", 90.0, knockouts=["legal.nib"]),
    record("D", 75.0, ml=0.7),
    record("E", 60.0, sector="food_beverage", actions=[("market.trade_fair", 3.1)]),
    record("F", 75.0),
]


def ids(entries):
    return [e["sme_id"] for e in entries]


def test_capacity_is_respected_and_knockouts_are_excluded():
    result = build_shortlist(COHORT, capacity=3)
    assert ids(result["selected"]) == ["A", "D", "B"]
    assert [e["rank"] for e in result["selected"]] == [1, 2, 3]
    assert result["excluded"] == [
        {
            "sme_id": "C",
            "sector": "apparel",
            "reason": "failed knock-out: legal.nib",
            "knockouts": ["legal.nib"],
        }
    ]
    assert result["eligible"] == 5


def test_ties_are_broken_by_probability_then_id():
    result = build_shortlist(COHORT, capacity=5)
    # B, D and F all score 75.0: D has the higher probability, then B before F by id.
    assert ids(result["selected"]) == ["A", "D", "B", "F", "E"]


def test_order_does_not_depend_on_input_order():
    shuffled = COHORT[:]
    random.Random(4).shuffle(shuffled)
    assert build_shortlist(shuffled, capacity=4) == build_shortlist(COHORT, capacity=4)


def test_sector_cap_skips_to_the_next_sector():
    result = build_shortlist(COHORT, capacity=3, max_per_sector=2)
    assert ids(result["selected"]) == ["A", "D", "B"]
    result = build_shortlist(COHORT, capacity=4, max_per_sector=2)
    assert ids(result["selected"]) == ["A", "D", "B", "E"]
    assert result["near_misses"][0]["sme_id"] == "F"
    assert result["near_misses"][0]["reason"] == "sector cap reached: already 2 from apparel"
    sectors = [e["sector"] for e in result["selected"]]
    assert max(sectors.count(s) for s in set(sectors)) <= 2


def test_near_misses_say_what_they_lack():
    result = build_shortlist(COHORT, capacity=4)
    miss = result["near_misses"][0]
    assert miss["sme_id"] == "E"
    assert miss["reason"] == "ranked 5 of 5 by score; 15.0 points below the last place"
    assert miss["lacks"] == [
        {"criterion": "market.trade_fair", "gain": 3.1, "label": "MARKET.TRADE_FAIR"}
    ]


def test_target_market_ranks_by_its_readiness_and_excludes_others():
    cohort = [
        record("A", 80.0, markets={"EU": {"score": 40.0, "missing": ["eu.oekotex"]}}),
        record("B", 60.0, markets={"EU": {"score": 70.0, "missing": []}}),
        record("C", 70.0, markets={"JP": {"score": 90.0, "missing": []}}),
    ]
    result = build_shortlist(cohort, capacity=1, target_market="EU")
    assert ids(result["selected"]) == ["B"]
    assert result["selected"][0]["reason"] == (
        "ranked 1 of 2 eligible by readiness for EU (70.0, tier developing)"
    )
    assert result["near_misses"][0]["lacks"] == [{"criterion": "eu.oekotex"}]
    assert result["excluded"][0] == {
        "sme_id": "C",
        "sector": "apparel",
        "reason": "does not target EU",
        "knockouts": [],
    }


@pytest.mark.parametrize("capacity, cap", [(0, None), (2, 0)])
def test_invalid_capacity_or_cap_is_refused(capacity, cap):
    with pytest.raises(ValueError):
        build_shortlist(COHORT, capacity=capacity, max_per_sector=cap)


def test_shortlist_of_scored_cohort_never_selects_a_knocked_out_sme(scorer):
    from scoring.contract.validate import validate_records
    from scoring.model.synth import generate_cohort

    cohort = generate_cohort(85, seed=2020)
    batch = validate_records(cohort.to_dict(orient="records"))
    records = scorer.score(batch.profiles, assumed=batch.assumed).to_records()
    for r, sector in zip(records, batch.profiles["sector"], strict=True):
        r["sector"] = sector
    result = build_shortlist(records, capacity=30, max_per_sector=12)
    knocked = {r["sme_id"] for r in records if r["knockouts"]}
    assert len(result["selected"]) == 30
    assert knocked.isdisjoint(ids(result["selected"]))
    assert set(ids(result["excluded"])) == knocked
    sectors = [e["sector"] for e in result["selected"]]
    assert max(sectors.count(s) for s in set(sectors)) <= 12
    eligible_scores = sorted((r["score"] for r in records if not r["knockouts"]), reverse=True)
    assert result["selected"][0]["score"] == eligible_scores[0]
