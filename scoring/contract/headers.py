"""Column headers as offices write them: the contract column each one stands for, in a
profile table and in a follow-up table, from ``scoring/labels/headers.yaml``.

A header is matched on its letters and digits only ("Omzet Tahunan (Rp)" is "omzet tahunan
rp."), and failing that without a unit in brackets at its end ("Jumlah Karyawan (orang)").
The table is checked when loaded: a header that would mean two columns of one table is
refused, so no header is ever read as the wrong column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from scoring.contract.fields import ALL_COLUMNS, LABEL
from scoring.contract.outcomes import OUTCOME_COLUMNS
from scoring.errors import ScoringError

HEADERS_FILE = Path(__file__).resolve().parents[1] / "labels" / "headers.yaml"
#: The kinds of table a spreadsheet may hold, and the columns of each.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "profile": (*ALL_COLUMNS, LABEL),
    "followup": OUTCOME_COLUMNS,
}
LANGUAGES = ("id", "en")
_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")
_TRAILING_UNIT = re.compile(r"\s*[(\[][^()\[\]]*[)\]]\s*$")


class HeaderAliasError(ScoringError, ValueError):
    """The table of header names is broken: a header meaning two columns, an unknown column."""


def header_key(text: object) -> str:
    """What a header is matched on: its letters and digits, in lower case."""
    return _NOT_LETTER_OR_DIGIT.sub("", str(text).casefold())


@dataclass(frozen=True)
class HeaderAliases:
    """For each kind of table, the column each header key stands for (the contract's own
    names included)."""

    columns: Mapping[str, Mapping[str, str]]

    def column(self, kind: str, header: object) -> str | None:
        """The column of a ``kind`` table that ``header`` names, or None."""
        lookup = self.columns[kind]
        found = lookup.get(header_key(header))
        if found is None:
            without_unit = _TRAILING_UNIT.sub("", str(header))
            found = lookup.get(header_key(without_unit)) if without_unit else None
        return found


def load_header_aliases(path: Path = HEADERS_FILE) -> HeaderAliases:
    """The header table in ``path``; ``HeaderAliasError`` naming every problem found: an
    unknown kind or column, a column without an Indonesian name, a name without letters or
    digits, a name that means two columns of one table."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    problems: list[str] = []
    columns: dict[str, dict[str, str]] = {}
    if not isinstance(data, Mapping):
        raise HeaderAliasError(f"{path.name}: expected a mapping of table kinds")
    for kind in data:
        if kind not in TABLE_COLUMNS:
            problems.append(f"unknown table kind {kind!r}; expected {', '.join(TABLE_COLUMNS)}")
    for kind, known in TABLE_COLUMNS.items():
        lookup = {header_key(name): name for name in known}
        entries = data.get(kind) or {}
        for column, names in entries.items():
            if column not in known:
                problems.append(f"{kind}: {column!r} is not a column of a {kind} table")
                continue
            for text in _names(kind, column, names, problems):
                key = header_key(text)
                if not key:
                    problems.append(f"{kind}.{column}: {text!r} has no letter or digit")
                    continue
                seen = lookup.setdefault(key, column)
                if seen != column:
                    problems.append(f"{kind}: {text!r} would mean both {seen!r} and {column!r}")
        columns[kind] = lookup
    if problems:
        raise HeaderAliasError(f"{path.name}: " + "; ".join(problems))
    return HeaderAliases(columns)


def _names(kind: str, column: str, names: object, problems: list[str]) -> list[str]:
    """The names of one column in every language; a column without one in Indonesian, or
    names that are not a list of texts, are problems."""
    where = f"{kind}.{column}"
    if not isinstance(names, Mapping) or set(names) - set(LANGUAGES):
        problems.append(f"{where}: expected names by language ({', '.join(LANGUAGES)})")
        return []
    out = []
    for lang in LANGUAGES:
        listed = names.get(lang) or []
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            problems.append(f"{where}.{lang}: expected a list of names")
            continue
        if lang == "id" and not listed:
            problems.append(f"{where}: no Indonesian name")
        out.extend(listed)
    return out


@cache
def header_aliases() -> HeaderAliases:
    """The shipped header table (``scoring/labels/headers.yaml``), loaded once."""
    return load_header_aliases()
