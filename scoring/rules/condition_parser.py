"""Reading a criterion's condition from ruleset data into condition nodes, naming every problem."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

from scoring.contract import fields as F
from scoring.rules.conditions import (
    LEAF_KINDS,
    NUMERIC_KINDS,
    OPERATORS,
    AllOf,
    AnyOf,
    Compare,
    Condition,
    Contains,
    Leaf,
    Member,
    Not,
    Truth,
)

#: Fields a condition may read: the profile frame minus the identifiers.
CONDITION_FIELDS = frozenset(F.PROFILE_COLUMNS) - {"sme_id", "name"}


def is_number(value: Any) -> bool:
    """A finite int or float (a bool is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def describe(value: Any) -> str:
    """A value and its type, as problem messages show it."""
    return f"{value!r} ({type(value).__name__})"


class ConditionParser:
    """Turns one criterion's ``condition`` mapping into a Condition tree, noting every problem."""

    def __init__(self, where: str, problems: list[tuple[str, str]]) -> None:
        self.where = where
        self.problems = problems

    def problem(self, path: str, why: str) -> None:
        self.problems.append((self.where, f"{path}: {why}"))

    def parse(self, raw: Any, path: str = "condition") -> Condition | None:
        if not isinstance(raw, Mapping) or len(raw) != 1:
            self.problem(path, "must be a mapping with exactly one operator, e.g. {true: has_nib}")
            return None
        ((key, arg),) = raw.items()
        # YAML 1.1 reads the bare keys true/false as booleans.
        op = ("true" if key else "false") if isinstance(key, bool) else key
        path = f"{path}.{op}"
        if op in ("all", "any"):
            return self._combine(op, arg, path)
        if op == "not":
            child = self.parse(arg, path)
            return None if child is None else Not(child)
        if op in ("true", "false"):
            spec = self._field(op, arg, path)
            return None if spec is None else Truth(spec.name, op == "true")
        if op in LEAF_KINDS:
            return self._leaf(op, arg, path)
        self.problem(path, f"unknown operator {op!r}; allowed: {', '.join(OPERATORS)}")
        return None

    def _combine(self, op: str, arg: Any, path: str) -> Condition | None:
        if not isinstance(arg, list) or not arg:
            self.problem(path, f"'{op}' needs a non-empty list of conditions")
            return None
        children = [self.parse(child, f"{path}[{i}]") for i, child in enumerate(arg)]
        if any(child is None for child in children):
            return None
        return (AllOf if op == "all" else AnyOf)(tuple(children))

    def _field(self, op: str, name: Any, path: str) -> F.Field | None:
        if not isinstance(name, str):
            self.problem(path, f"field name must be text, got {describe(name)}")
            return None
        spec = F.FIELD_BY_NAME.get(name)
        if spec is not None and spec.personal:
            self.problem(
                path,
                f"'{name}' is personal data (kept only for contact or to audit fairness) "
                "and may never be used in a rule",
            )
            return None
        if name in ("sme_id", "name"):
            self.problem(path, f"'{name}' identifies the SME; it is not a readiness condition")
            return None
        if name not in CONDITION_FIELDS:
            close = difflib.get_close_matches(name, sorted(CONDITION_FIELDS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.problem(path, f"unknown field '{name}'{hint}")
            return None
        kinds = LEAF_KINDS[op]
        if spec.kind not in kinds:
            wanted = " or ".join(k.value for k in kinds)
            self.problem(
                path, f"'{op}' needs a field of type {wanted}; '{name}' is {spec.kind.value}"
            )
            return None
        return spec

    def _leaf(self, op: str, arg: Any, path: str) -> Leaf | None:
        if not isinstance(arg, Mapping) or len(arg) != 1:
            self.problem(
                path,
                f"'{op}' needs one field and its value, e.g. {{{op}: {{FIELD: VALUE}}}}",
            )
            return None
        ((name, value),) = arg.items()
        spec = self._field(op, name, path)
        if spec is None:
            return None
        path = f"{path}.{name}"
        if op in ("in", "not_in", "contains_any", "contains_all"):
            values = self._value_list(spec, value, path)
            if values is None:
                return None
            return (Member if op in ("in", "not_in") else Contains)(op, spec.name, values)
        if op == "contains":
            ok = self._scalar(spec, value, path)
            return Contains(op, spec.name, (value,)) if ok else None
        if not self._scalar(spec, value, path):
            return None
        if spec.kind is F.Kind.INT:
            value = int(value)
        return Compare(op, spec.name, value)

    def _value_list(self, spec: F.Field, value: Any, path: str) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value:
            self.problem(path, "needs a non-empty list of values")
            return None
        valid = [self._scalar(spec, v, path) for v in value]  # checks (and reports) every value
        if not all(valid):
            return None
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            self.problem(path, f"values listed twice: {', '.join(duplicates)}")
            return None
        return tuple(value)

    def _scalar(self, spec: F.Field, value: Any, path: str) -> bool:
        """Is ``value`` a valid value of ``spec`` (for lists: of one item)?"""
        why = None
        if spec.kind is F.Kind.BOOL:
            if not isinstance(value, bool):
                why = f"must be true or false, got {describe(value)}"
        elif spec.kind in NUMERIC_KINDS:
            if not is_number(value):
                why = f"must be a number, got {describe(value)}"
            elif spec.kind is F.Kind.INT and value != int(value):
                why = f"must be a whole number, got {value!r}"
            elif spec.min is not None and value < spec.min:
                why = f"{value!r} is below the field's minimum {spec.min:g}"
            elif spec.max is not None and value > spec.max:
                why = f"{value!r} is above the field's maximum {spec.max:g}"
        elif not isinstance(value, str):
            why = f"must be text, got {describe(value)}"
        elif spec.choices and value not in spec.choices:
            why = f"{value!r} is not one of {', '.join(spec.choices)}"
        elif spec.pattern and not re.fullmatch(spec.pattern, value):
            why = f"{value!r} does not match the field's pattern {spec.pattern}"
        if why:
            self.problem(path, why)
        return why is None
