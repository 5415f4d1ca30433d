"""The export-standard checklist: a ruleset read from YAML and evaluated on whole profile frames.

Policy staff edit the ruleset as data (``scoring/rulesets/default.yaml``). Conditions use a
closed set of operators, parsed once into small node objects and evaluated column by column
with numpy: no ``eval``, no loop over rows. Loading checks everything and reports every
problem at once, naming the criterion or section.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import yaml

from scoring.contract import fields as F
from scoring.contract.columns import codes_of, column, matches
from scoring.errors import RulesetError

LANGUAGES = ("id", "en")
#: The report's categories, fixed by the contract (SPEC section 2).
CATEGORIES = ("legal", "product", "capacity", "market", "people", "digital", "finance")
#: Fields a condition may read: the profile frame minus the identifiers.
CONDITION_FIELDS = frozenset(F.PROFILE_COLUMNS) - {"sme_id", "name"}
#: Direction in which each input is "better" (+1 more, -1 less). No condition may turn false
#: when one of these improves, and fixes only ever improve them, so that a new certificate,
#: NIB, contact or fair never costs points and one fix never undoes another criterion.
BETTER: Mapping[str, int] = F.BETTER

_ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
_TOP_KEYS = (
    "id",
    "version",
    "title",
    "blend",
    "tiers",
    "knockout_tier",
    "categories",
    "markets",
    "criteria",
)
_CRITERION_REQUIRED = ("id", "category", "points", "condition", "label", "recommendation")
_CRITERION_OPTIONAL = ("applies_to", "knockout", "actionable", "recommendation_by_sector")
_APPLIES_TO = {"sectors": F.SECTORS, "target_markets": F.MARKETS}
_NUMERIC = (F.Kind.INT, F.Kind.FLOAT)
_SCALAR = (F.Kind.STRING, F.Kind.ENUM, F.Kind.INT, F.Kind.FLOAT, F.Kind.BOOL)
_TEXT = (F.Kind.STRING, F.Kind.ENUM)


# --------------------------------------------------------------------------- conditions


def _flags(frame: pd.DataFrame, name: str) -> np.ndarray:
    return column(frame, name, bool)


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    return column(frame, name, np.float64)


def _masks(frame: pd.DataFrame, name: str) -> np.ndarray:
    return column(frame, name, np.int64)


def _assign(frame: pd.DataFrame, name: str, rows: np.ndarray, value: Any) -> None:
    values = np.array(column(frame, name), copy=True)
    values[rows] = value
    frame[name] = values


class Condition(ABC):
    """A node of a parsed condition: one bool per row; some nodes can make themselves true."""

    @property
    @abstractmethod
    def fields(self) -> frozenset[str]:
        """Profile fields the condition reads."""

    @abstractmethod
    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        """(n,) bool over the rows of a canonical profile frame."""

    @abstractmethod
    def to_data(self) -> dict[str, Any]:
        """The condition as written in a ruleset (canonical form)."""

    @abstractmethod
    def leaves(self, sign: int = 1) -> Iterator[tuple[Leaf, int]]:
        """Every leaf with its sign: -1 under an odd number of ``not``."""

    @property
    def has_fix(self) -> bool:
        return False

    def fix(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        """Make the condition true on ``rows`` of ``frame``, in place, where it is false."""
        todo = rows & ~self.evaluate(frame)
        if todo.any():
            self._fix(frame, todo)

    def _fix(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        raise TypeError(f"{self.to_data()} has no fix")


class Leaf(Condition):
    """A test on one field. ``direction`` is +1 if the test can only turn true as the field
    grows, -1 if only as it shrinks, 0 if either way (used to refuse non-monotone rules)."""

    op: str
    field: str
    direction: int

    @property
    def fields(self) -> frozenset[str]:
        return frozenset({self.field})

    def leaves(self, sign: int = 1) -> Iterator[tuple[Leaf, int]]:
        yield self, sign


@dataclass(frozen=True)
class Truth(Leaf):
    """``true: FIELD`` or ``false: FIELD`` on a boolean field."""

    field: str
    want: bool

    @property
    def op(self) -> str:
        return "true" if self.want else "false"

    @property
    def direction(self) -> int:
        return 1 if self.want else -1

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        values = _flags(frame, self.field)
        return values if self.want else ~values

    def to_data(self) -> dict[str, Any]:
        return {self.op: self.field}

    @property
    def has_fix(self) -> bool:
        return self.want

    def _fix(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        _assign(frame, self.field, rows, True)


_COMPARE = {
    "eq": np.equal,
    "ne": np.not_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "lt": np.less,
    "le": np.less_equal,
}


@dataclass(frozen=True)
class Compare(Leaf):
    """``eq|ne|gt|ge|lt|le: {FIELD: VALUE}``; a missing value satisfies none of them."""

    op: str
    field: str
    value: Any

    @property
    def kind(self) -> F.Kind:
        return F.FIELD_BY_NAME[self.field].kind

    @property
    def direction(self) -> int:
        if self.kind is F.Kind.BOOL:
            return 1 if (self.op == "eq") == self.value else -1
        return {"gt": 1, "ge": 1, "lt": -1, "le": -1}.get(self.op, 0)

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        if self.kind is F.Kind.BOOL:
            return _COMPARE[self.op](_flags(frame, self.field), self.value)
        if self.kind in _NUMERIC:
            values = _numbers(frame, self.field)
            result = _COMPARE[self.op](values, self.value)
            return result & ~np.isnan(values) if self.op == "ne" else result
        hit, present = matches(frame, self.field, [self.value])
        return hit if self.op == "eq" else present & ~hit

    def to_data(self) -> dict[str, Any]:
        return {self.op: {self.field: self.value}}

    @property
    def has_fix(self) -> bool:
        if self.kind is F.Kind.BOOL:
            return self.op == "eq" and self.value is True
        if BETTER.get(self.field) != 1:
            return False
        return self.op == "ge" or (self.op == "gt" and self.kind is F.Kind.INT)

    def _fix(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        # Only rows below the threshold (or missing) get here, so the threshold is the max.
        if self.kind is F.Kind.BOOL:
            _assign(frame, self.field, rows, True)
        else:
            _assign(frame, self.field, rows, self.value + 1 if self.op == "gt" else self.value)


@dataclass(frozen=True)
class Member(Leaf):
    """``in|not_in: {FIELD: [VALUES]}`` on a text field; a missing value satisfies neither."""

    op: str
    field: str
    values: tuple[str, ...]
    direction: ClassVar[int] = 0

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        hit, present = matches(frame, self.field, self.values)
        return hit if self.op == "in" else present & ~hit

    def to_data(self) -> dict[str, Any]:
        return {self.op: {self.field: list(self.values)}}


@dataclass(frozen=True)
class Contains(Leaf):
    """``contains|contains_any|contains_all`` on a list field held as a bit mask."""

    op: str
    field: str
    values: tuple[str, ...]
    direction: ClassVar[int] = 1

    @property
    def mask(self) -> int:
        return F.list_to_mask(self.field, self.values)

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        held = _masks(frame, self.field) & self.mask
        return held != 0 if self.op == "contains_any" else held == self.mask

    def to_data(self) -> dict[str, Any]:
        value = self.values[0] if self.op == "contains" else list(self.values)
        return {self.op: {self.field: value}}

    @property
    def has_fix(self) -> bool:
        # target_markets is not "more is better": a fix must never change applicability.
        return BETTER.get(self.field) == 1

    def _fix(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        # contains_any gains the first listed value: rulesets list the cheapest first.
        bits = F.bit(self.field, self.values[0]) if self.op == "contains_any" else self.mask
        masks = _masks(frame, self.field).copy()
        masks[rows] |= bits
        frame[self.field] = masks


@dataclass(frozen=True)
class _Combination(Condition):
    children: tuple[Condition, ...]
    op: ClassVar[str]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset().union(*(c.fields for c in self.children))

    def to_data(self) -> dict[str, Any]:
        return {self.op: [c.to_data() for c in self.children]}

    def leaves(self, sign: int = 1) -> Iterator[tuple[Leaf, int]]:
        for child in self.children:
            yield from child.leaves(sign)


@dataclass(frozen=True)
class AllOf(_Combination):
    """``all: [...]``: fixed by fixing every child."""

    op: ClassVar[str] = "all"

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        return np.logical_and.reduce([c.evaluate(frame) for c in self.children])

    @property
    def has_fix(self) -> bool:
        return all(c.has_fix for c in self.children)

    def _fix(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        # Fixes only improve "more is better" inputs, so a later one never undoes an earlier one.
        for child in self.children:
            child.fix(frame, rows)


@dataclass(frozen=True)
class AnyOf(_Combination):
    """``any: [...]``: fixed by fixing the first alternative."""

    op: ClassVar[str] = "any"

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        return np.logical_or.reduce([c.evaluate(frame) for c in self.children])

    @property
    def has_fix(self) -> bool:
        return self.children[0].has_fix

    def _fix(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        self.children[0].fix(frame, rows)


@dataclass(frozen=True)
class Not(Condition):
    """``not: cond``: never fixable."""

    child: Condition
    op: ClassVar[str] = "not"

    @property
    def fields(self) -> frozenset[str]:
        return self.child.fields

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        return ~self.child.evaluate(frame)

    def to_data(self) -> dict[str, Any]:
        return {"not": self.child.to_data()}

    def leaves(self, sign: int = 1) -> Iterator[tuple[Leaf, int]]:
        yield from self.child.leaves(-sign)


# --------------------------------------------------------------------------- parsing


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


class _ConditionParser:
    """Turns one criterion's ``condition`` mapping into a Condition tree, noting every problem."""

    LEAF_KINDS: ClassVar[dict[str, tuple[F.Kind, ...]]] = {
        "true": (F.Kind.BOOL,),
        "false": (F.Kind.BOOL,),
        **dict.fromkeys(("eq", "ne"), _SCALAR),
        **dict.fromkeys(("gt", "ge", "lt", "le"), _NUMERIC),
        **dict.fromkeys(("in", "not_in"), _TEXT),
        **dict.fromkeys(("contains", "contains_any", "contains_all"), (F.Kind.ENUM_LIST,)),
    }
    OPERATORS: ClassVar[tuple[str, ...]] = ("all", "any", "not", *LEAF_KINDS)

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
        if op in self.LEAF_KINDS:
            return self._leaf(op, arg, path)
        self.problem(path, f"unknown operator {op!r}; allowed: {', '.join(self.OPERATORS)}")
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
            self.problem(path, f"field name must be text, got {_describe(name)}")
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
        kinds = self.LEAF_KINDS[op]
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
                why = f"must be true or false, got {_describe(value)}"
        elif spec.kind in _NUMERIC:
            if not _is_number(value):
                why = f"must be a number, got {_describe(value)}"
            elif spec.kind is F.Kind.INT and value != int(value):
                why = f"must be a whole number, got {value!r}"
            elif spec.min is not None and value < spec.min:
                why = f"{value!r} is below the field's minimum {spec.min:g}"
            elif spec.max is not None and value > spec.max:
                why = f"{value!r} is above the field's maximum {spec.max:g}"
        elif not isinstance(value, str):
            why = f"must be text, got {_describe(value)}"
        elif spec.choices and value not in spec.choices:
            why = f"{value!r} is not one of {', '.join(spec.choices)}"
        elif spec.pattern and not re.fullmatch(spec.pattern, value):
            why = f"{value!r} does not match the field's pattern {spec.pattern}"
        if why:
            self.problem(path, why)
        return why is None


# --------------------------------------------------------------------------- the ruleset


@dataclass(frozen=True)
class Tier:
    id: str
    min_score: float
    label: dict[str, str]


@dataclass(frozen=True)
class Category:
    id: str
    label: dict[str, str]


@dataclass(frozen=True)
class Market:
    id: str
    label: dict[str, str]


@dataclass(frozen=True, eq=False)
class Criterion:
    """One checklist item: met when its condition holds on a profile it applies to."""

    id: str
    category: str
    points: float
    condition: Condition
    label: dict[str, str]
    recommendation: dict[str, str]
    knockout: bool = False
    actionable: bool = True
    applies_sectors: tuple[str, ...] | None = None
    applies_markets: tuple[str, ...] | None = None
    #: Sector-specific advice that replaces ``recommendation`` for the sectors named.
    recommendation_by_sector: Mapping[str, dict[str, str]] = field(default_factory=dict)

    @property
    def fields(self) -> frozenset[str]:
        return self.condition.fields

    def recommendation_for(self, sector: str | None) -> dict[str, str]:
        """The advice for an SME of ``sector``: its sector's own text, else the general one."""
        return self.recommendation_by_sector.get(sector, self.recommendation)


@dataclass(frozen=True)
class RuleResult:
    """Rule outcomes for n profiles and the ruleset's C criteria, K categories, M markets."""

    applicable: np.ndarray  # (n, C) bool
    met: np.ndarray  # (n, C) bool, False where not applicable
    rules_score: np.ndarray  # (n,) 0..100; 0 where nothing applies
    category_scores: np.ndarray  # (n, K) 0..100; NaN where no criterion of the category applies
    market_scores: np.ndarray  # (n, M) 0..100; NaN where the market is not targeted
    knockout_failed: np.ndarray  # (n,) bool
    possible_points: np.ndarray  # (n,) points of the applicable criteria (rules_score's base)
    sector_codes: np.ndarray | None = None  # (n,) index into fields.SECTORS, -1 for none

    def sector(self, i: int) -> str | None:
        """The sector of profile ``i`` (None when unknown)."""
        code = -1 if self.sector_codes is None else int(self.sector_codes[i])
        return F.SECTORS[code] if code >= 0 else None


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _percent(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """100 * num / den, NaN where den is 0."""
    out = np.full(num.shape, np.nan)
    np.divide(100.0 * num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True, eq=False)
class Ruleset:
    """A validated, immutable ruleset with its criteria compiled to arrays."""

    id: str
    version: str
    fingerprint: str  # sha256 of the canonical JSON of the parsed document
    title: dict[str, str]
    rules_weight: float
    ml_weight: float
    tiers: tuple[Tier, ...]  # highest min_score first
    knockout_tier: str
    categories: tuple[Category, ...]
    markets: tuple[Market, ...]  # in fields.MARKETS order
    criteria: tuple[Criterion, ...]
    points: np.ndarray = field(init=False, repr=False)
    category_index: np.ndarray = field(init=False, repr=False)
    market_specific: np.ndarray = field(init=False, repr=False)
    market_members: np.ndarray = field(init=False, repr=False)
    actionable: np.ndarray = field(init=False, repr=False)
    knockout: np.ndarray = field(init=False, repr=False)
    _sector_allowed: np.ndarray = field(init=False, repr=False)
    _market_bits: np.ndarray = field(init=False, repr=False)
    _columns: frozenset[str] = field(init=False, repr=False)
    _groups: tuple[np.ndarray, ...] = field(init=False, repr=False)
    _dependents: tuple[np.ndarray, ...] = field(init=False, repr=False)
    _fix_fields: tuple[tuple[str, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        crit = self.criteria
        cat_ids = [c.id for c in self.categories]
        market_ids = [m.id for m in self.markets]
        specific = np.array(
            [
                [c.applies_markets is not None and m in c.applies_markets for c in crit]
                for m in market_ids
            ],
            dtype=bool,
        ).reshape(len(market_ids), len(crit))
        unrestricted = np.array([c.applies_markets is None for c in crit], dtype=bool)
        # (C, sectors + 1): the last column, picked by code -1, is for a missing sector.
        sectors = np.array(
            [[c.applies_sectors is None or s in c.applies_sectors for c in crit] for s in F.SECTORS]
            + [[c.applies_sectors is None for c in crit]],
            dtype=bool,
        ).reshape(len(F.SECTORS) + 1, len(crit))
        arrays = {
            "points": np.array([c.points for c in crit], dtype=np.float64),
            "category_index": np.array([cat_ids.index(c.category) for c in crit], dtype=np.int64),
            "market_specific": specific,
            "market_members": specific | unrestricted[None, :],
            "actionable": np.array([c.actionable for c in crit], dtype=bool),
            "knockout": np.array([c.knockout for c in crit], dtype=bool),
            "_sector_allowed": np.ascontiguousarray(sectors.T),
            "_market_bits": np.array(
                [F.list_to_mask("target_markets", c.applies_markets or ()) for c in crit],
                dtype=np.int64,
            ),
        }
        for name, array in arrays.items():
            object.__setattr__(self, name, _readonly(array))
        columns = frozenset({"sector", "target_markets"}).union(*(c.fields for c in crit))
        object.__setattr__(self, "_columns", columns)
        index = self.category_index
        groups = [np.ones(len(crit), dtype=bool)]
        groups += [index == k for k in range(len(self.categories))]
        groups += list(self.market_members)
        object.__setattr__(self, "_groups", tuple(np.flatnonzero(g) for g in groups))
        dependents = tuple(
            np.array([d for d, other in enumerate(crit) if other.fields & c.fields], dtype=np.int64)
            for c in crit
        )
        object.__setattr__(self, "_dependents", dependents)
        fix_fields = tuple(
            tuple(sorted(set().union(*(crit[d].fields for d in deps)))) for deps in dependents
        )
        object.__setattr__(self, "_fix_fields", fix_fields)

    @property
    def version_string(self) -> str:
        """What every score records: the declared version plus the content fingerprint."""
        return f"{self.version}+{self.fingerprint[:8]}"

    def evaluate(self, frame: pd.DataFrame) -> RuleResult:
        """Applicability, met criteria and scores for every row of a canonical profile frame."""
        missing = sorted(self._columns - set(frame.columns))
        if missing:
            raise ValueError(f"profile frame lacks column(s): {', '.join(missing)}")
        n = len(frame)
        codes = codes_of(frame, "sector", F.SECTORS)
        targets = _masks(frame, "target_markets")
        # Work criterion-major, (C, n), so that every sum below runs over the criteria in file
        # order for each profile: a row's scores never depend on the rows batched with it.
        bits = self._market_bits[:, None]
        applicable = self._sector_allowed[:, codes] & ((bits == 0) | ((bits & targets) != 0))
        met = np.empty((len(self.criteria), n), dtype=bool)
        for c, criterion in enumerate(self.criteria):
            np.logical_and(criterion.condition.evaluate(frame), applicable[c], out=met[c])
        possible = self._group_points(applicable)
        scores = _percent(self._group_points(met), possible)
        n_categories = len(self.categories)
        targeted = np.array([F.has_value(targets, "target_markets", m.id) for m in self.markets])
        targeted = targeted.reshape(len(self.markets), n)
        market_scores = np.where(targeted, scores[1 + n_categories :], np.nan)
        return RuleResult(
            applicable=np.ascontiguousarray(applicable.T),
            met=np.ascontiguousarray(met.T),
            rules_score=np.nan_to_num(scores[0], nan=0.0),
            category_scores=np.ascontiguousarray(scores[1 : 1 + n_categories].T),
            market_scores=np.ascontiguousarray(market_scores.T),
            knockout_failed=(applicable & ~met)[self.knockout].any(axis=0),
            possible_points=possible[0],
            sector_codes=np.asarray(codes),
        )

    def _group_points(
        self, flags: np.ndarray, groups: tuple[np.ndarray, ...] | None = None
    ) -> np.ndarray:
        """(G, n) points of the flagged criteria in each group: all, categories, markets."""
        groups = self._groups if groups is None else groups
        weighted = flags * self.points[:, None]
        sums = np.zeros((len(groups), flags.shape[1]))
        for g, members in enumerate(groups):
            for c in members:
                sums[g] += weighted[c]
        return sums

    def dependents(self, c: int) -> np.ndarray:
        """Criteria whose conditions read a field that criterion ``c``'s fix may change."""
        return self._dependents[c]

    def fix_fields(self, c: int) -> tuple[str, ...]:
        """Every field that scoring criterion ``c``'s fix reads or writes."""
        return self._fix_fields[c]

    def score_fix(
        self, c: int, frame: pd.DataFrame, before: RuleResult, rows: np.ndarray
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """``frame`` (the profiles at ``rows`` of ``before``) with criterion ``c``'s fix applied,
        and their ``rules_score`` after it.

        A fix never changes which criteria apply, and only the criteria that read a field the
        fix changes are evaluated again; the sums run in the same order as ``evaluate``, so the
        score is the same to the bit as evaluating the fixed rows from scratch.
        """
        fixed = self.apply_fix(c, frame)
        met_after = np.ascontiguousarray(before.met[rows].T)
        for d in self.dependents(c):
            condition = self.criteria[d].condition
            np.logical_and(condition.evaluate(fixed), before.applicable[rows, d], out=met_after[d])
        earned = self._group_points(met_after, (self._groups[0],))[0]
        possible = before.possible_points[rows]
        return fixed, np.nan_to_num(_percent(earned, possible), nan=0.0)

    def apply_fix(self, c: int, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``frame`` in which every row meets criterion ``c``'s condition."""
        criterion = self.criteria[c]
        if not criterion.actionable:
            raise ValueError(f"criterion {criterion.id} is not actionable: it has no fix")
        fixed = frame.copy()
        criterion.condition.fix(fixed, np.ones(len(fixed), dtype=bool))
        return fixed

    def assign_tiers(self, scores: np.ndarray, knocked_out: np.ndarray) -> np.ndarray:
        """Tier id per score: the highest tier whose min_score it reaches; knock-outs are capped."""
        scores = np.asarray(scores, dtype=np.float64)
        if np.isnan(scores).any():
            raise ValueError("cannot assign a tier to a NaN score")
        ids = np.array([t.id for t in self.tiers], dtype=object)
        mins = np.array([t.min_score for t in self.tiers], dtype=np.float64)
        above = (mins[None, :] > scores[:, None]).sum(axis=1)
        tiers = ids[np.minimum(above, len(ids) - 1)]
        tiers[np.asarray(knocked_out, dtype=bool)] = self.knockout_tier
        return tiers


# --------------------------------------------------------------------------- loading


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            ({True: "true", False: "false"}[k] if isinstance(k, bool) else str(k)): _canonical(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def _fingerprint(data: Mapping) -> str:
    text = json.dumps(
        _canonical(data), sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _RulesetParser:
    """Checks a whole ruleset document, collecting every problem rather than stopping early."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def add(self, where: str, why: str) -> None:
        self.problems.append((where, why))

    def keys(self, where: str, raw: Mapping, required: tuple, optional: tuple = ()) -> None:
        for key in required:
            if key not in raw:
                self.add(where, f"missing '{key}'")
        for key in raw:
            if key not in required and key not in optional:
                allowed = ", ".join((*required, *optional))
                self.add(where, f"unknown key {key!r} (allowed: {allowed})")

    def text(self, where: str, raw: Any, what: str) -> dict[str, str] | None:
        """A bilingual text: a mapping with exactly ``id`` (Bahasa Indonesia) and ``en``."""
        if not isinstance(raw, Mapping):
            self.add(where, f"{what} must be a mapping with 'id' and 'en' texts")
            return None
        ok = True
        for lang in LANGUAGES:
            if lang not in raw:
                self.add(where, f"{what} is missing '{lang}'")
                ok = False
            elif not _is_text(raw[lang]):
                self.add(where, f"{what}.{lang} must be non-empty text")
                ok = False
        for key in raw:
            if key not in LANGUAGES:
                self.add(where, f"{what} has unknown language {key!r} (allowed: id, en)")
                ok = False
        return {lang: raw[lang].strip() for lang in LANGUAGES} if ok else None

    def identifier(self, where: str, raw: Any, what: str) -> str | None:
        if not isinstance(raw, str) or not _ID_PATTERN.fullmatch(raw):
            self.add(where, f"{what} {raw!r} must be lower-case words joined by '.' or '_'")
            return None
        return raw

    def blend(self, raw: Any) -> tuple[float, float]:
        if not isinstance(raw, Mapping):
            self.add("blend", "must be a mapping with rules_weight and ml_weight")
            return 0.0, 0.0
        self.keys("blend", raw, ("rules_weight", "ml_weight"))
        weights = []
        for key in ("rules_weight", "ml_weight"):
            value = raw.get(key)
            if key in raw and not (_is_number(value) and 0 <= value <= 1):
                self.add("blend", f"{key} must be a number from 0 to 1, got {_describe(value)}")
            weights.append(float(value) if _is_number(value) else 0.0)
        numbers = all(_is_number(raw.get(k)) for k in ("rules_weight", "ml_weight"))
        if numbers and not math.isclose(sum(weights), 1.0, abs_tol=1e-9):
            self.add("blend", f"rules_weight + ml_weight must be 1, got {sum(weights):g}")
        return weights[0], weights[1]

    def tiers(self, raw: Any) -> tuple[Tier, ...]:
        if not isinstance(raw, list) or not raw:
            self.add("tiers", "must be a non-empty list of {id, min_score, label}")
            return ()
        tiers: list[Tier] = []
        previous = math.inf
        seen: set[str] = set()
        for i, item in enumerate(raw):
            where = f"tiers[{i}]"
            if not isinstance(item, Mapping):
                self.add(where, "must be a mapping with id, min_score and label")
                continue
            self.keys(where, item, ("id", "min_score", "label"))
            tier_id = self.identifier(where, item.get("id"), "tier id")
            label = self.text(where, item.get("label"), "label")
            min_score = item.get("min_score")
            if not (_is_number(min_score) and 0 <= min_score <= 100):
                self.add(
                    where, f"min_score must be a number from 0 to 100, got {_describe(min_score)}"
                )
                min_score = None
            elif min_score >= previous:
                self.add(
                    where, f"min_score {min_score:g} must be below the tier above ({previous:g})"
                )
            if tier_id in seen:
                self.add(where, f"tier id '{tier_id}' is used twice")
            if tier_id is not None:
                seen.add(tier_id)
            if min_score is not None:
                previous = min_score
            if tier_id and label and min_score is not None:
                tiers.append(Tier(tier_id, float(min_score), label))
        last = raw[-1]
        if (
            isinstance(last, Mapping)
            and _is_number(last.get("min_score"))
            and last["min_score"] != 0
        ):
            self.add("tiers", "the lowest tier must have min_score 0")
        return tuple(tiers)

    def labelled(self, section: str, raw: Any, allowed: tuple[str, ...]) -> dict[str, dict]:
        """A section mapping ids to bilingual labels; it must name exactly ``allowed``."""
        if not isinstance(raw, Mapping):
            self.add(section, f"must be a mapping of id to label, for {', '.join(allowed)}")
            return {}
        out = {}
        for key, label in raw.items():
            if key not in allowed:
                self.add(section, f"unknown id {key!r} (allowed: {', '.join(allowed)})")
                continue
            text = self.text(section, label, f"label of {key}")
            if text:
                out[key] = text
        for key in allowed:
            if key not in raw:
                self.add(section, f"missing '{key}'")
        return out

    def criteria(self, raw: Any, categories: tuple[str, ...]) -> tuple[Criterion, ...]:
        if not isinstance(raw, list) or not raw:
            self.add("criteria", "must be a non-empty list of criteria")
            return ()
        parsed = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            crit_id = item.get("id") if isinstance(item, Mapping) else None
            where = crit_id if isinstance(crit_id, str) and crit_id else f"criteria[{i}]"
            if where in seen:
                self.add(where, "duplicate criterion id: another criterion above has it")
            seen.add(where)
            criterion = self.criterion(where, item, categories)
            if criterion is not None:
                parsed.append(criterion)
        return tuple(parsed)

    def criterion(self, where: str, raw: Any, categories: tuple[str, ...]) -> Criterion | None:
        if not isinstance(raw, Mapping):
            self.add(
                where, "must be a mapping (id, category, points, condition, label, recommendation)"
            )
            return None
        before = len(self.problems)
        self.keys(where, raw, _CRITERION_REQUIRED, _CRITERION_OPTIONAL)
        if "id" in raw:
            self.identifier(where, raw["id"], "criterion id")
        category = raw.get("category")
        if "category" in raw and category not in categories:
            self.add(where, f"unknown category {category!r} (allowed: {', '.join(categories)})")
        points = raw.get("points")
        if "points" in raw and not (_is_number(points) and points > 0):
            self.add(where, f"points must be a positive number, got {_describe(points)}")
        flags = {}
        for key, default in (("knockout", False), ("actionable", True)):
            flags[key] = raw.get(key, default)
            if not isinstance(flags[key], bool):
                self.add(where, f"{key} must be true or false, got {_describe(flags[key])}")
        label = self.text(where, raw.get("label"), "label") if "label" in raw else None
        advice = (
            self.text(where, raw.get("recommendation"), "recommendation")
            if "recommendation" in raw
            else None
        )
        sectors, markets = self.applies_to(where, raw.get("applies_to"))
        by_sector = self.recommendation_by_sector(
            where, raw.get("recommendation_by_sector", []), sectors
        )
        condition = None
        if "condition" in raw:
            condition = _ConditionParser(where, self.problems).parse(raw["condition"])
        if condition is not None:
            self.monotone(where, condition)
            if flags["actionable"] is True and not condition.has_fix:
                self.add(
                    where,
                    "actionable criterion's condition has no fix (only true, eq ...: true, ge, "
                    "gt on whole numbers, contains*, all and any-first can be fixed): "
                    "rewrite it or set actionable: false",
                )
        if len(self.problems) > before:
            return None
        return Criterion(
            id=raw["id"],
            category=category,
            points=float(points),
            condition=condition,
            label=label,
            recommendation=advice,
            knockout=flags["knockout"],
            actionable=flags["actionable"],
            applies_sectors=sectors,
            applies_markets=markets,
            recommendation_by_sector=by_sector,
        )

    def recommendation_by_sector(
        self, where: str, raw: Any, applies: tuple[str, ...] | None
    ) -> dict[str, dict[str, str]]:
        """``[{sectors: [...], id: ..., en: ...}]``: advice for some sectors in place of the
        general recommendation; each sector known, applicable and named at most once."""
        what = "recommendation_by_sector"
        if not isinstance(raw, list):
            self.add(where, f"{what} must be a list of {{sectors, id, en}}")
            return {}
        out: dict[str, dict[str, str]] = {}
        seen: set[str] = set()
        for k, item in enumerate(raw):
            at = f"{what}[{k}]"
            if not isinstance(item, Mapping):
                self.add(where, f"{at} must be a mapping with sectors, id and en")
                continue
            sectors = item.get("sectors")
            text = self.text(where, {k: v for k, v in item.items() if k != "sectors"}, at)
            if not isinstance(sectors, list) or not sectors:
                self.add(where, f"{at}.sectors must be a non-empty list of sectors")
                continue
            for sector in sectors:
                if sector not in F.SECTORS:
                    self.add(
                        where, f"{at}.sectors: {sector!r} is not one of {', '.join(F.SECTORS)}"
                    )
                elif applies is not None and sector not in applies:
                    self.add(where, f"{at}.sectors: {sector!r} is not in applies_to.sectors")
                elif sector in seen:
                    self.add(where, f"{at}.sectors: {sector!r} has advice above already")
                elif text is not None:
                    out[sector] = text
                seen.add(sector)
        return out

    def applies_to(self, where: str, raw: Any) -> tuple[tuple | None, tuple | None]:
        if raw is None:
            return None, None
        if not isinstance(raw, Mapping) or not raw:
            self.add(where, "applies_to must be a mapping with sectors and/or target_markets")
            return None, None
        out: dict[str, tuple | None] = {"sectors": None, "target_markets": None}
        for key, values in raw.items():
            if key not in _APPLIES_TO:
                self.add(
                    where,
                    f"applies_to key {key!r} is not allowed: only sectors and target_markets "
                    "(so improving a profile never changes which criteria apply)",
                )
                continue
            choices = _APPLIES_TO[key]
            if not isinstance(values, list) or not values:
                self.add(where, f"applies_to.{key} must be a non-empty list")
                continue
            bad = [v for v in values if v not in choices]
            for value in bad:
                self.add(where, f"applies_to.{key}: {value!r} is not one of {', '.join(choices)}")
            if len(set(map(str, values))) != len(values):
                self.add(where, f"applies_to.{key} lists a value twice")
            elif not bad:
                out[key] = tuple(values)
        return out["sectors"], out["target_markets"]

    def monotone(self, where: str, condition: Condition) -> None:
        for leaf, sign in condition.leaves():
            better = BETTER.get(leaf.field)
            if better is not None and leaf.direction * sign != better:
                negated = " under 'not'" if sign < 0 else ""
                word = "more" if better > 0 else "less"
                self.add(
                    where,
                    f"condition '{leaf.op}' on '{leaf.field}'{negated} can turn false when "
                    f"'{leaf.field}' improves; rules may only reward {word} of it",
                )

    def ruleset(self, data: Mapping, source: str) -> Ruleset:
        self.keys("ruleset", data, _TOP_KEYS)
        ruleset_id = self.identifier("id", data.get("id"), "ruleset id") if "id" in data else None
        version = data.get("version")
        if "version" in data and not _is_text(version):
            self.add(
                "version", f'must be text (quote it, e.g. "2026.11.1"), got {_describe(version)}'
            )
        title = self.text("title", data.get("title"), "title") if "title" in data else None
        rules_weight, ml_weight = self.blend(data.get("blend")) if "blend" in data else (0.0, 0.0)
        tiers = self.tiers(data.get("tiers")) if "tiers" in data else ()
        knockout_tier = data.get("knockout_tier")
        raw_tiers = data.get("tiers")
        raw_tiers = raw_tiers if isinstance(raw_tiers, list) else []
        tier_ids = [t.get("id") for t in raw_tiers if isinstance(t, Mapping)]
        if "knockout_tier" in data and knockout_tier not in tier_ids:
            self.add("knockout_tier", f"{knockout_tier!r} is not one of the tiers")
        categories = (
            self.labelled("categories", data.get("categories"), CATEGORIES)
            if "categories" in data
            else {}
        )
        markets = (
            self.labelled("markets", data.get("markets"), F.MARKETS) if "markets" in data else {}
        )
        criteria = self.criteria(data.get("criteria"), CATEGORIES) if "criteria" in data else ()
        if self.problems:
            raise RulesetError(source, self.problems)
        return Ruleset(
            id=ruleset_id,
            version=version.strip(),
            fingerprint=_fingerprint(data),
            title=title,
            rules_weight=rules_weight,
            ml_weight=ml_weight,
            tiers=tiers,
            knockout_tier=knockout_tier,
            categories=tuple(Category(k, v) for k, v in categories.items()),
            markets=tuple(Market(m, markets[m]) for m in F.MARKETS),
            criteria=criteria,
        )


def parse_ruleset(data: Mapping, *, source: str) -> Ruleset:
    """Validate a parsed ruleset document; raise RulesetError listing every problem found."""
    if not isinstance(data, Mapping):
        raise RulesetError(
            source, [("ruleset", f"must be a mapping of sections, got {type(data).__name__}")]
        )
    return _RulesetParser().ruleset(data, source)


class _StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_ruleset(path: str | Path | None = None) -> Ruleset:
    """Read and validate a ruleset YAML file; ``None`` loads the packaged default ruleset."""
    if path is None:
        source = "scoring/rulesets/default.yaml"
        resource = resources.files("scoring").joinpath("rulesets").joinpath("default.yaml")
        text = resource.read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesetError(source, [("file", f"cannot be read: {exc}")]) from exc
    try:
        data = yaml.load(text, Loader=_StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        why = getattr(exc, "problem", None) or str(exc)
        raise RulesetError(source, [("yaml", f"{at}{why}")]) from exc
    return parse_ruleset(data, source=source)
