"""Reading and checking a ruleset file: strict YAML, every section and criterion checked, and
every problem reported at once, naming the criterion or section."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from scoring.contract import fields as F
from scoring.errors import RulesetError
from scoring.rules.condition_parser import ConditionParser, describe, is_number
from scoring.rules.conditions import BETTER, Condition
from scoring.rules.ruleset import CATEGORIES, Category, Criterion, Market, Ruleset, Tier

LANGUAGES = ("id", "en")

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
_CRITERION_OPTIONAL = (
    "applies_to",
    "enforced_by",
    "knockout",
    "actionable",
    "recommendation_by_sector",
)
_APPLIES_TO = {"sectors": F.SECTORS, "target_markets": F.MARKETS}


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


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
            if key in raw and not (is_number(value) and 0 <= value <= 1):
                self.add("blend", f"{key} must be a number from 0 to 1, got {describe(value)}")
            weights.append(float(value) if is_number(value) else 0.0)
        numbers = all(is_number(raw.get(k)) for k in ("rules_weight", "ml_weight"))
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
            if not (is_number(min_score) and 0 <= min_score <= 100):
                self.add(
                    where, f"min_score must be a number from 0 to 100, got {describe(min_score)}"
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
            and is_number(last.get("min_score"))
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

    def criteria(
        self, raw: Any, categories: tuple[str, ...], markets: tuple[str, ...]
    ) -> tuple[Criterion, ...]:
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
            criterion = self.criterion(where, item, categories, markets)
            if criterion is not None:
                parsed.append(criterion)
        return tuple(parsed)

    def criterion(
        self, where: str, raw: Any, categories: tuple[str, ...], markets: tuple[str, ...]
    ) -> Criterion | None:
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
        if "points" in raw and not (is_number(points) and points > 0):
            self.add(where, f"points must be a positive number, got {describe(points)}")
        flags = {}
        for key, default in (("knockout", False), ("actionable", True)):
            flags[key] = raw.get(key, default)
            if not isinstance(flags[key], bool):
                self.add(where, f"{key} must be true or false, got {describe(flags[key])}")
        label = self.text(where, raw.get("label"), "label") if "label" in raw else None
        advice = (
            self.text(where, raw.get("recommendation"), "recommendation")
            if "recommendation" in raw
            else None
        )
        sectors, applies_markets = self.applies_to(where, raw.get("applies_to"))
        enforced_by = self.enforced_by(where, raw, markets)
        by_sector = self.recommendation_by_sector(
            where, raw.get("recommendation_by_sector", []), sectors
        )
        condition = None
        if "condition" in raw:
            condition = ConditionParser(where, self.problems).parse(raw["condition"])
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
            applies_markets=applies_markets,
            enforced_by=enforced_by,
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

    def enforced_by(self, where: str, raw: Mapping, markets: tuple[str, ...]) -> tuple[str, ...]:
        """``[GCC, ...]``: markets of this ruleset that enforce a criterion which applies whatever
        the target market, so that each lists it among its own requirements."""
        if "enforced_by" not in raw:
            return ()
        values = raw["enforced_by"]
        if not isinstance(values, list) or not values:
            self.add(where, "enforced_by must be a non-empty list of markets")
            return ()
        applies = raw.get("applies_to")
        if isinstance(applies, Mapping) and "target_markets" in applies:
            self.add(
                where,
                "enforced_by cannot be combined with applies_to.target_markets: a criterion for "
                "some target markets is already a requirement of each of them",
            )
            return ()
        bad = [v for v in values if v not in markets]
        for value in bad:
            self.add(
                where,
                f"enforced_by: {value!r} is not a market of this ruleset "
                f"(markets: {', '.join(markets)})",
            )
        if len(set(map(str, values))) != len(values):
            self.add(where, "enforced_by lists a market twice")
            return ()
        return () if bad else tuple(values)

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
                "version", f'must be text (quote it, e.g. "2026.11.1"), got {describe(version)}'
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
        # A broken markets section is reported there; criteria are then checked against the
        # contract's markets, so that its problems are not repeated on every criterion.
        market_ids = tuple(m for m in F.MARKETS if m in markets) or F.MARKETS
        criteria = (
            self.criteria(data.get("criteria"), CATEGORIES, market_ids)
            if "criteria" in data
            else ()
        )
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
