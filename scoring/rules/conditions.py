"""Conditions: the closed set of operators a criterion may use, evaluated column by column
with numpy on whole profile frames, and the fixes that make them true."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from scoring.contract import fields as F
from scoring.contract.columns import ProfileColumns, column, matches

#: Direction in which each input is "better" (+1 more, -1 less). No condition may turn false
#: when one of these improves, and fixes only ever improve them, so that a new certificate,
#: NIB, contact or fair never costs points and one fix never undoes another criterion.
BETTER: Mapping[str, int] = F.BETTER

NUMERIC_KINDS = (F.Kind.INT, F.Kind.FLOAT)
#: The leaf operators and the field types each accepts; with ``all``, ``any`` and ``not``
#: they are every operator a ruleset may use.
LEAF_KINDS: Mapping[str, tuple[F.Kind, ...]] = {
    "true": (F.Kind.BOOL,),
    "false": (F.Kind.BOOL,),
    **dict.fromkeys(
        ("eq", "ne"), (F.Kind.STRING, F.Kind.ENUM, F.Kind.INT, F.Kind.FLOAT, F.Kind.BOOL)
    ),
    **dict.fromkeys(("gt", "ge", "lt", "le"), NUMERIC_KINDS),
    **dict.fromkeys(("in", "not_in"), (F.Kind.STRING, F.Kind.ENUM)),
    **dict.fromkeys(("contains", "contains_any", "contains_all"), (F.Kind.ENUM_LIST,)),
}
OPERATORS: tuple[str, ...] = ("all", "any", "not", *LEAF_KINDS)


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

    def fix_failing(self, columns: ProfileColumns, start: int, end: int) -> None:
        """``fix`` on rows ``start:end`` of ``columns``, all of which fail the condition
        (the profiles an action plan fixes): their arrays are changed in place."""
        names = self.fields
        segment = columns.slice(start, end, names)
        self.fix(segment, np.ones(end - start, dtype=bool))
        for name in names:
            columns[name][start:end] = segment[name]

    def _fix(self, frame: pd.DataFrame, rows: np.ndarray) -> None:
        raise TypeError(f"{self.to_data()} has no fix")


class Leaf(Condition):
    """A test on one field. ``direction`` is +1 if the test can only turn true as the field
    grows, -1 if only as it shrinks, 0 if either way (used to refuse non-monotone rules)."""

    op: str
    field: str
    direction: int

    @cached_property
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

    def fix_failing(self, columns: ProfileColumns, start: int, end: int) -> None:
        if not self.has_fix:
            raise TypeError(f"{self.to_data()} has no fix")
        columns[self.field][start:end] = True


COMPARISONS = {
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
            return COMPARISONS[self.op](_flags(frame, self.field), self.value)
        if self.kind in NUMERIC_KINDS:
            values = _numbers(frame, self.field)
            result = COMPARISONS[self.op](values, self.value)
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
        _assign(frame, self.field, rows, self._fixed_value)

    def fix_failing(self, columns: ProfileColumns, start: int, end: int) -> None:
        if not self.has_fix:
            raise TypeError(f"{self.to_data()} has no fix")
        columns[self.field][start:end] = self._fixed_value

    @property
    def _fixed_value(self) -> Any:
        if self.kind is F.Kind.BOOL:
            return True
        return self.value + 1 if self.op == "gt" else self.value


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

    @cached_property
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
        masks = _masks(frame, self.field).copy()
        masks[rows] |= self._fix_bits
        frame[self.field] = masks

    def fix_failing(self, columns: ProfileColumns, start: int, end: int) -> None:
        if not self.has_fix:
            raise TypeError(f"{self.to_data()} has no fix")
        columns[self.field][start:end] |= self._fix_bits

    @cached_property
    def _fix_bits(self) -> int:
        # contains_any gains the first listed value: rulesets list the cheapest first.
        return F.bit(self.field, self.values[0]) if self.op == "contains_any" else self.mask


@dataclass(frozen=True)
class _Combination(Condition):
    children: tuple[Condition, ...]
    op: ClassVar[str]

    @cached_property
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
