"""The Scorer of this process: loaded once, lazily, on first use.

Lazy loading means a pre-forking server (gunicorn) loads the model in each worker after
the fork, never in the master. A model or ruleset that fails to load is remembered with
its reason: ``/readyz`` reports it and scoring endpoints answer 503 until a later retry
(after ``SCORER_RETRY_SECONDS``) succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from scoring.engine import Scorer
from scoring.errors import ScoringError
from scoring.model import ExportModel, load_model
from scoring.rules import Ruleset, load_ruleset

EXTENSION = "sme_export.scorer"
log = logging.getLogger(__name__)


class ScorerUnavailable(RuntimeError):
    """The model or the ruleset could not be loaded; ``reasons`` says which and why."""

    def __init__(self, reasons: dict[str, str]):
        self.reasons = reasons
        super().__init__("; ".join(f"{part}: {why}" for part, why in reasons.items()))


@dataclass
class _Attempt:
    scorer: Scorer | None
    reasons: dict[str, str]
    at: float


class ScorerHolder:
    """Loads the ruleset and the model separately, so a failure names the part that failed."""

    def __init__(
        self,
        *,
        models_dir: str | None,
        ruleset_path: str | None,
        retry_seconds: float,
        scorer: Scorer | None = None,
    ):
        self.models_dir = Path(models_dir) if models_dir else None
        self.ruleset_path = Path(ruleset_path) if ruleset_path else None
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._attempt = None if scorer is None else _Attempt(scorer, {}, time.monotonic())

    def get(self) -> Scorer:
        """The loaded scorer; raises ``ScorerUnavailable`` with the reasons it cannot load."""
        attempt = self._attempt
        if attempt is None or (attempt.scorer is None and self._may_retry(attempt)):
            with self._lock:
                attempt = self._attempt
                if attempt is None or (attempt.scorer is None and self._may_retry(attempt)):
                    attempt = self._attempt = self._load()
        if attempt.scorer is None:
            raise ScorerUnavailable(attempt.reasons)
        return attempt.scorer

    def _may_retry(self, attempt: _Attempt) -> bool:
        return time.monotonic() - attempt.at >= self.retry_seconds

    def _load(self) -> _Attempt:
        reasons: dict[str, str] = {}
        ruleset: Ruleset | None = None
        model: ExportModel | None = None
        try:
            ruleset = load_ruleset(self.ruleset_path)
        except ScoringError as exc:
            reasons["ruleset"] = _one_line(exc)
        try:
            model = load_model(self.models_dir)
        except ScoringError as exc:
            reasons["model"] = _one_line(exc)
        for part, why in reasons.items():
            log.error("scorer unavailable: %s failed to load: %s", part, why)
        scorer = Scorer(ruleset, model) if not reasons else None
        if scorer is not None:
            log.info("scorer loaded: model %s, ruleset %s", model.version, ruleset.version_string)
        return _Attempt(scorer, reasons, time.monotonic())


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def init_app(app: Flask) -> None:
    """Attach a holder to the app; nothing is loaded until ``get_scorer`` is first called.

    ``app.config["SCORER"]``, when set (tests), is an already loaded Scorer to use.
    """
    app.extensions[EXTENSION] = ScorerHolder(
        models_dir=app.config.get("MODELS_DIR"),
        ruleset_path=app.config.get("RULESET_PATH"),
        retry_seconds=float(app.config.get("SCORER_RETRY_SECONDS", 30.0)),
        scorer=app.config.get("SCORER"),
    )


def get_scorer() -> Scorer:
    """The current app's Scorer, loading it on first use; raises ``ScorerUnavailable``."""
    return current_app.extensions[EXTENSION].get()
