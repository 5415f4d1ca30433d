"""Ruleset versions: registered ruleset files in one folder, and which one is active.

``rulesets/<version>.yaml`` holds each registered ruleset under its ``version_string``
(declared version + content fingerprint, what every score records), ``rulesets/ACTIVE``
names the active one and ``rulesets/history.jsonl`` logs every activation. Without an
``ACTIVE`` file the packaged default (``scoring/rulesets/default.yaml``) is active, so a
fresh installation needs no setup.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from importlib import resources
from pathlib import Path

from scoring.errors import RulesetError
from scoring.files.atomic import append_line, write_atomically
from scoring.rules.loading import load_ruleset
from scoring.rules.ruleset import Ruleset

ACTIVE_NAME = "ACTIVE"
HISTORY_NAME = "history.jsonl"
DEFAULT_REF = "default"
_VERSION_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,120}$")


def default_rulesets_dir() -> Path:
    """``SME_EXPORT_RULESETS_DIR`` if set, else the ``rulesets/`` folder beside the package."""
    configured = os.environ.get("SME_EXPORT_RULESETS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "rulesets"


def _packaged_text() -> str:
    resource = resources.files("scoring").joinpath("rulesets").joinpath("default.yaml")
    return resource.read_text(encoding="utf-8")


def _hint(directory: Path) -> str:
    return (
        f"activate a valid ruleset with `sme-export ruleset activate VERSION` or delete "
        f"{directory / ACTIVE_NAME} to use the packaged default"
    )


def active_pointer(directory: Path) -> str | None:
    """The version named by ``ACTIVE``, or None when the packaged default is active."""
    pointer = directory / ACTIVE_NAME
    if not pointer.is_file():
        return None
    version = pointer.read_text(encoding="utf-8").strip()
    if not _VERSION_FILE.match(version):
        raise RulesetError(
            str(pointer), [("ACTIVE", f"does not name a ruleset version; {_hint(directory)}")]
        )
    return version


def active_path(directory: Path) -> Path | None:
    """The file of the active ruleset; None for the packaged default."""
    version = active_pointer(directory)
    if version is None:
        return None
    path = directory / f"{version}.yaml"
    if not path.is_file():
        raise RulesetError(
            str(path), [("file", f"the active ruleset file is missing; {_hint(directory)}")]
        )
    return path


def load_active(directory: Path) -> Ruleset:
    """The active ruleset, verified: its content must still have the version it is filed as."""
    path = active_path(directory)
    ruleset = load_ruleset(path)
    if path is not None and ruleset.version_string != path.stem:
        raise RulesetError(
            str(path),
            [
                (
                    "file",
                    f"content is version {ruleset.version_string}, not {path.stem}: it was "
                    f"changed after registration; {_hint(directory)}",
                )
            ],
        )
    return ruleset


def register(directory: Path, source: Path | None) -> Ruleset:
    """Validate a ruleset file (None: the packaged default) and file it under its version."""
    ruleset = load_ruleset(source)
    text = _packaged_text() if source is None else Path(source).read_text(encoding="utf-8")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{ruleset.version_string}.yaml"
    if not target.is_file():
        write_atomically(target, text)
    return ruleset


def resolve(directory: Path, ref: str) -> Path | None:
    """A ruleset named by a file path, a registered version (full or declared part, when
    unique) or ``default``; returns the file (None for the packaged default)."""
    if ref == DEFAULT_REF:
        return None
    if Path(ref).is_file():
        return Path(ref)
    if _VERSION_FILE.match(ref) and (directory / f"{ref}.yaml").is_file():
        return directory / f"{ref}.yaml"
    matches = sorted(directory.glob(f"{ref}+*.yaml")) if _VERSION_FILE.match(ref) else []
    if len(matches) == 1:
        return matches[0]
    if ref == load_ruleset(None).version_string:  # as list_rulesets names it, unregistered
        return None
    known = ", ".join(v["version"] for v in list_rulesets(directory)) or "none"
    raise RulesetError(ref, [("ruleset", f"no such file or registered version (known: {known})")])


def list_rulesets(directory: Path) -> list[dict]:
    """The packaged default and every registered version, with the active one marked."""
    try:
        active = active_pointer(directory)
    except RulesetError:
        active = None
    default = load_ruleset(None)
    found = {default.version_string: {"source": "packaged default"}}
    if directory.is_dir():
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, {})["source"] = str(path)
    return [
        {
            "version": version,
            "source": info["source"],
            "active": version == (active or default.version_string),
        }
        for version, info in found.items()
    ]


def activate(directory: Path, ref: str, *, actor: str, reason: str | None = None) -> dict:
    """Register (if needed) and activate a ruleset; returns the history event."""
    source = resolve(directory, ref)
    ruleset = register(directory, source)
    try:
        previous = active_pointer(directory)
    except RulesetError:
        previous = None
    event = {
        "at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "action": "activate",
        "version": ruleset.version_string,
        "previous": previous or load_ruleset(None).version_string,
        "actor": actor,
        "reason": (reason or "").strip() or None,
    }
    write_atomically(directory / ACTIVE_NAME, ruleset.version_string + "\n")
    append_line(directory / HISTORY_NAME, json.dumps(event, ensure_ascii=False, sort_keys=True))
    return event
