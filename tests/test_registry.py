"""Model registry: atomic activation, the promotion guard, forced promotions, rollback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from governance_helpers import SHIPPED, clone_version, comparison, copy_models

from scoring.errors import ModelNotFoundError
from scoring.files.atomic import write_atomically
from scoring.model.additive import active_version
from scoring.model.evaluation import data_warnings, guard_failures
from scoring.model.registry import PromotionRefused, history, list_versions, promote, rollback


@pytest.fixture
def models(tmp_path):
    return copy_models(tmp_path / "models")


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "ACTIVE"
    target.write_text("old\n")
    write_atomically(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ACTIVE"]


def test_guard_refuses_worse_discrimination_or_calibration_only_beyond_the_tolerance():
    def verdict(candidate):
        return guard_failures(comparison(against="a", candidate=candidate, active=(0.80, 0.150)))

    assert verdict((0.80, 0.150)) == []
    assert verdict((0.791, 0.1549)) == []  # within 0.01 AUC and 0.005 Brier
    assert [f.split(":")[0] for f in verdict((0.789, 0.150))] == ["discrimination"]
    assert [f.split(":")[0] for f in verdict((0.80, 0.1551))] == ["calibration"]
    assert len(verdict((0.70, 0.20))) == 2


def test_too_few_or_unbalanced_labels_warn_with_how_many_more_are_needed():
    labels = np.array([True] * 20 + [False] * 130)
    warnings = data_warnings(labels)
    assert warnings[0].startswith("only 150 labelled profiles") and "add 50 more" in warnings[0]
    assert "only 20 SMEs exported within 12 months: need 30 more positives" in warnings[1]
    assert data_warnings(np.array([True] * 60 + [False] * 200)) == []
    # 5 of 300 exported: (5 + m) / (300 + m) >= 0.1 needs m = 28.
    unbalanced = data_warnings(np.array([True] * 5 + [False] * 295))
    assert any("need 28 more positives to reach 10%" in w for w in unbalanced)


def test_promotion_refuses_a_worse_candidate_and_leaves_active_unchanged(models):
    worse = clone_version(
        models,
        "20261201-aaaaaaaaaa",
        comparison=comparison(against=SHIPPED, candidate=(0.70, 0.16), active=(0.87, 0.11)),
    )
    with pytest.raises(PromotionRefused, match=r"discrimination.*calibration") as info:
        promote(models, worse, actor="cli")
    assert len(info.value.failures) == 2
    assert active_version(models) == SHIPPED
    assert history(models) == []


def test_forced_promotion_needs_a_reason_and_records_it(models):
    worse = clone_version(
        models,
        "20261201-aaaaaaaaaa",
        comparison=comparison(against=SHIPPED, candidate=(0.70, 0.16), active=(0.87, 0.11)),
    )
    with pytest.raises(PromotionRefused, match="needs a reason"):
        promote(models, worse, actor="cli", force=True)
    event = promote(models, worse, actor="user:ana", force=True, reason="pilot on real outcomes")
    assert active_version(models) == worse
    (logged,) = history(models)
    assert logged == event
    assert logged["forced"] is True and logged["reason"] == "pilot on real outcomes"
    assert logged["previous"] == SHIPPED and logged["actor"] == "user:ana"
    assert len(logged["guard"]) == 2


def test_a_candidate_never_compared_with_the_active_model_is_refused(models):
    other = clone_version(models, "20261201-bbbbbbbbbb")
    with pytest.raises(PromotionRefused, match="has not been compared"):
        promote(models, other, actor="cli")
    stale = clone_version(
        models,
        "20261201-cccccccccc",
        comparison=comparison(
            against="19990101-0000000000", candidate=(0.9, 0.1), active=(0.8, 0.2)
        ),
    )
    with pytest.raises(PromotionRefused, match="has not been compared"):
        promote(models, stale, actor="cli")


def test_a_better_candidate_is_promoted_without_force(models):
    better = clone_version(
        models,
        "20261201-dddddddddd",
        comparison=comparison(against=SHIPPED, candidate=(0.88, 0.108), active=(0.87, 0.11)),
    )
    event = promote(models, better, actor="cli")
    assert event["forced"] is False and event["guard"] == []
    assert active_version(models) == better
    assert [v["version"] for v in list_versions(models) if v["active"]] == [better]


def test_rollback_walks_back_through_the_promotions(models):
    names = []
    previous = SHIPPED
    for suffix in "ab":
        name = clone_version(
            models,
            f"20261201-{suffix * 10}",
            comparison=comparison(against=previous, candidate=(0.88, 0.1), active=(0.87, 0.11)),
        )
        promote(models, name, actor="cli")
        names.append(name)
        previous = name
    assert rollback(models, actor="cli", reason="bad week")["version"] == names[0]
    assert active_version(models) == names[0]
    assert rollback(models, actor="cli")["version"] == SHIPPED
    assert active_version(models) == SHIPPED
    with pytest.raises(ModelNotFoundError, match="no earlier active model"):
        rollback(models, actor="cli")
    actions = [(e["action"], e["version"]) for e in history(models)]
    assert actions == [
        ("promote", names[0]),
        ("promote", names[1]),
        ("rollback", names[0]),
        ("rollback", SHIPPED),
    ]


def test_a_tampered_candidate_is_never_activated(models):
    name = clone_version(
        models,
        "20261201-eeeeeeeeee",
        comparison=comparison(against=SHIPPED, candidate=(0.9, 0.1), active=(0.87, 0.11)),
    )
    artifact = models / name / "model.joblib"
    artifact.write_bytes(artifact.read_bytes()[:-10])
    with pytest.raises(Exception, match="does not match its manifest"):
        promote(models, name, actor="cli")
    assert active_version(models) == SHIPPED
    assert json.loads((models / SHIPPED / "manifest.json").read_text())["version"] == SHIPPED
