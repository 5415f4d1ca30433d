"""Ruleset versions, diff and tier-impact preview on a crafted pair of rulesets."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from api.cli import main
from scoring.audit.ruleset_diff import diff_rulesets, tier_impact
from scoring.contract.validate import validate_records
from scoring.errors import RulesetError
from scoring.rules import registry
from scoring.rules.loading import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scoring" / "rulesets" / "default.yaml"
EXAMPLE = json.loads((ROOT / "data" / "example_profile.json").read_text())


@pytest.fixture
def stricter(tmp_path) -> Path:
    """The default ruleset with a website made a knock-out and two points more for one."""
    data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    data["version"] = "2026.12.1"
    for criterion in data["criteria"]:
        if criterion["id"] == "digital.website":
            criterion["knockout"] = True
            criterion["points"] = 5
    path = tmp_path / "stricter.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _profile(sme_id: str, *, website: bool, nib: bool = True) -> dict:
    """A strong exporter profile (not knocked out by the default ruleset unless ``nib``)."""
    profile = copy.deepcopy(EXAMPLE)
    for field in ("owner_gender", "owner_name", "contact_phone", "contact_email", "district"):
        profile.pop(field)
    for field, value in profile.items():
        if value is False:
            profile[field] = True
    profile.update(
        sme_id=sme_id,
        has_website=website,
        has_nib=nib,
        has_exported=True,
        export_years=4,
        export_value_usd_last_year=50_000.0,
        export_markets=["AU"],
        certifications=["SNI", "OEKOTEX", "ISO9001"],
        foreign_buyer_contacts=6,
        trade_fairs_last_3y=3,
    )
    return profile


@pytest.fixture
def cohort():
    records = [
        _profile("WEB-1", website=True),
        _profile("NOWEB-1", website=False),
        _profile("WEB-2", website=True),
        _profile("NOWEB-2", website=False),
        _profile("NONIB-NOWEB", website=False, nib=False),  # already knocked out by NIB
    ]
    return validate_records(records).profiles


def test_diff_names_exactly_the_changed_criterion_keys(stricter):
    diff = diff_rulesets(load_ruleset(DEFAULT), load_ruleset(stricter))
    assert diff["old"].startswith("2026.11.3+") and diff["new"].startswith("2026.12.1+")
    assert diff["settings"] == [] and diff["added"] == [] and diff["removed"] == []
    (changed,) = diff["changed"]
    assert changed["id"] == "digital.website"
    assert {c["key"]: (c["old"], c["new"]) for c in changed["changes"]} == {
        "points": (3, 5),
        "knockout": (False, True),
    }


def test_impact_lists_exactly_the_smes_without_a_website_that_were_not_knocked_out(
    stricter, cohort, model
):
    old, new = load_ruleset(DEFAULT), load_ruleset(stricter)
    report = tier_impact(cohort, old=old, new=new, model=model)
    assert report["profiles"] == 5
    assert [c["sme_id"] for c in report["changes"]] == ["NOWEB-1", "NOWEB-2"]
    for change in report["changes"]:
        assert change["old_tier"] != "not_ready"
        assert change["new_tier"] == "not_ready"
        assert change["direction"] == "down"
    assert report["changed"] == 2


def test_cli_diff_and_impact_on_files(stricter, cohort, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["ruleset", "diff", str(DEFAULT), str(stricter)])
    assert result.exit_code == 0, result.output
    assert "~ digital.website.knockout: false -> true" in result.stdout
    assert "~ digital.website.points: 3 -> 5" in result.stdout
    path = tmp_path / "cohort.json"
    records = [_profile(i, website=w) for i, w in (("A-1", True), ("B-1", False))]
    path.write_text(json.dumps(records))
    result = runner.invoke(
        main,
        [
            "ruleset",
            "impact",
            str(stricter),
            "--cohort",
            str(path),
            "--rulesets-dir",
            str(tmp_path / "rulesets"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [c["sme_id"] for c in report["changes"]] == ["B-1"]


def test_registered_versions_activate_atomically_and_refuse_a_tampered_file(stricter, tmp_path):
    directory = tmp_path / "rulesets"
    assert registry.active_path(directory) is None  # the packaged default
    event = registry.activate(directory, str(stricter), actor="cli", reason="website rule")
    version = event["version"]
    assert version.startswith("2026.12.1+")
    assert registry.load_active(directory).version_string == version
    assert (directory / "ACTIVE").read_text().strip() == version
    assert {v["version"]: v["active"] for v in registry.list_rulesets(directory)} == {
        load_ruleset(DEFAULT).version_string: False,
        version: True,
    }
    assert registry.resolve(directory, "2026.12.1") == directory / f"{version}.yaml"
    stored = directory / f"{version}.yaml"
    stored.write_text(stored.read_text().replace("points: 5", "points: 50", 1))
    with pytest.raises(RulesetError, match="changed after registration"):
        registry.load_active(directory)
    (directory / "ACTIVE").write_text("")
    with pytest.raises(RulesetError, match="does not name a ruleset version"):
        registry.load_active(directory)
