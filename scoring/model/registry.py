"""The model registry: every trained version in ``models/``, which one is active, and why.

``models/ACTIVE`` names the active version; ``models/history.jsonl`` is an append-only log
of every activation (promotion or rollback) with who did it, whether the promotion guard
was forced and the reason given. Rollback follows that log back to the version that was
active before, so it never needs to guess. Stored scores are never touched: each records
the model version that made it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from scoring.errors import ModelArtifactError, ModelNotFoundError, ScoringError
from scoring.files.atomic import append_line, write_atomically
from scoring.model.additive import (
    ACTIVE_NAME,
    MANIFEST_NAME,
    VERSION_PATTERN,
    active_version,
    load_model,
    read_manifest,
)
from scoring.model.evaluation import guard_failures
from scoring.model.training import origin_text, training_origin

HISTORY_NAME = "history.jsonl"
MIN_REASON_LENGTH = 10


class PromotionRefused(ScoringError, ValueError):
    """The promotion guard refused a candidate; ``failures`` says why."""

    def __init__(self, message: str, failures: list[str] | None = None):
        self.failures = failures or []
        super().__init__(message)


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _current(models_dir: Path) -> str | None:
    try:
        return active_version(models_dir)
    except ModelArtifactError:
        return None


def summary(manifest: dict, *, active: str | None) -> dict:
    """What a listing shows of one version: ``origin`` is ``synthetic``, ``real outcomes``
    or ``mixed`` (``synthetic`` is true unless every row is a real outcome) and
    ``origin_text`` says it with the numbers."""
    training = manifest.get("training_data") or {}
    origin = training_origin(training)
    held_out = (manifest.get("metrics") or {}).get("model") or {}
    evaluation = manifest.get("evaluation") or {}
    comparison = manifest.get("comparison")
    return {
        "version": manifest["version"],
        "created_at": manifest.get("created_at"),
        "active": manifest["version"] == active,
        "training_rows": training.get("rows"),
        "synthetic": origin["synthetic"],
        "origin": origin["origin"],
        "origin_text": origin_text(training),
        "real_outcomes": origin["real_outcomes"],
        "synthetic_rows": origin["synthetic_rows"],
        "outcome_period": origin["outcome_period"],
        "data_source": training.get("source"),
        "roc_auc": held_out.get("roc_auc"),
        "brier": held_out.get("brier"),
        "evaluation_method": evaluation.get("method"),
        "compared_with": None if comparison is None else comparison.get("against"),
        "guard": None if comparison is None else comparison.get("guard"),
    }


def list_versions(models_dir: Path) -> list[dict]:
    """Every registered version, oldest first; a folder with a broken manifest is skipped."""
    active = _current(models_dir)
    found = []
    if not models_dir.is_dir():
        return found
    for folder in models_dir.iterdir():
        if not folder.is_dir() or not VERSION_PATTERN.match(folder.name):
            continue
        if not (folder / MANIFEST_NAME).is_file():
            continue
        try:
            manifest = read_manifest(models_dir, folder.name)
        except ModelArtifactError:
            continue
        found.append(summary(manifest, active=active))
    return sorted(found, key=lambda v: (v["created_at"] or "", v["version"]))


def show(models_dir: Path, version: str) -> dict:
    """The full manifest of a version, with whether it is active."""
    manifest = read_manifest(models_dir, version)
    return {**manifest, "active": version == _current(models_dir)}


def history(models_dir: Path) -> list[dict]:
    """Every activation recorded, oldest first."""
    path = models_dir / HISTORY_NAME
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            events.append(json.loads(line))
    return events


def _active_stack(models_dir: Path) -> list[str]:
    """Versions that were active, most recent last: promotions push, rollbacks pop."""
    stack: list[str] = []
    for event in history(models_dir):
        if not stack and event.get("previous"):
            stack.append(event["previous"])
        if event["action"] == "rollback":
            if stack:
                stack.pop()
        else:
            stack.append(event["version"])
    return stack


def _activate(
    models_dir: Path, version: str, *, action: str, actor: str, previous: str | None, **details
) -> dict:
    # Verify the whole artifact before any service can be pointed at it.
    load_model(models_dir, version)
    event = {
        "at": _now(),
        "action": action,
        "version": version,
        "previous": previous,
        "actor": actor,
        **details,
    }
    write_atomically(models_dir / ACTIVE_NAME, version + "\n")
    append_line(models_dir / HISTORY_NAME, json.dumps(event, ensure_ascii=False, sort_keys=True))
    return event


def promote(
    models_dir: Path,
    version: str,
    *,
    actor: str,
    force: bool = False,
    reason: str | None = None,
    comparison: dict | None = None,
) -> dict:
    """Make ``version`` active if the promotion guard lets it; returns the history event.

    The guard compares the candidate with the active model on the same rows: ``comparison``
    when given (``evaluation.compare`` on fresh data), else the one recorded in the
    candidate's manifest at training, if it was made against the model active now. A
    candidate that is worse (``evaluation.guard_failures``) or was never compared is refused
    unless ``force`` is set with a ``reason``, which the history records.
    """
    manifest = read_manifest(models_dir, version)
    reason = (reason or "").strip() or None
    if force and (reason is None or len(reason) < MIN_REASON_LENGTH):
        raise PromotionRefused(
            f"forcing a promotion needs a reason of at least {MIN_REASON_LENGTH} characters "
            "(it goes into the audit log)"
        )
    current = _current(models_dir)
    if current == version:
        raise PromotionRefused(f"model {version} is already the active one")
    comparison = comparison or manifest.get("comparison")
    failures: list[str] = []
    if current is not None:
        if comparison is None or comparison.get("against") != current:
            failures = [
                f"model {version} has not been compared with the active model {current} on the "
                "same data; compare with `sme-export models promote VERSION --data FILE`"
            ]
        else:
            failures = guard_failures(comparison)
    if failures and not force:
        raise PromotionRefused(
            f"promotion of {version} refused: "
            + "; ".join(failures)
            + "; to promote anyway use --force with --reason",
            failures,
        )
    return _activate(
        models_dir,
        version,
        action="promote",
        actor=actor,
        previous=current,
        forced=bool(failures),
        reason=reason,
        guard=failures,
        comparison=None
        if comparison is None
        else {k: comparison.get(k) for k in ("against", "candidate", "active", "rows")},
    )


def rollback(models_dir: Path, *, actor: str, reason: str | None = None) -> dict:
    """Re-activate the version that was active before the current one."""
    current = _current(models_dir)
    stack = _active_stack(models_dir)
    if stack and stack[-1] != current:  # ACTIVE was changed outside the registry
        stack.append(current)
    if current is None or len(stack) < 2:
        raise ModelNotFoundError(
            "no earlier active model is recorded in the history; promote a version instead"
        )
    return _activate(
        models_dir,
        stack[-2],
        action="rollback",
        actor=actor,
        previous=current,
        reason=(reason or "").strip() or None,
    )
