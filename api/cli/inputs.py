"""The profiles the governance commands read: labelled files, profile files, and cohorts
given as a file or by the name they are stored under."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from api.cli.common import fail, one_line
from api.cli.stored import stored_cohort
from scoring.errors import ScoringError


def read_labelled(path: Path):
    """A labelled file validated as for training; every invalid row stops the command."""
    from scoring.contract.validate import validate_table
    from scoring.files.readers import read_table

    try:
        batch = validate_table(read_table(path), require_label=True)
    except ScoringError as exc:
        fail(f"{path}: {one_line(exc)}")
    if batch.errors:
        fail(f"{path}: {len(batch.errors)} of {batch.received} rows are invalid")
    return batch


def read_profiles(path: Path) -> pd.DataFrame:
    """The valid profiles of a file, labelled or not (rejected rows are reported and left
    out)."""
    from scoring.contract.fields import LABEL
    from scoring.contract.validate import validate_table
    from scoring.files.readers import read_table

    try:
        raw = read_table(path)
        batch = validate_table(raw, require_label=LABEL in raw.frame.columns)
    except ScoringError as exc:
        fail(f"{path}: {one_line(exc)}")
    if batch.errors:
        click.echo(f"warning: {path}: {len(batch.errors)} invalid rows left out", err=True)
    return batch.profiles


def cohort_profiles(cohort: str) -> pd.DataFrame:
    """A cohort's profiles: a file, else a cohort name stored in the service's database."""
    if Path(cohort).is_file():
        return read_profiles(Path(cohort))
    found = stored_cohort(cohort)
    if found is not None:
        return found
    fail(f"{cohort}: no such file or cohort")
