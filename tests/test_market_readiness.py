"""Readiness per target market lists every requirement the market has for the SME's sector,
the ruleset declares which markets enforce a criterion (checked at load), and the action plan
marks the failed knock-outs that lead it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import random_profiles
from web_helpers import page_text, post_profile

from api.http.schemas import ActionSchema
from scoring.audit.ruleset_diff import diff_rulesets
from scoring.contract import fields as F
from scoring.errors import RulesetError
from scoring.rules.loading import load_ruleset, parse_ruleset

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scoring" / "rulesets" / "default.yaml"
EXAMPLE = json.loads((ROOT / "data" / "example_profile.json").read_text(encoding="utf-8"))
KNOCKOUTS = ("legal.nib", "legal.npwp")

#: (market, sector, criterion): each requirement a market has for a sector in the shipped
#: ruleset, beside the knock-outs that every market has for every sector.
REQUIREMENTS = (
    ("EU", "apparel", "eu.textile_oekotex"),
    ("EU", "textile", "eu.textile_oekotex"),
    ("EU", "furniture_wood", "wood.svlk"),
    ("EU", "handicraft", "wood.svlk"),
    ("EU", "medical_devices", "eu.medical_iso13485"),
    ("EU", "medical_devices", "eu.medical_ce"),
    ("US", "food_beverage", "us.food_fda"),
    ("US", "cosmetics_herbal", "us.cosmetics_fda"),
    ("US", "medical_devices", "us.medical_fda"),
    ("CN", "food_beverage", "cn.food_gacc"),
    ("GCC", "food_beverage", "food.halal"),
    ("GCC", "cosmetics_herbal", "gcc.halal_cosmetics"),
)
#: The certificates that meet each requirement.
MEETS = {
    "eu.textile_oekotex": ["OEKOTEX"],
    "wood.svlk": ["SVLK"],
    "eu.medical_iso13485": ["ISO13485"],
    "eu.medical_ce": ["CE"],
    "us.food_fda": ["FDA"],
    "us.cosmetics_fda": ["FDA"],
    "us.medical_fda": ["FDA"],
    "cn.food_gacc": ["BPOM", "HACCP"],
    "food.halal": ["HALAL"],
    "gcc.halal_cosmetics": ["HALAL"],
}


def _profile(sector: str, markets: list[str], certifications: list[str], **changes) -> dict:
    """The example SME, without personal fields, in ``sector`` with NIB and NPWP."""
    profile = copy.deepcopy(EXAMPLE)
    for name in ("owner_gender", "owner_name", "contact_phone", "contact_email", "district"):
        profile.pop(name)
    profile.update(sector=sector, target_markets=markets, certifications=certifications, **changes)
    return profile


def _missing(scorer, profile: dict) -> dict[str, list[str]]:
    record = scorer.score_profile(profile)
    return {market: entry["missing"] for market, entry in record["market_readiness"].items()}


def _shipped() -> dict:
    return yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))


def _criterion(data: dict, criterion_id: str) -> dict:
    return next(c for c in data["criteria"] if c["id"] == criterion_id)


def _problems(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(data, source="edited.yaml")
    return caught.value.problems


# --- what the shipped ruleset declares -------------------------------------------------------


def test_the_shipped_ruleset_declares_exactly_these_market_requirements(ruleset):
    declared = set()
    for m, market in enumerate(ruleset.markets):
        for c in np.flatnonzero(ruleset.market_requires[m] & ~ruleset.knockout):
            criterion = ruleset.criteria[c]
            for sector in criterion.applies_sectors or F.SECTORS:
                declared.add((market.id, sector, criterion.id))
    assert declared == set(REQUIREMENTS)
    knockouts = [ruleset.criteria[c].id for c in np.flatnonzero(ruleset.knockout)]
    assert tuple(knockouts) == KNOCKOUTS
    assert ruleset.market_requires[:, ruleset.knockout].all()


def test_sector_wide_requirements_name_the_markets_that_enforce_them(ruleset):
    enforced = {c.id: c.enforced_by for c in ruleset.criteria if c.enforced_by}
    assert enforced == {"food.halal": ("GCC",), "wood.svlk": ("EU",)}
    assert ruleset.version == "2026.11.3"


@pytest.mark.parametrize(
    ("market", "sector", "requirement"), REQUIREMENTS, ids=["-".join(r) for r in REQUIREMENTS]
)
def test_a_market_lists_its_requirement_missing_until_the_sme_meets_it(
    scorer, market, sector, requirement
):
    without = scorer.score_profile(_profile(sector, [market], []))
    assert requirement in without["market_readiness"][market]["missing"]
    (entry,) = [c for c in without["criteria"] if c["id"] == requirement]
    assert entry["met"] is False and entry["points"] == 0

    with_it = scorer.score_profile(_profile(sector, [market], MEETS[requirement]))
    missing = with_it["market_readiness"][market]["missing"]
    assert requirement not in missing
    assert set(without["market_readiness"][market]["missing"]) - set(missing) == {requirement}
    (entry,) = [c for c in with_it["criteria"] if c["id"] == requirement]
    assert entry["met"] is True and entry["points"] == entry["max_points"]


@pytest.mark.parametrize("market", F.MARKETS)
@pytest.mark.parametrize("knockout", KNOCKOUTS)
def test_every_market_lists_a_failed_knockout(scorer, market, knockout):
    field = {"legal.nib": "has_nib", "legal.npwp": "has_npwp"}[knockout]
    lacking = _profile("other", [market], [], **{field: False})
    assert _missing(scorer, lacking) == {market: [knockout]}
    assert _missing(scorer, {**lacking, field: True}) == {market: []}


@pytest.mark.parametrize("sector", F.SECTORS)
def test_each_target_market_lists_exactly_its_own_requirements_for_the_sector(scorer, sector):
    missing = _missing(scorer, _profile(sector, list(F.MARKETS), []))
    order = [c.id for c in scorer.ruleset.criteria]
    expected = {
        market: sorted(
            (c for m, s, c in REQUIREMENTS if (m, s) == (market, sector)), key=order.index
        )
        for market in F.MARKETS
    }
    assert missing == expected


# --- the three cases that used to list nothing -----------------------------------------------


def test_a_food_sme_with_only_pirt_lacks_halal_for_the_gulf(scorer):
    food = _profile("food_beverage", ["GCC"], ["PIRT"])
    assert _missing(scorer, food) == {"GCC": ["food.halal"]}
    assert _missing(scorer, {**food, "certifications": ["PIRT", "HALAL"]}) == {"GCC": []}


def test_a_furniture_maker_lacks_timber_legality_for_the_eu(scorer):
    furniture = _profile("furniture_wood", ["EU"], ["FSC"])
    assert _missing(scorer, furniture) == {"EU": ["wood.svlk"]}
    assert _missing(scorer, {**furniture, "certifications": ["FSC", "SVLK"]}) == {"EU": []}


def test_a_cosmetics_maker_lacks_fda_registration_for_the_us(scorer):
    cosmetics = _profile("cosmetics_herbal", ["US"], ["BPOM", "GMP"])
    assert _missing(scorer, cosmetics) == {"US": ["us.cosmetics_fda"]}
    both = _profile("cosmetics_herbal", ["US", "GCC"], ["BPOM", "GMP"])
    assert _missing(scorer, both) == {"US": ["us.cosmetics_fda"], "GCC": ["gcc.halal_cosmetics"]}


def test_a_requirement_is_not_listed_under_markets_that_do_not_enforce_it(scorer):
    food = _profile("food_beverage", ["EU", "JP", "GCC"], ["PIRT"])
    assert _missing(scorer, food) == {"EU": [], "JP": [], "GCC": ["food.halal"]}


# --- enforced_by changes what is listed, never a score ---------------------------------------


def test_enforced_by_changes_no_score(ruleset):
    data = _shipped()
    for criterion in data["criteria"]:
        criterion.pop("enforced_by", None)
    without = parse_ruleset(data, source="without.yaml")
    frame = random_profiles(300, seed=21)
    before, after = ruleset.evaluate(frame), without.evaluate(frame)
    for name in ("applicable", "met", "rules_score", "category_scores", "market_scores"):
        np.testing.assert_array_equal(getattr(before, name), getattr(after, name))
    np.testing.assert_array_equal(ruleset.market_members, without.market_members)
    assert (ruleset.market_requires >= without.market_requires).all()


def test_a_change_of_enforced_by_shows_in_the_ruleset_diff(ruleset):
    data = _shipped()
    data["version"] = "2026.12.1"
    _criterion(data, "food.halal")["enforced_by"] = ["GCC", "ASEAN"]
    diff = diff_rulesets(ruleset, parse_ruleset(data, source="wider.yaml"))
    (changed,) = diff["changed"]
    assert changed["id"] == "food.halal"
    assert changed["changes"] == [{"key": "enforced_by", "old": ["GCC"], "new": ["GCC", "ASEAN"]}]


# --- enforced_by is checked at load ----------------------------------------------------------


def test_enforced_by_naming_an_unknown_market_is_refused_at_load(tmp_path):
    data = _shipped()
    _criterion(data, "food.halal")["enforced_by"] = ["GCC", "UK"]
    path = tmp_path / "uk.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(RulesetError) as caught:
        load_ruleset(path)
    markets = ", ".join(F.MARKETS)
    assert caught.value.problems == [
        ("food.halal", f"enforced_by: 'UK' is not a market of this ruleset (markets: {markets})")
    ]
    assert "food.halal: enforced_by: 'UK' is not a market of this ruleset" in str(caught.value)


def test_enforced_by_may_name_only_markets_the_markets_section_defines():
    data = _shipped()
    del data["markets"]["AU"]
    _criterion(data, "wood.svlk")["enforced_by"] = ["EU", "AU"]
    problems = _problems(data)
    assert ("markets", "missing 'AU'") in problems
    assert (
        "wood.svlk",
        "enforced_by: 'AU' is not a market of this ruleset "
        "(markets: EU, US, JP, CN, GCC, ASEAN, OTHER)",
    ) in problems


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("GCC", "enforced_by must be a non-empty list of markets"),
        ([], "enforced_by must be a non-empty list of markets"),
        (["GCC", "GCC"], "enforced_by lists a market twice"),
    ],
)
def test_enforced_by_must_be_a_list_of_distinct_markets(value, why):
    data = _shipped()
    _criterion(data, "food.halal")["enforced_by"] = value
    assert _problems(data) == [("food.halal", why)]


def test_enforced_by_cannot_be_combined_with_target_markets():
    data = _shipped()
    _criterion(data, "us.food_fda")["enforced_by"] = ["US"]
    ((where, why),) = _problems(data)
    assert where == "us.food_fda"
    assert why.startswith("enforced_by cannot be combined with applies_to.target_markets")


# --- the action plan says which steps lift a knock-out ---------------------------------------


def test_action_plan_items_say_whether_they_lift_a_failed_knockout(scorer):
    record = scorer.score_profile(_profile("apparel", ["EU"], [], has_nib=False, has_npwp=False))
    plan = record["action_plan"]
    assert [a["criterion"] for a in plan[:2]] == ["legal.nib", "legal.npwp"]
    assert [a["knockout"] for a in plan] == [True, True] + [False] * (len(plan) - 2)
    assert len(plan) > 2

    fine = scorer.score_profile(_profile("apparel", ["EU"], []))
    assert fine["action_plan"] and not any(a["knockout"] for a in fine["action_plan"])
    assert all(isinstance(a["knockout"], bool) for a in fine["action_plan"])


def test_the_api_schema_declares_the_knockout_flag(scorer):
    record = scorer.score_profile(_profile("apparel", ["EU"], [], has_nib=False))
    dumped = ActionSchema(many=True).dump(record["action_plan"])
    assert dumped[0]["knockout"] is True and dumped[0]["criterion"] == "legal.nib"
    assert not any(item["knockout"] for item in dumped[1:])


def test_the_score_page_marks_the_knockout_step(login, profile):
    client = login("officer")
    profile.update(sme_id="KO-1", has_nib=False)
    assert post_profile(client, profile).status_code == 302
    page = page_text(client.get("/smes/KO-1"))
    plan = page.split('id="action-plan"')[1].split("</ol>")[0]
    steps = plan.split("<li>")[1:]
    assert 'class="badge tier-not_ready knockout-action">syarat wajib</span>' in steps[0]
    assert not any("knockout-action" in step for step in steps[1:])
