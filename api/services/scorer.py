"""The Scorer of this process: loaded once, lazily, on first use; swapped when activated.

Lazy loading means a pre-forking server (gunicorn) loads the model in each worker after
the fork, never in the master. A model or ruleset that fails to load is remembered with
its reason: ``/readyz`` reports it and scoring endpoints answer 503 until a later retry
(after ``SCORER_RETRY_SECONDS``) succeeds.

A running service notices a new activation: at most every ``SCORER_CHECK_SECONDS`` one
``stat`` of ``models/ACTIVE`` and ``rulesets/ACTIVE`` tells whether either changed. The new
version is then loaded and verified in full (hash, library version, self-check) before it
replaces the old one, so a request is always scored by one complete model and ruleset.
If the new one fails, the old one keeps serving and ``/readyz`` says what failed.
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
from scoring.model.additive import ACTIVE_NAME, ExportModel, default_models_dir, load_model
from scoring.rules.loading import load_ruleset
from scoring.rules.registry import default_rulesets_dir, load_active
from scoring.rules.ruleset import Ruleset

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
    signature: tuple


def _stat(path: Path) -> tuple | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class ScorerHolder:
    """Loads the ruleset and the model separately, so a failure names the part that failed."""

    def __init__(
        self,
        *,
        models_dir: str | None,
        ruleset_path: str | None,
        retry_seconds: float,
        check_seconds: float = 2.0,
        rulesets_dir: str | None = None,
        scorer: Scorer | None = None,
    ):
        self.models_dir = Path(models_dir) if models_dir else None
        self.ruleset_path = Path(ruleset_path) if ruleset_path else None
        self.rulesets_dir = Path(rulesets_dir) if rulesets_dir else default_rulesets_dir()
        self.retry_seconds = retry_seconds
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        #: The pointers' state whose loading failed while an older scorer kept serving.
        self._refused: tuple | None = None
        self.reload_problems: dict[str, str] = {}
        self._attempt = (
            None if scorer is None else _Attempt(scorer, {}, time.monotonic(), self._signature())
        )

    def _pointers(self) -> list[Path]:
        pointers = [(self.models_dir or default_models_dir()) / ACTIVE_NAME]
        if self.ruleset_path is None:
            pointers.append(self.rulesets_dir / ACTIVE_NAME)
        return pointers

    def _signature(self) -> tuple:
        return tuple(_stat(p) for p in self._pointers())

    def get(self) -> Scorer:
        """The loaded scorer; raises ``ScorerUnavailable`` with the reasons it cannot load."""
        attempt = self._attempt
        if attempt is None or (attempt.scorer is None and self._may_retry(attempt)):
            with self._lock:
                attempt = self._attempt
                if attempt is None or (attempt.scorer is None and self._may_retry(attempt)):
                    attempt = self._attempt = self._load()
        elif attempt.scorer is not None and self._may_check():
            attempt = self._reload_if_changed(attempt)
        if attempt.scorer is None:
            raise ScorerUnavailable(attempt.reasons)
        return attempt.scorer

    def _may_retry(self, attempt: _Attempt) -> bool:
        return time.monotonic() - attempt.at >= self.retry_seconds

    def _may_check(self) -> bool:
        return time.monotonic() - self._checked_at >= self.check_seconds

    def _reload_if_changed(self, attempt: _Attempt) -> _Attempt:
        """Swap in a newly activated model or ruleset once it has loaded completely."""
        if not self._lock.acquire(blocking=False):
            return attempt  # another request is checking; keep serving meanwhile
        try:
            self._checked_at = time.monotonic()
            signature = self._signature()
            if signature == attempt.signature or signature == self._refused:
                return attempt
            loaded = self._load()
            if loaded.scorer is None:
                self._refused = signature
                self.reload_problems = loaded.reasons
                log.error(
                    "new activation not loaded, still serving the old one: %s", loaded.reasons
                )
                return attempt
            self._refused = None
            self.reload_problems = {}
            self._attempt = loaded
            return loaded
        finally:
            self._lock.release()

    def _load(self) -> _Attempt:
        signature = self._signature()
        reasons: dict[str, str] = {}
        ruleset: Ruleset | None = None
        model: ExportModel | None = None
        try:
            if self.ruleset_path is not None:
                ruleset = load_ruleset(self.ruleset_path)
            else:
                ruleset = load_active(self.rulesets_dir)
        except ScoringError as exc:
            reasons["ruleset"] = _one_line(exc)
        try:
            model = load_model(self.models_dir, estimator=False)  # scoring needs no more
        except ScoringError as exc:
            reasons["model"] = _one_line(exc)
        for part, why in reasons.items():
            log.error("scorer unavailable: %s failed to load: %s", part, why)
        scorer = Scorer(ruleset, model) if not reasons else None
        if scorer is not None:
            log.info("scorer loaded: model %s, ruleset %s", model.version, ruleset.version_string)
        return _Attempt(scorer, reasons, time.monotonic(), signature)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def init_app(app: Flask) -> None:
    """Attach a holder to the app; nothing is loaded until ``get_scorer`` is first called.

    ``app.config["SCORER"]``, when set (tests), is an already loaded Scorer to start with.
    """
    app.extensions[EXTENSION] = ScorerHolder(
        models_dir=app.config.get("MODELS_DIR"),
        ruleset_path=app.config.get("RULESET_PATH"),
        rulesets_dir=app.config.get("RULESETS_DIR"),
        retry_seconds=float(app.config.get("SCORER_RETRY_SECONDS", 30.0)),
        check_seconds=float(app.config.get("SCORER_CHECK_SECONDS", 2.0)),
        scorer=app.config.get("SCORER"),
    )


def get_holder() -> ScorerHolder:
    return current_app.extensions[EXTENSION]


def get_scorer() -> Scorer:
    """The current app's Scorer, loading it on first use; raises ``ScorerUnavailable``."""
    return get_holder().get()
