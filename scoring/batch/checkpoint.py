"""Where a run keeps its state: the files beside the output and the checkpoint a resume reads.

``OUT.part.checkpoint`` is a small JSON file that names the input (size, modification time,
hash of its head), the settings, and how many chunks, rows and bytes are complete; a resume
is refused when the input, the settings, the model or the ruleset changed since.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from scoring.engine import Scorer
from scoring.errors import RescoreError

CHECKPOINT_VERSION = 1
_HEAD_BYTES = 1 << 20


def check_writable(out: Path) -> None:
    """Fail before any work when files cannot be created beside ``out``."""
    probe = out.with_name(out.name + ".part.probe")
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise RescoreError(f"cannot write {out}: {exc.strerror}") from exc


def input_fingerprint(path: Path) -> dict:
    """What tells a changed input apart: size, modification time and a hash of its head."""
    stat = path.stat()
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(_HEAD_BYTES)).hexdigest()
    return {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head": head}


@dataclass(frozen=True)
class OutputPaths:
    """The files a run writes beside ``out``."""

    out: Path

    @property
    def partial(self) -> Path:
        return self.out.with_name(self.out.name + ".part")

    @property
    def parts(self) -> Path:
        return self.out.with_name(self.out.name + ".part.chunks")

    @property
    def checkpoint(self) -> Path:
        return self.out.with_name(self.out.name + ".part.checkpoint")

    @property
    def rejected(self) -> Path:
        return self.out.with_name(self.out.stem + ".rejected.csv")

    @property
    def rejected_partial(self) -> Path:
        return self.rejected.with_name(self.rejected.name + ".part")


@dataclass
class Checkpoint:
    """How far a run got; saved atomically after each chunk's output is on disk."""

    input: dict
    settings: dict
    scored_at: str
    chunks_done: int = 0
    received: int = 0
    rows_written: int = 0
    rejected: int = 0
    skipped: int = 0  # non-data rows (totals, notes, signatures), not counted in received
    out_bytes: int = 0  # CSV and JSON Lines: complete bytes of OUT.part
    out_parts: int = 0  # Parquet: files under OUT.part.chunks/ (chunks with scored rows)
    rejected_bytes: int = 0
    version: int = CHECKPOINT_VERSION

    def save(self, path: Path) -> None:
        temporary = temporary_path(path)
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise RescoreError(
                f"{path.name} is not a readable checkpoint ({exc}); rerun without --resume"
            ) from exc


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    return path.with_name(path.name + ".tmp")


def resume_checkpoint(
    paths: OutputPaths,
    source: Path,
    scorer: Scorer,
    settings: dict,
    *,
    resume: bool,
    scored_at: str,
) -> tuple[Checkpoint, bool]:
    """The checkpoint to continue from (and whether it is fresh), refusing one made from
    another input, with other ``settings`` or with another model or ruleset."""
    fingerprint = input_fingerprint(source)
    settings = {
        **settings,
        "model_version": scorer.model.version,
        "ruleset_version": scorer.ruleset.version_string,
    }
    if not resume or not paths.checkpoint.exists():
        return Checkpoint(input=fingerprint, settings=settings, scored_at=scored_at), True
    previous = Checkpoint.load(paths.checkpoint)
    if previous.version != CHECKPOINT_VERSION:
        raise RescoreError(
            f"{paths.checkpoint.name} was written by another version; rerun without --resume"
        )
    if previous.input != fingerprint:
        changed = [k for k in fingerprint if previous.input.get(k) != fingerprint[k]]
        raise RescoreError(
            f"cannot resume: the input is not the one the interrupted run read "
            f"({', '.join(changed)} changed); rerun without --resume to start over"
        )
    for name, value in settings.items():
        if previous.settings.get(name) != value:
            raise RescoreError(
                f"cannot resume: the interrupted run used {name} {previous.settings.get(name)}, "
                f"this one {value}; resume with the same settings or rerun without --resume"
            )
    return previous, False
