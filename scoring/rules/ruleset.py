"""The export-standard checklist: a validated ruleset and its evaluation on whole profile frames.

Policy staff edit the ruleset as data (``scoring/rulesets/default.yaml``);
``scoring.rules.loading`` reads and checks it into the immutable ``Ruleset`` here, whose
criteria are compiled to arrays so that every profile of a frame is scored at once, with no
loop over rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.contract import fields as F
from scoring.contract.columns import ProfileColumns, codes_of, column
from scoring.rules.condition_set import ConditionSet
from scoring.rules.conditions import Condition

#: The report's categories, fixed by the contract (SPEC section 2).
CATEGORIES = ("legal", "product", "capacity", "market", "people", "digital", "finance")


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
    #: Markets that enforce this criterion, which applies whatever the target market: each
    #: reports it as a requirement of its own (halal for the Gulf states, SVLK for the EU).
    enforced_by: tuple[str, ...] = ()
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
    earned_points: np.ndarray  # (n,) points of the met criteria
    sector_codes: np.ndarray | None = None  # (n,) index into fields.SECTORS, -1 for none

    def sector(self, i: int) -> str | None:
        """The sector of profile ``i`` (None when unknown)."""
        code = -1 if self.sector_codes is None else int(self.sector_codes[i])
        return F.SECTORS[code] if code >= 0 else None


@dataclass(frozen=True)
class FixFamily:
    """The pairs ``start:end`` of ``Fixes``: fixes of criteria whose conditions read the same
    fields, so that they are followed by the same evaluations."""

    start: int
    end: int
    changed: frozenset[str]  # the fields the family's fixes may change
    profiles: ProfileColumns  # the pairs' fixed profiles: every field the family reads
    #: True when ``profiles`` holds every field of the scored profiles (the pairs of all
    #: fixes at once, ``Ruleset.score_fixes`` with few pairs)
    whole: bool = False


@dataclass(frozen=True)
class Fixes:
    """Candidate fixes applied: one pair per (profile, criterion), in families."""

    rows: np.ndarray  # (pairs,) the profile of each pair, an index into the scored profiles
    criteria: np.ndarray  # (pairs,) the criterion whose fix the pair's profile has
    families: list[FixFamily]
    rules_score: np.ndarray  # (pairs,) rules_score of each fixed profile


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


#: Multiply-adds of one matrix product of group points: OpenBLAS runs a product of up to
#: 262,144 on one thread, and threads that wait for each other stall a busy machine.
_PRODUCT_SIZE = 200_000
#: Profiles whose group points are summed together, criterion by criterion (when the
#: points do not add up exactly in any order).
_POINTS_BLOCK = 16_384
#: From this many fixed profiles on, their points are their profiles' changed by the
#: criteria evaluated again, when points add up exactly (fewer are summed again).
_CHANGED_POINTS_PAIRS = 512
#: Up to this many fixed profiles, every criterion is evaluated again on all of them at
#: once (a single score's fixes), rather than each family's few criteria on its own pairs:
#: a few calls over every field beat a few calls per family.
_TOGETHER_PAIRS = 64
#: Points that are multiples of this, and whose total stays below 2**53 of it, add up
#: exactly in double precision: every partial sum is representable, in any order.
_POINT_QUANTUM = 2.0**-20


def _sums_exactly(points: np.ndarray) -> bool:
    """Whether every sum of a subset of ``points`` is exact in any order of addition."""
    scaled = np.abs(points) / _POINT_QUANTUM
    return bool(np.all(scaled == np.round(scaled)) and scaled.sum() < 2.0**53)


def _zero_if_nan(values: np.ndarray) -> np.ndarray:
    """``values`` with NaN as 0 (a percentage is never infinite)."""
    missing = np.isnan(values)
    return np.where(missing, 0.0, values) if missing.any() else values


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
    market_requires: np.ndarray = field(init=False, repr=False)
    actionable: np.ndarray = field(init=False, repr=False)
    knockout: np.ndarray = field(init=False, repr=False)
    _sector_allowed: np.ndarray = field(init=False, repr=False)
    _market_bits: np.ndarray = field(init=False, repr=False)
    _columns: frozenset[str] = field(init=False, repr=False)
    _groups: tuple[np.ndarray, ...] = field(init=False, repr=False)
    _group_weights: np.ndarray | None = field(init=False, repr=False)
    _dependents: tuple[np.ndarray, ...] = field(init=False, repr=False)
    _fix_fields: tuple[tuple[str, ...], ...] = field(init=False, repr=False)
    _family: tuple[int, ...] = field(init=False, repr=False)
    _conditions: ConditionSet = field(init=False, repr=False)
    _family_conditions: tuple[ConditionSet, ...] = field(init=False, repr=False)
    _market_target_bits: np.ndarray = field(init=False, repr=False)

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
        enforced = np.array(
            [[m in c.enforced_by for c in crit] for m in market_ids], dtype=bool
        ).reshape(len(market_ids), len(crit))
        knockout = np.array([c.knockout for c in crit], dtype=bool)
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
            # What a market's readiness lists as missing: its own criteria, the ones it
            # enforces and the knock-outs, among the criteria that count for it.
            "market_requires": (specific | unrestricted[None, :])
            & (specific | enforced | knockout[None, :]),
            "actionable": np.array([c.actionable for c in crit], dtype=bool),
            "knockout": knockout,
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
        weights = np.array(groups, dtype=np.float64).reshape(len(groups), len(crit))
        weights = _readonly(weights * self.points[None, :])
        object.__setattr__(self, "_group_weights", weights if _sums_exactly(self.points) else None)
        dependents = tuple(
            np.array([d for d, other in enumerate(crit) if other.fields & c.fields], dtype=np.int64)
            for c in crit
        )
        object.__setattr__(self, "_dependents", dependents)
        fix_fields = tuple(
            tuple(sorted(set().union(*(crit[d].fields for d in deps)))) for deps in dependents
        )
        object.__setattr__(self, "_fix_fields", fix_fields)
        # Criteria whose fixes are followed by evaluating the same criteria again.
        families: dict[tuple[int, ...], int] = {}
        family = tuple(
            families.setdefault(tuple(deps.tolist()), len(families)) for deps in dependents
        )
        object.__setattr__(self, "_family", family)
        object.__setattr__(self, "_conditions", ConditionSet([c.condition for c in crit]))
        family_conditions = tuple(
            ConditionSet([crit[d].condition for d in deps]) for deps in families
        )
        object.__setattr__(self, "_family_conditions", family_conditions)
        target_bits = [F.bit("target_markets", m.id) for m in self.markets]
        object.__setattr__(self, "_market_target_bits", np.array(target_bits, dtype=np.int64))

    @property
    def version_string(self) -> str:
        """What every score records: the declared version plus the content fingerprint."""
        return f"{self.version}+{self.fingerprint[:8]}"

    def evaluate(self, frame: pd.DataFrame) -> RuleResult:
        """Applicability, met criteria and scores for every row of a canonical profile frame."""
        missing = sorted(self._columns - set(frame.columns))
        if missing:
            raise ValueError(f"profile frame lacks column(s): {', '.join(missing)}")
        codes = codes_of(frame, "sector", F.SECTORS)
        targets = column(frame, "target_markets", np.int64)
        # Work criterion-major, (C, n), so that every sum below runs over the criteria in file
        # order for each profile: a row's scores never depend on the rows batched with it.
        bits = self._market_bits[:, None]
        applicable = self._sector_allowed[:, codes] & ((bits == 0) | ((bits & targets) != 0))
        met = self._conditions.evaluate(frame)
        met &= applicable
        possible = self._group_points(applicable)
        earned = self._group_points(met)
        scores = _percent(earned, possible)
        n_categories = len(self.categories)
        targeted = (targets[None, :] & self._market_target_bits[:, None]) != 0  # (M, n)
        market_scores = np.where(targeted, scores[1 + n_categories :], np.nan)
        return RuleResult(
            applicable=np.ascontiguousarray(applicable.T),
            met=np.ascontiguousarray(met.T),
            rules_score=_zero_if_nan(scores[0]),
            category_scores=np.ascontiguousarray(scores[1 : 1 + n_categories].T),
            market_scores=np.ascontiguousarray(market_scores.T),
            knockout_failed=(applicable & ~met)[self.knockout].any(axis=0),
            possible_points=possible[0],
            earned_points=earned[0],
            sector_codes=np.asarray(codes),
        )

    def _group_points(self, flags: np.ndarray, first: int | None = None) -> np.ndarray:
        """(G, n) points of the flagged criteria in each group: all, categories, markets
        (only the first ``first`` groups when given).

        Each sum runs over the criteria in ruleset order, whatever the rows batched
        together. Points that any order of addition sums exactly (whole or half points)
        are summed by matrix products, which then give the same bits, over blocks of
        profiles small enough for one thread; otherwise one criterion at a time.
        """
        n = flags.shape[1]
        if self._group_weights is not None:
            weights = self._group_weights if first is None else self._group_weights[:first]
            step = max(1, _PRODUCT_SIZE // weights.size)
            if n <= step:
                return weights @ flags.astype(np.float64)
            sums = np.empty((len(weights), n))
            for start in range(0, n, step):
                block = slice(start, start + step)
                sums[:, block] = weights @ flags[:, block].astype(np.float64)
            return sums
        groups = self._groups if first is None else self._groups[:first]
        sums = np.zeros((len(groups), n))
        for start in range(0, n, _POINTS_BLOCK):
            block = slice(start, start + _POINTS_BLOCK)
            weighted = flags[:, block] * self.points[:, None]
            for g, members in enumerate(groups):
                for c in members:
                    sums[g, block] += weighted[c]
        return sums

    def dependents(self, c: int) -> np.ndarray:
        """Criteria whose conditions read a field that criterion ``c``'s fix may change."""
        return self._dependents[c]

    def fix_fields(self, c: int) -> tuple[str, ...]:
        """Every field that scoring criterion ``c``'s fix reads or writes."""
        return self._fix_fields[c]

    def score_fixes(
        self, profiles: ProfileColumns, before: RuleResult, candidates: np.ndarray
    ) -> Fixes:
        """Each fix of ``candidates`` ((n, C) bool over ``before``'s profiles) applied to the
        profile it is a candidate for, and that profile's ``rules_score`` after it.

        A fix never changes which criteria apply, and only the criteria that read a field
        the fix changes are evaluated again; the sums run in the same order as
        ``evaluate``, so a score is the same to the bit as evaluating the fixed profile from
        scratch. The pairs of criteria whose fixes are followed by the same evaluations come
        together, so that each of those is one call for all of them; up to
        ``_TOGETHER_PAIRS`` pairs are all evaluated in one go instead (one family).
        """
        chosen = sorted(np.flatnonzero(candidates.any(axis=0)), key=lambda c: (self._family[c], c))
        # each chosen criterion's candidate rows, in that order
        which, rows = np.nonzero(candidates.T[chosen])
        sizes = np.bincount(which, minlength=len(chosen))
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        # Many pairs, and points that add up exactly in any order: each pair's points are its
        # profile's, changed by the criteria evaluated again. Otherwise every pair's met
        # criteria are summed again in ruleset order (cheaper for a few pairs).
        if len(rows) <= _TOGETHER_PAIRS:
            return self._score_fixes_together(profiles, before, chosen, rows, sizes, bounds)
        exact = len(rows) >= _CHANGED_POINTS_PAIRS and self._group_weights is not None
        was_met = np.ascontiguousarray(before.met.T)  # (C, n): one criterion's, contiguous
        applicable = np.ascontiguousarray(before.applicable.T)
        if exact:
            earned = before.earned_points[rows]
        else:
            met = was_met.take(rows, axis=1)  # (C, pairs)
        families = []
        first = 0
        for k, c in enumerate(chosen):
            if k + 1 < len(chosen) and self._family[chosen[k + 1]] == self._family[c]:
                continue  # the family goes on
            members = chosen[first : k + 1]
            start, end = bounds[first], bounds[k + 1]
            # The fields the family's evaluations read (its fixes write some of them).
            fixed = profiles.take(rows[start:end], self._fix_fields[c])
            for j, member in enumerate(members, start=first):
                # a candidate's rows all fail its condition
                fix = self.criteria[member].condition.fix_failing
                fix(fixed, bounds[j] - start, bounds[j + 1] - start)
            family_rows = rows[start:end]
            dependents = self.dependents(c)
            flags = self._family_conditions[self._family[c]].evaluate(fixed)
            flags &= applicable[dependents].take(family_rows, axis=1)
            if exact:
                was = was_met[dependents].take(family_rows, axis=1)
                change = flags.view(np.int8) - was.view(np.int8)  # -1, 0 or 1 per criterion
                earned[start:end] += (self.points[dependents, None] * change).sum(axis=0)
            else:
                met[dependents, start:end] = flags
            changed = frozenset().union(*(self.criteria[m].fields for m in members))
            families.append(FixFamily(start, end, changed, fixed))
            first = k + 1
        if not exact:
            earned = self._group_points(met, first=1)[0]
        return Fixes(
            rows=rows,
            criteria=np.repeat(np.array(chosen, dtype=np.intp), sizes),
            families=families,
            rules_score=_zero_if_nan(_percent(earned, before.possible_points[rows])),
        )

    def _score_fixes_together(
        self,
        profiles: ProfileColumns,
        before: RuleResult,
        chosen: list[int],
        rows: np.ndarray,
        sizes: np.ndarray,
        bounds: list[int],
    ) -> Fixes:
        """``score_fixes`` for a few pairs: every fix applied to a copy of its profile, and
        every criterion evaluated again on all of them in one go. A criterion that reads no
        field a pair's fix changes is met as before, so the points summed are those the
        families would give, in the same order: the same scores to the bit."""
        fixed = profiles.take(rows, profiles.columns)
        for j, member in enumerate(chosen):
            self.criteria[member].condition.fix_failing(fixed, bounds[j], bounds[j + 1])
        met = self._conditions.evaluate(fixed)
        met &= np.ascontiguousarray(before.applicable.T).take(rows, axis=1)
        earned = self._group_points(met, first=1)[0]
        changed = frozenset().union(*(self.criteria[c].fields for c in chosen))
        return Fixes(
            rows=rows,
            criteria=np.repeat(np.array(chosen, dtype=np.intp), sizes),
            families=[FixFamily(0, len(rows), changed, fixed, whole=True)],
            rules_score=_zero_if_nan(_percent(earned, before.possible_points[rows])),
        )

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
