"""Helpers for governance tests: temporary model registries built from the shipped model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SHIPPED = (MODELS / "ACTIVE").read_text().strip()


def copy_models(target: Path) -> Path:
    """A private copy of the shipped models folder (without any history)."""
    shutil.copytree(MODELS, target, ignore=shutil.ignore_patterns(".*", "history.jsonl"))
    return target


def clone_version(models_dir: Path, name: str, **manifest_updates) -> str:
    """Register the shipped artifact again under another version name (a valid, verifiable
    version whose manifest says what the test needs, e.g. a recorded comparison)."""
    source = models_dir / SHIPPED
    target = models_dir / name
    shutil.copytree(source, target)
    path = target / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(version=name, **manifest_updates)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return name


def comparison(*, against: str, candidate: tuple[float, float], active: tuple[float, float]):
    """A recorded comparison: (ROC AUC, Brier) of the candidate and of the active model."""
    return {
        "against": against,
        "rows": 300,
        "candidate": {"roc_auc": candidate[0], "brier": candidate[1]},
        "active": {"roc_auc": active[0], "brier": active[1]},
    }
