"""What changes between two rulesets: in the file (diff) and for a cohort (tier impact).

A policy change is judged by its effect before it is activated: ``tier_impact`` scores the
same profiles with the same model under both rulesets and lists every SME whose tier moves.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from scoring.engine import score_frame
from scoring.model.additive import ExportModel
from scoring.rules.ruleset import Criterion, Ruleset


def criterion_data(criterion: Criterion) -> dict:
    """A criterion as plain data, the way a ruleset file states it."""
    return {
        "category": criterion.category,
        "points": int(criterion.points)
        if float(criterion.points).is_integer()
        else criterion.points,
        "knockout": criterion.knockout,
        "actionable": criterion.actionable,
        "applies_to": {
            "sectors": None
            if criterion.applies_sectors is None
            else list(criterion.applies_sectors),
            "target_markets": (
                None if criterion.applies_markets is None else list(criterion.applies_markets)
            ),
        },
        "enforced_by": list(criterion.enforced_by),
        "condition": criterion.condition.to_data(),
        "label": dict(criterion.label),
        "recommendation": dict(criterion.recommendation),
        "recommendation_by_sector": {
            sector: dict(text) for sector, text in criterion.recommendation_by_sector.items()
        },
    }


def _settings(ruleset: Ruleset) -> dict:
    return {
        "blend": {"rules_weight": ruleset.rules_weight, "ml_weight": ruleset.ml_weight},
        "tiers": {t.id: t.min_score for t in ruleset.tiers},
        "knockout_tier": ruleset.knockout_tier,
    }


def diff_rulesets(old: Ruleset, new: Ruleset) -> dict:
    """Settings and criteria added, removed or changed (each changed key with old and new)."""
    settings = []
    old_settings, new_settings = _settings(old), _settings(new)
    for key in old_settings:
        if old_settings[key] != new_settings[key]:
            settings.append({"setting": key, "old": old_settings[key], "new": new_settings[key]})
    before = {c.id: criterion_data(c) for c in old.criteria}
    after = {c.id: criterion_data(c) for c in new.criteria}
    changed = []
    for cid in before.keys() & after.keys():
        keys = [k for k in before[cid] if before[cid][k] != after[cid][k]]
        if keys:
            changed.append(
                {
                    "id": cid,
                    "changes": [
                        {"key": k, "old": before[cid][k], "new": after[cid][k]} for k in keys
                    ],
                }
            )
    return {
        "old": old.version_string,
        "new": new.version_string,
        "settings": settings,
        "added": [{"id": cid, **after[cid]} for cid in after if cid not in before],
        "removed": [{"id": cid, **before[cid]} for cid in before if cid not in after],
        "changed": sorted(changed, key=lambda c: c["id"]),
    }


def tier_impact(profiles: pd.DataFrame, *, old: Ruleset, new: Ruleset, model: ExportModel) -> dict:
    """Scores and tiers of every profile under both rulesets; the SMEs whose tier changes."""
    scored_at = "1970-01-01T00:00:00Z"  # not reported; fixed so both runs are comparable
    before = score_frame(profiles, ruleset=old, model=model, scored_at=scored_at)
    after = score_frame(profiles, ruleset=new, model=model, scored_at=scored_at)
    moved = np.flatnonzero(before.tier != after.tier)
    rank = {t.id: i for i, t in enumerate(reversed(new.tiers))}
    changes = [
        {
            "sme_id": str(before.sme_id[i]),
            "old_tier": str(before.tier[i]),
            "new_tier": str(after.tier[i]),
            "old_score": float(before.score[i]),
            "new_score": float(after.score[i]),
            "direction": "up"
            if rank.get(str(after.tier[i]), -1) > rank.get(str(before.tier[i]), -1)
            else "down",
        }
        for i in moved
    ]
    transitions = Counter((c["old_tier"], c["new_tier"]) for c in changes)
    return {
        "old": old.version_string,
        "new": new.version_string,
        "model_version": model.version,
        "profiles": len(profiles),
        "changed": len(changes),
        "tiers_before": dict(Counter(map(str, before.tier))),
        "tiers_after": dict(Counter(map(str, after.tier))),
        "transitions": [
            {"old_tier": a, "new_tier": b, "count": n} for (a, b), n in sorted(transitions.items())
        ],
        "changes": sorted(changes, key=lambda c: c["sme_id"]),
    }
