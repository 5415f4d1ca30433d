"""The cohort table (sort, filter, search, export) and the before/after comparison.

Both read ``store.cohort_rows``: each SME of the cohort with its latest and previous
score. No personal field is shown or exported here.
"""

from __future__ import annotations

import pandas as pd
from flask import Blueprint, render_template, request

from api import downloads, store
from api.db import get_session
from api.scorer import get_scorer
from api.web.auth import actor, role_required
from scoring.fields import MARKETS, SECTORS

bp = Blueprint("web_cohorts", __name__, url_prefix="/cohorts")

SORT_KEYS = ("sme_id", "name", "sector", "score", "tier", "change")
EXPORT_COLUMNS = (
    "sme_id",
    "name",
    "sector",
    "score",
    "tier",
    "previous_score",
    "change",
    "target_markets",
    "scored_at",
)
#: Width of a bar of the score distribution, in score points.
BIN_WIDTH = 10


def _tier_rank() -> dict[str, int]:
    """Tiers from the lowest (0) to the highest, as the ruleset orders them."""
    tiers = get_scorer().ruleset.tiers  # highest first
    return {tier.id: len(tiers) - 1 - i for i, tier in enumerate(tiers)}


def _filtered(rows: list[dict], args) -> list[dict]:
    """The rows matching the request's filters, in its order (default: best score first)."""
    sector, tier, market = args.get("sector"), args.get("tier"), args.get("market")
    query = args.get("q", "").strip().casefold()
    if sector:
        rows = [r for r in rows if r["sector"] == sector]
    if tier:
        rows = [r for r in rows if r["tier"] == tier]
    if market:
        rows = [r for r in rows if market in r["target_markets"]]
    if query:
        rows = [r for r in rows if query in r["sme_id"].casefold() or query in r["name"].casefold()]
    sort = args.get("sort") if args.get("sort") in SORT_KEYS else "score"
    descending = args.get("dir", "desc" if sort in ("score", "change", "tier") else "asc") == "desc"
    ranks = _tier_rank()

    def key(row: dict):
        value = ranks.get(row["tier"], -1) if sort == "tier" else row[sort]
        missing = value is None
        # Rows without a value go last in either direction.
        return (missing != descending, value if not missing else 0, row["sme_id"])

    return sorted(rows, key=key, reverse=descending)


@bp.route("")
@role_required("officer")
def table():
    session = get_session()
    cohorts = store.cohort_names(session)
    cohort = request.args.get("cohort") or (cohorts[0][0] if cohorts else None)
    rows = _filtered(store.cohort_rows(session, cohort), request.args) if cohort else []
    return render_template(
        "cohort.html",
        cohorts=cohorts,
        cohort=cohort,
        rows=rows,
        sectors=SECTORS,
        markets=MARKETS,
        ruleset=get_scorer().ruleset,
        args=request.args,
        sort_keys=SORT_KEYS,
    )


@bp.route("/export.<any(csv, xlsx):format>")
@role_required("officer")
def export(format: str):
    """The table as shown (same filters and order) as CSV or XLSX."""
    session = get_session()
    cohort = request.args.get("cohort", "")
    rows = _filtered(store.cohort_rows(session, cohort), request.args)
    frame = pd.DataFrame(
        [
            {
                **{name: row[name] for name in EXPORT_COLUMNS},
                "target_markets": "; ".join(row["target_markets"]),
            }
            for row in rows
        ],
        columns=list(EXPORT_COLUMNS),
    )
    store.audit(
        session,
        actor=actor(),
        action="export",
        subject=f"cohort/{cohort}"[:200],
        details={"format": format, "rows": len(rows)},
    )
    session.commit()
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in cohort) or "cohort"
    return downloads.table_response(frame, format=format, filename=f"{safe_name}-scores")


def _histogram(scores: list[float]) -> list[int]:
    counts = [0] * (100 // BIN_WIDTH)
    for score in scores:
        counts[min(int(score // BIN_WIDTH), len(counts) - 1)] += 1
    return counts


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


@bp.route("/compare")
@role_required("lead")
def compare():
    """Before/after a re-scoring: who moved up or down a tier, and the score distributions.

    "Before" is each SME's previous score, "after" its latest; SMEs scored once are
    counted apart.
    """
    session = get_session()
    cohorts = store.cohort_names(session)
    cohort = request.args.get("cohort") or (cohorts[0][0] if cohorts else None)
    rows = store.cohort_rows(session, cohort) if cohort else []
    rescored = [r for r in rows if r["previous_score"] is not None]
    ranks = _tier_rank()
    up = [r for r in rescored if ranks.get(r["tier"], -1) > ranks.get(r["previous_tier"], -1)]
    down = [r for r in rescored if ranks.get(r["tier"], -1) < ranks.get(r["previous_tier"], -1)]
    up.sort(key=lambda r: (-r["change"], r["sme_id"]))
    down.sort(key=lambda r: (r["change"], r["sme_id"]))
    before = _histogram([r["previous_score"] for r in rescored])
    after = _histogram([r["score"] for r in rescored])
    return render_template(
        "compare.html",
        cohorts=cohorts,
        cohort=cohort,
        rescored=rescored,
        scored_once=len(rows) - len(rescored),
        up=up,
        down=down,
        same=len(rescored) - len(up) - len(down),
        bins=list(zip(before, after, strict=True)),
        bin_width=BIN_WIDTH,
        mean_before=_mean([r["previous_score"] for r in rescored]),
        mean_after=_mean([r["score"] for r in rescored]),
        ruleset=get_scorer().ruleset,
    )
