"""The one scoring function: rules + calibrated model, blended and explained, vectorised.

``score_frame`` takes canonical profiles (a frame, or the NumPy columns a single
JSON profile is read into) and returns a ``ScoreTable`` holding every output of
SPEC section 4 as arrays; a single profile is a batch of one row through the
same path. Action-plan gains are exact: each candidate fix is applied to the
rows that miss it and those rows are re-scored, with the model's per-feature
contributions reused for the features the fix leaves alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.contract import fields as F
from scoring.contract.columns import ProfileColumns
from scoring.contract.fields import ASSUMED_FIELDS
from scoring.model.additive import ExportModel, column_sums, load_model
from scoring.model.features import FIELD_COLUMNS, GROUPS, encode_features, encode_field
from scoring.rules.loading import load_ruleset
from scoring.rules.ruleset import Fixes, RuleResult, Ruleset

REASONS_SHOWN = 5
#: Effects smaller than this (in probability) are not worth naming as a reason.
REASON_FLOOR = 0.0005
LANGUAGES = ("en", "id")


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def blend(ruleset: Ruleset, rules_score: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Score 0..100 with one decimal, from the weights the ruleset declares."""
    raw = ruleset.rules_weight * rules_score + ruleset.ml_weight * 100.0 * probability
    return np.round(np.clip(raw, 0.0, 100.0), 1)


@dataclass
class ScoreTable:
    """Scores of a frame of profiles, column by column; ``to_records`` gives SPEC section 4."""

    sme_id: np.ndarray
    score: np.ndarray
    tier: np.ndarray
    rules_score: np.ndarray
    ml_probability: np.ndarray
    rules: RuleResult
    #: Gives ``(reason_groups, reason_effects)`` when they are first asked for: records
    #: show reasons, the flat table does not, so a rescoring run never computes them.
    explain: Callable[[], tuple[np.ndarray, np.ndarray]] | None = field(repr=False)
    gains: np.ndarray  # (n, C) score gain of meeting each criterion, NaN where not a candidate
    assumed: np.ndarray  # (n, len(ASSUMED_FIELDS)) bool
    ruleset: Ruleset
    model_version: str
    scored_at: str
    _explanation: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.score)

    def _explained(self) -> tuple[np.ndarray, np.ndarray]:
        if self._explanation is None:
            self._explanation = self.explain()
            self.explain = None  # what it held (the contributions) can go
        return self._explanation

    @property
    def reason_groups(self) -> np.ndarray:
        """(n, k) index into features.GROUPS of each row's top reasons, -1 for none."""
        return self._explained()[0]

    @property
    def reason_effects(self) -> np.ndarray:
        """(n, k) signed effect of each of those reasons on the probability."""
        return self._explained()[1]

    @property
    def ruleset_version(self) -> str:
        return self.ruleset.version_string

    def action_order(self) -> np.ndarray:
        """(n, C) criterion indices: failed knock-outs first (no score helps while one fails),
        then by falling gain, ties by points and then ruleset order."""
        gains = np.where(np.isnan(self.gains), -np.inf, self.gains)
        shape = gains.shape
        return np.lexsort(
            (
                np.broadcast_to(np.arange(shape[1]), shape),
                np.broadcast_to(-self.ruleset.points, shape),
                -gains,
                ~(self.ruleset.knockout & ~np.isnan(self.gains)),
            ),
            axis=1,
        )

    def to_records(self, *, lang: str = "en") -> list[dict]:
        """One dict per profile, exactly the shape in SPEC section 4.

        Every array is turned into Python values once, column by column; the loop over the
        profiles only assembles them.
        """
        rs, rules = self.ruleset, self.rules
        texts = _criterion_texts(rs, lang)
        categories = [c.id for c in rs.categories]
        markets = [m.id for m in rs.markets]
        sector_codes = [-1] * len(self) if rules.sector_codes is None else rules.sector_codes
        columns = zip(
            self.sme_id.tolist(),
            self.score.tolist(),
            self.tier.tolist(),
            self.rules_score.tolist(),
            self.ml_probability.tolist(),
            rules.applicable.tolist(),
            rules.met.tolist(),
            rules.category_scores.tolist(),
            rules.market_scores.tolist(),
            self.reason_groups.tolist(),
            self.reason_effects.tolist(),
            self.action_order().tolist(),
            self.gains.tolist(),
            np.asarray(sector_codes).tolist(),
            self.assumed.tolist(),
            strict=True,
        )
        with _collection_paused():
            return self._assemble_records(texts, categories, markets, columns)

    def _assemble_records(
        self,
        texts: _CriterionTexts,
        categories: list[str],
        markets: list[str],
        columns: Iterator[tuple],
    ) -> list[dict]:
        records = []
        for (
            sme_id,
            score,
            tier,
            rules_score,
            probability,
            applicable,
            met,
            category_scores,
            market_scores,
            reason_groups,
            reason_effects,
            order,
            gains,
            sector_code,
            assumed,
        ) in columns:
            missed = [a and not m for a, m in zip(applicable, met, strict=True)]
            records.append(
                {
                    "sme_id": str(sme_id),
                    "score": score,
                    "tier": str(tier),
                    "rules_score": round(rules_score, 1),
                    "ml_probability": round(probability, 3),
                    "category_scores": {
                        category: (None if value != value else round(value, 1))
                        for category, value in zip(categories, category_scores, strict=True)
                    },
                    "criteria": texts.criteria(applicable, met),
                    "knockouts": [texts.ids[c] for c in texts.knockouts if missed[c]],
                    "market_readiness": {
                        markets[m]: {
                            "score": round(value, 1),
                            "missing": [texts.ids[c] for c in texts.requires[m] if missed[c]],
                        }
                        for m, value in enumerate(market_scores)
                        if value == value
                    },
                    "reasons": [
                        {"feature": GROUPS[g], "effect": round(e, 3)}
                        for g, e in zip(reason_groups, reason_effects, strict=True)
                        if g >= 0
                    ],
                    "action_plan": texts.action_plan(order, gains, sector_code),
                    "assumed": [f for f, a in zip(ASSUMED_FIELDS, assumed, strict=True) if a],
                    "model_version": self.model_version,
                    "ruleset_version": self.ruleset_version,
                    "scored_at": self.scored_at,
                }
            )
        return records

    def _top_actions(self, top: int, ids: np.ndarray):
        """'criterion (+gain); ...' for each row's first ``top`` actions."""
        if not len(self):
            return np.array([], dtype=object)  # as every text column of no rows
        # The same order as action_order(), as one whole-number key (exact in a float), for
        # a cheap top-k; -1 where the criterion is no candidate (its gain is NaN).
        point_rank = np.unique(self.ruleset.points, return_inverse=True)[1].ravel()
        key = np.round(self.gains * 10)  # tenths
        key += 1
        key *= 10**4
        key += point_rank + self.ruleset.knockout * 10**9
        np.copyto(key, -1.0, where=np.isnan(key))
        order, picked = _top_k(key, self.gains, min(top, key.shape[1]))
        return _text_column(_action_texts(order, picked, ids))

    def to_frame(self, *, top_actions: int = 3) -> pd.DataFrame:
        """A flat table (one row per profile) for CSV, XLSX and Parquet output."""
        rs = self.ruleset
        out = {
            "sme_id": self.sme_id,
            "score": self.score,
            "tier": self.tier,
            "rules_score": np.round(self.rules_score, 1),
            "ml_probability": np.round(self.ml_probability, 3),
        }
        for k, category in enumerate(rs.categories):
            out[f"category_{category.id}"] = np.round(self.rules.category_scores[:, k], 1)
        for m, market in enumerate(rs.markets):
            out[f"market_{market.id}"] = np.round(self.rules.market_scores[:, m], 1)
        ids = np.array([c.id for c in rs.criteria], dtype=object)
        knocked = self.rules.applicable & ~self.rules.met & rs.knockout
        out["knockouts"] = _join_flags(knocked, ids)
        out["top_actions"] = self._top_actions(top_actions, ids)
        out["assumed"] = _join_flags(self.assumed, np.array(ASSUMED_FIELDS, dtype=object))
        out["model_version"] = self.model_version
        out["ruleset_version"] = self.ruleset_version
        out["scored_at"] = self.scored_at
        return pd.DataFrame(out)


@dataclass(frozen=True)
class _CriterionTexts:
    """What records say of each criterion, in one language, as Python values."""

    ids: list[str]
    categories: list[str]
    labels: list[str]
    points: list[float | int]
    knockout: list[bool]
    knockouts: list[int]  # the knock-out criteria, in ruleset order
    requires: list[list[int]]  # per market, the criteria its readiness lists when missed
    advice: list[dict[int, str]]  # per criterion, the recommendation for each sector code
    lang: str

    @classmethod
    def of(cls, ruleset: Ruleset, lang: str) -> _CriterionTexts:
        criteria = ruleset.criteria
        sectors = {code: sector for code, sector in enumerate(F.SECTORS)} | {-1: None}
        return cls(
            ids=[c.id for c in criteria],
            categories=[c.category for c in criteria],
            labels=[c.label[lang] for c in criteria],
            points=[_number(p) for p in ruleset.points],
            knockout=ruleset.knockout.tolist(),
            knockouts=np.flatnonzero(ruleset.knockout).tolist(),
            requires=[np.flatnonzero(row).tolist() for row in ruleset.market_requires],
            advice=[
                {code: c.recommendation_for(sector)[lang] for code, sector in sectors.items()}
                for c in criteria
            ],
            lang=lang,
        )

    def criteria(self, applicable: list[bool], met: list[bool]) -> list[dict]:
        return [
            {
                "id": self.ids[c],
                "category": self.categories[c],
                "met": met[c],
                "points": self.points[c] if met[c] else 0,
                "max_points": self.points[c],
                "label": self.labels[c],
            }
            for c, applies in enumerate(applicable)
            if applies
        ]

    def action_plan(self, order: list[int], gains: list[float], sector_code: int) -> list[dict]:
        """The fixes that raise the score, in ``order``, with their advice; ``knockout`` marks
        a failed knock-out, whose fix lifts it and which therefore comes first."""
        actions = []
        for c in order:
            gain = gains[c]
            if gain != gain or gain <= 0:
                break
            actions.append(
                {
                    "criterion": self.ids[c],
                    "gain": gain,
                    "knockout": self.knockout[c],
                    "label": self.labels[c],
                    "recommendation": self.advice[c][sector_code],
                }
            )
        return actions


@functools.lru_cache(maxsize=16)
def _criterion_texts(ruleset: Ruleset, lang: str) -> _CriterionTexts:
    """The texts of a loaded ruleset, worked out once per language."""
    return _CriterionTexts.of(ruleset, lang)


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while records are made: they hold no cycles, and
    a batch's records would otherwise have it walk the growing heap again and again (half
    the time of ``to_records`` on 20,000 rows)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _action_texts(order: np.ndarray, gains: np.ndarray, ids: np.ndarray) -> pa.Array:
    """'criterion (+gain); ...' per row from its (n, k) chosen criteria and their gains; an
    action is shown while its gain is above 0 (the valid ones come first in a row).

    Each distinct (criterion, gain) is written once, in Python; a row's items are then
    picked from those texts and joined by Arrow, without a Python string per row."""
    valid = ~np.isnan(gains) & (gains > 0)
    tenths = np.round(np.nan_to_num(gains) * 10).astype(np.int64)
    base = int(tenths.max(initial=0)) + 1
    codes = order * base + tenths
    distinct, inverse = np.unique(codes[valid], return_inverse=True)
    items = [
        f"{ids[code // base]} (+{code % base // 10}.{code % base % 10})"
        for code in distinct.tolist()
    ]
    # the first item as it is, the others after "; ", and "" for no action
    texts = pa.array(items + ["; " + item for item in items] + [""], type=pa.string())
    picked = np.full(order.shape, 2 * len(items), dtype=np.int64)
    picked[valid] = inverse.ravel()
    picked[:, 1:] += np.where(valid[:, 1:], len(items), 0)
    columns = [texts.take(pa.array(picked[:, k])) for k in range(order.shape[1])]
    if len(columns) < 2:  # one action shown, or none (a ruleset without criteria)
        return columns[0] if columns else pa.array([""] * len(order), type=pa.string())
    return pc.binary_join_element_wise(*columns, "")


def _number(value: float) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else value


def _join_flags(flags: np.ndarray, names: np.ndarray):
    """'a; b' per row of a bool matrix, decoding each distinct pattern once."""
    n, width = flags.shape
    if n == 0:
        return np.array([], dtype=object)
    packed = np.packbits(flags, axis=1)
    if width <= 64:
        padded = np.zeros((n, 8), dtype=np.uint8)
        padded[:, : packed.shape[1]] = packed
        codes, _ = pd.factorize(padded.view(np.uint64).ravel())
        first = np.unique(codes, return_index=True)[1]
    else:
        _, first, codes = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    texts = pa.array(["; ".join(names[row]) for row in flags[first]], type=pa.large_string())
    return _text_column(texts.take(pa.array(np.asarray(codes).ravel())))


#: The type pandas gives a column of text (``str``, held by Arrow).
_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def _text_column(text: pa.Array) -> pd.api.extensions.ExtensionArray:
    """An Arrow array of text as the column pandas would make of the same Python strings,
    without making them."""
    return pd.array(text.cast(pa.large_string()), dtype=_TEXT)


def score_frame(
    profiles: pd.DataFrame | ProfileColumns,
    *,
    ruleset: Ruleset,
    model: ExportModel,
    assumed: pd.DataFrame | np.ndarray | None = None,
    scored_at: str | None = None,
) -> ScoreTable:
    """Score every row of canonical profiles: a frame (turned into NumPy columns once) or
    ``ProfileColumns`` (what a single JSON profile is read into)."""
    columns = profiles if isinstance(profiles, ProfileColumns) else ProfileColumns.of(profiles)
    n = len(columns)
    rules = ruleset.evaluate(columns)
    X = encode_features(columns)
    by_feature = model.additive.contributions_by_feature(X)
    decision = model.additive.intercept + column_sums(by_feature)
    probability = model.probability_from_decision(decision)
    score = blend(ruleset, rules.rules_score, probability)
    tier = ruleset.assign_tiers(score, rules.knockout_failed)

    gains = _action_gains(columns, rules, by_feature, decision, score, ruleset, model)
    return ScoreTable(
        sme_id=np.asarray(columns["sme_id"], dtype=object),
        score=score,
        tier=tier,
        rules_score=rules.rules_score,
        ml_probability=probability,
        rules=rules,
        explain=functools.partial(_explain, model, by_feature, decision, probability),
        gains=gains,
        assumed=_assumed_flags(assumed, n),
        ruleset=ruleset,
        model_version=model.version,
        scored_at=scored_at or now_utc(),
    )


def _assumed_flags(assumed: pd.DataFrame | np.ndarray | None, n: int) -> np.ndarray:
    """(n, len(ASSUMED_FIELDS)) bool; a column left out (or not given): nothing assumed."""
    flags = np.zeros((n, len(ASSUMED_FIELDS)), dtype=bool)
    if isinstance(assumed, pd.DataFrame):
        for k, name in enumerate(ASSUMED_FIELDS):
            if name in assumed.columns:
                flags[:, k] = assumed[name].to_numpy(dtype=bool)
    elif assumed is not None:
        given = np.asarray(assumed, dtype=bool)
        flags[:, : given.shape[1]] = given
    return flags


def _top_k(keys: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns of the k largest keys (ties: lower column first) and their values.

    k passes of argmax: faster than sorting each row when k is small, and independent of the
    other rows in the batch. ``keys`` is overwritten when it is already float64."""
    keys = keys.astype(np.float64, copy=False)
    rows = np.arange(keys.shape[0])
    top = np.empty((keys.shape[0], k), dtype=np.int64)
    for j in range(k):
        top[:, j] = keys.argmax(axis=1)
        keys[rows, top[:, j]] = -np.inf
    return top, np.take_along_axis(values, top, axis=1)


def _explain(
    model: ExportModel, by_feature: np.ndarray, decision: np.ndarray, probability: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``_reasons`` from the contributions as the lookup gives them, feature-major."""
    return _reasons(model, np.ascontiguousarray(by_feature.T), decision, probability)


def _reasons(
    model: ExportModel, contributions: np.ndarray, decision: np.ndarray, probability: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Top signed effects: how far each fact moves the probability from a typical profile's."""
    contrib = model.group_contributions(contributions)
    without = model.probability_from_decision((decision[:, None] - contrib).ravel())
    effect = probability[:, None] - without.reshape(contrib.shape)
    top, top_effect = _top_k(np.abs(effect), effect, min(REASONS_SHOWN, effect.shape[1]))
    top = np.where(np.abs(top_effect) >= REASON_FLOOR, top, -1)
    return top, np.where(top >= 0, top_effect, 0.0)


_FIELD_POSITION = {name: k for k, name in enumerate(FIELD_COLUMNS)}


def _action_gains(
    profiles: ProfileColumns,
    rules: RuleResult,
    by_feature: np.ndarray,
    decision: np.ndarray,
    score: np.ndarray,
    ruleset: Ruleset,
    model: ExportModel,
) -> np.ndarray:
    """Exact score gain of meeting each missed, actionable criterion.

    Each (profile, criterion) pair is the profile with that criterion's fix applied,
    re-scored: the rules only for the criteria the fix can change, the model only for the
    features it changes (the model is additive, so the other features' contributions stay
    as they were). The pairs of a family of fixes (those that change the same fields) are
    re-scored together, or, when there are only a few pairs (a single score's), all pairs
    at once on every field; all pairs go through the calibration and the blend at once.
    ``by_feature`` holds the profiles' contributions feature-major, (features, n).
    """
    candidates = rules.applicable & ~rules.met & ruleset.actionable
    gains = np.full(candidates.shape, np.nan)
    if not candidates.any():
        return gains
    fixes = ruleset.score_fixes(profiles, rules, candidates)
    rows = fixes.rows
    fixed_decision = fixed_decisions(fixes, by_feature, decision, model)
    fixed_score = blend(ruleset, fixes.rules_score, model.probability_from_decision(fixed_decision))
    gains.ravel()[rows * gains.shape[1] + fixes.criteria] = np.round(fixed_score - score[rows], 1)
    return gains


def fixed_decisions(
    fixes: Fixes, by_feature: np.ndarray, decision: np.ndarray, model: ExportModel
) -> np.ndarray:
    """(pairs,) the model's decision sum of each fixed profile: its profile's, plus the
    change of each feature its fix changes, feature by feature in feature order."""
    rows = fixes.rows
    fixed_decision = decision[rows]
    for family in fixes.families:
        pairs = slice(family.start, family.end)
        if family.whole:  # every field at hand: every feature in one go, in feature order
            change = model.additive.contributions_by_feature(encode_features(family.profiles))
            change -= by_feature.take(rows[pairs], axis=1)
            for k in change.any(axis=1).nonzero()[0]:  # (a feature left as it was adds 0)
                fixed_decision[pairs] += change[k]
            continue
        names = sorted(family.changed & FIELD_COLUMNS.keys(), key=_FIELD_POSITION.__getitem__)
        for name in names:  # field by field and feature by feature, in feature order
            features = FIELD_COLUMNS[name]
            encoded = encode_field(family.profiles, name)
            # (features, pairs): one feature's changes contiguous
            change = model.additive.contributions_by_feature(encoded, features=features)
            if len(features) == 1:
                fixed_decision[pairs] += change[0] - by_feature[features[0]].take(rows[pairs])
                continue
            change -= by_feature[features[:, None], rows[pairs]]
            # A feature that no fix of the family changes adds exactly 0: it is left out.
            for k in change.any(axis=1).nonzero()[0]:
                fixed_decision[pairs] += change[k]
    return fixed_decision


class Scorer:
    """A ruleset and a model loaded together: what the CLI and the API score with."""

    def __init__(self, ruleset: Ruleset, model: ExportModel):
        self.ruleset = ruleset
        self.model = model

    @classmethod
    def load(
        cls,
        *,
        models_dir: Path | None = None,
        model_version: str | None = None,
        ruleset_path: Path | None = None,
        estimator: bool = True,
    ) -> Scorer:
        """The ruleset and model version (the active ones by default); with
        ``estimator=False`` the model without its scikit-learn objects, which scoring does
        not need (``load_model``)."""
        model = load_model(models_dir, model_version, estimator=estimator)
        return cls(load_ruleset(ruleset_path), model)

    def portable(self) -> Scorer:
        """The same scorer without scikit-learn objects, for sending to worker processes."""
        return Scorer(self.ruleset, self.model.portable())

    def score(
        self,
        profiles: pd.DataFrame | ProfileColumns,
        *,
        assumed: pd.DataFrame | np.ndarray | None = None,
        scored_at: str | None = None,
    ) -> ScoreTable:
        return score_frame(
            profiles, ruleset=self.ruleset, model=self.model, assumed=assumed, scored_at=scored_at
        )

    def score_profile(
        self, data: Mapping, *, lang: str = "en", scored_at: str | None = None
    ) -> dict:
        """Validate one JSON profile and score it (a batch of one)."""
        from scoring.contract.schema import read_profile

        profile = read_profile(data)
        table = self.score(profile.columns, assumed=profile.assumed, scored_at=scored_at)
        return table.to_records(lang=lang)[0]
