"""Errors raised by the scoring package: one root, leaves that also subclass a built-in."""

from __future__ import annotations


class ScoringError(Exception):
    """Root of every error the scoring package raises on purpose."""


class ProfileValidationError(ScoringError, ValueError):
    """A single profile broke the contract; ``errors`` lists every field error."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        fields = ", ".join(sorted({e["field"] for e in errors}))
        super().__init__(f"profile is invalid ({len(errors)} error(s) in: {fields})")


class FileFormatError(ScoringError, ValueError):
    """An input file cannot be read as a table of profiles.

    ``code`` and ``params``, where set, name the problem for a page that words it in its own
    language (``no_header``: column, row; ``unknown_columns``: columns; ``unknown_format``,
    ``old_excel``, ``empty``); the message stays the English one-line reason.
    """

    def __init__(self, message: str, *, code: str | None = None, **params: object):
        super().__init__(message)
        self.code = code
        self.params = params


class RulesetError(ScoringError, ValueError):
    """A ruleset file is broken; ``problems`` lists (criterion id or section, reason)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = "; ".join(f"{where}: {why}" for where, why in problems)
        super().__init__(f"ruleset {source} is invalid: {lines}")


class ModelArtifactError(ScoringError, ValueError):
    """A model artifact is missing, corrupt, tampered with or built by other library versions."""


class ModelNotFoundError(ModelArtifactError, LookupError):
    """No model artifact exists where one was expected."""


class RescoreError(ScoringError, RuntimeError):
    """A rescoring run cannot start or resume (changed input, other settings, missing engine)."""
