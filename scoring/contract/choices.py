"""Values of enum and list fields as files give them: matched without regard to case,
spaces, '_' and '-', and by their names on the staff pages in either language."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import yaml

from scoring.contract.cells import BLANK_CHARS, fold_case
from scoring.contract.fields import FIELD_BY_NAME

#: Characters ignored when matching enum values ("Food Beverage", "ISO 9001", "OEKO-TEX").
CHOICE_NOISE = f"[{BLANK_CHARS}_\\-]+"
_CHOICE_NOISE_RE = re.compile(CHOICE_NOISE)


def choice_key(text: str) -> str:
    """Key an enum value is matched on: letter case, spaces, '_' and '-' do not matter."""
    return _CHOICE_NOISE_RE.sub("", fold_case(text))


#: Names of enum values as the staff pages show them, both languages (``choices.<lang>.yaml``);
#: market names are those of the shipped ruleset, which the pages show for markets.
CHOICE_LABELS_DIR = Path(__file__).resolve().parents[1] / "labels"
_RULESET_FILE = Path(__file__).resolve().parents[1] / "rulesets" / "default.yaml"
_MARKET_FIELDS = ("export_markets", "target_markets")


@cache
def choice_labels(lang: str) -> dict[str, dict[str, str]]:
    """``{field: {value: name}}`` as the staff pages show them in ``lang`` (``id`` or ``en``);
    the pages' option names are these, so files may give what the form shows."""
    path = CHOICE_LABELS_DIR / f"choices.{lang}.yaml"
    return {
        name: {value: str(label) for value, label in values.items()}
        for name, values in yaml.safe_load(path.read_text(encoding="utf-8")).items()
    }


@cache
def choice_names() -> dict[str, dict[str, list[str]]]:
    """``{field: {value: [names shown on the staff pages]}}`` for every enum and list field
    whose values have names (certificates are shown as they are). Read once a process and
    shared: callers must not change it."""
    names: dict[str, dict[str, list[str]]] = {}
    for path in sorted(CHOICE_LABELS_DIR.glob("choices.*.yaml")):
        for name, values in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            for value, label in values.items():
                names.setdefault(name, {}).setdefault(value, []).append(str(label))
    markets = yaml.safe_load(_RULESET_FILE.read_text(encoding="utf-8"))["markets"]
    for name in _MARKET_FIELDS:
        names[name] = {value: [str(v) for v in label.values()] for value, label in markets.items()}
    return names


@cache
def choice_lookup(name: str) -> dict[str, str]:
    """``choice_key(text) -> canonical value`` for an enum or list field: the values, in
    choice order, then their names on the staff pages in either language ("Kerajinan",
    "Laki-laki", "Jepang"), so a form's label typed into a spreadsheet is read."""
    choices = FIELD_BY_NAME[name].choices
    lookup = {choice_key(choice): choice for choice in choices}
    assert len(lookup) == len(choices), name
    for value, labels in choice_names().get(name, {}).items():
        for label in labels:
            seen = lookup.setdefault(choice_key(label), value)
            if seen != value:
                raise ValueError(f"{name}: the name {label!r} means both {seen!r} and {value!r}")
    return lookup


@cache
def choice_positions(name: str) -> np.ndarray:
    """Position in the field's choices of each ``choice_lookup`` entry, in lookup order."""
    choices = FIELD_BY_NAME[name].choices
    return np.array([choices.index(v) for v in choice_lookup(name).values()], dtype=np.int64)
