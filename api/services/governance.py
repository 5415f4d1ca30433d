"""Governance figures for the service: model card, fairness and drift on stored data.

The reference data (the labelled data the active model was trained on, scored by the
current model and ruleset) are read and scored once per model and ruleset version and
kept for the life of the process; only the recent profiles are read per request.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from flask import current_app
from sqlalchemy.orm import Session

from api import store
from scoring.audit.drift import drift_report
from scoring.audit.fairness import audit
from scoring.audit.modelcard import model_card
from scoring.contract.validate import validate_records, validate_table
from scoring.engine import Scorer, ScoreTable
from scoring.errors import ScoringError
from scoring.files.readers import read_table

DEFAULT_TRAINING_DATA = Path(__file__).resolve().parents[2] / "data" / "training.parquet"


@dataclass
class Reference:
    """The labelled training data, with their scores under one model and ruleset."""

    profiles: pd.DataFrame
    labels: np.ndarray
    gender: np.ndarray
    scores: ScoreTable


def profiles_frame(records: list[dict]) -> pd.DataFrame:
    """Stored profiles (contract JSON) as a canonical frame; invalid ones are left out."""
    if not records:
        return validate_records([{}]).profiles.iloc[0:0]
    return validate_records(records).profiles


#: Reference data and model cards, shared by every app of the process: they depend only on
#: the training file (and its modification time), the model and the ruleset version.
_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def _cached(key: tuple, build):
    with _CACHE_LOCK:
        if key not in _CACHE:
            if len(_CACHE) >= 8:  # old versions after activations: keep memory bounded
                _CACHE.clear()
            _CACHE[key] = build()
        return _CACHE[key]


def training_path() -> Path:
    configured = current_app.config.get("TRAINING_DATA_PATH")
    return Path(configured) if configured else DEFAULT_TRAINING_DATA


def reference(scorer: Scorer) -> Reference | None:
    """The training data scored by ``scorer``; None when the file is missing or unusable."""
    path = training_path()
    key = (
        "reference",
        str(path),
        _mtime(path),
        scorer.model.version,
        scorer.ruleset.version_string,
    )
    return _cached(key, lambda: _read_reference(path, scorer))


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _read_reference(path: Path, scorer: Scorer) -> Reference | None:
    if not path.is_file():
        return None
    try:
        batch = validate_table(read_table(path), require_label=True)
    except ScoringError:
        return None
    if batch.errors or not len(batch.profiles):
        return None
    return Reference(
        profiles=batch.profiles,
        labels=np.asarray(batch.labels, dtype=bool),
        gender=batch.personal["owner_gender"].to_numpy(dtype=object),
        scores=scorer.score(batch.profiles, scored_at=""),
    )


def drift(session: Session, scorer: Scorer) -> dict | None:
    """PSI of recently scored profiles against the training data; None without either."""
    ref = reference(scorer)
    days = int(current_app.config.get("DRIFT_WINDOW_DAYS", 90))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    recent = profiles_frame(store.recent_profiles(session, since=since))
    if ref is None or not len(recent):
        return None
    report = drift_report(
        ref.profiles,
        recent,
        reference_scores=ref.scores.score,
        recent_scores=scorer.score(recent, scored_at="").score,
    )
    return {**report, "window_days": days}


def fairness(scorer: Scorer, *, share: float) -> dict | None:
    """The fairness audit on the training data (which carry owner_gender and outcomes)."""
    ref = reference(scorer)
    if ref is None:
        return None
    return audit(
        ref.profiles,
        ref.labels,
        {"owner_gender": ref.gender, "sector": ref.profiles["sector"].to_numpy(dtype=object)},
        scores=ref.scores,
        share=share,
    )


def card(session: Session, scorer: Scorer, model=None) -> dict:
    """The model card of ``model`` (default: the active one), with the drift warning."""
    model = model or scorer.model
    ref = reference(scorer)
    path = training_path()
    key = ("card", model.version, scorer.ruleset.version_string, str(path), _mtime(path))
    built = _cached(
        key,
        lambda: model_card(
            model,
            ruleset=scorer.ruleset,
            profiles=None if ref is None else ref.profiles,
            labels=None if ref is None else ref.labels,
        ),
    )
    current = drift(session, scorer) if model is scorer.model else None
    warnings = list(built["warnings"])
    if current is not None:
        warnings += [f"drift: {w}" for w in current["warnings"]]
    return {**built, "drift": current, "warnings": warnings}


def record_model_event(session: Session, event: dict, action: str) -> None:
    """A promotion or rollback from the registry's history, in the processing log too, and
    ``model.promoted`` for other systems."""
    store.audit(
        session,
        actor=event["actor"],
        action=action,
        subject=event["version"],
        details={k: event.get(k) for k in ("previous", "forced", "reason", "guard")},
    )
    store.emit_activation(session, event)
    session.commit()
