"""The cohort table (sort, filter, search, export) and the before/after comparison.

Both read ``store.cohort_rows``: each SME of the cohort with its latest and previous
score. No personal field is shown or exported here. As in shortlists, an SME with a
failed knock-out ranks below every other SME whatever its score, and the table names
the knock-outs it failed. Exports speak the page's language: sectors, tiers, markets
and knock-outs by their names, with ``*_code`` columns for the codes.
"""

from __future__ import annotations

import pandas as pd
from flask import Blueprint, render_template, request

from api import store
from api.db import get_session
from api.services import downloads
from api.services.scorer import get_scorer
from api.web.auth import actor, role_required
from api.web.i18n import ruleset_text, t
from scoring.contract.fields import MARKETS, SECTORS

bp = Blueprint("web_cohorts", __name__, url_prefix="/cohorts")

SORT_KEYS = ("sme_id", "name", "sector", "score", "tier", "change")
EXPORT_COLUMNS = (
    "sme_id",
    "name",
    "sector",
    "score",
    "tier",
    "knockouts",
    "previous_score",
    "change",
    "target_markets",
    "scored_at",
    "sector_code",
    "tier_code",
    "knockout_codes",
    "target_market_codes",
)
#: Width of a bar of the score distribution, in score points.
BIN_WIDTH = 10


def _tier_rank() -> dict[str, int]:
    """Tiers from the lowest (0) to the highest, as the ruleset orders them."""
    tiers = get_scorer().ruleset.tiers  # highest first
    return {tier.id: len(tiers) - 1 - i for i, tier in enumerate(tiers)}


def _with_knockouts(session, rows: list[dict]) -> list[dict]:
    """The rows with ``knockouts``: the failed knock-out criteria of each latest score."""
    latest = store.latest_scores(session, [row["sme_id"] for row in rows])
    for row in rows:
        row["knockouts"] = list(latest.get(row["sme_id"], {}).get("knockouts") or [])
    return rows


def table_rows(session, cohort: str, args) -> list[dict]:
    """The cohort's rows as the table shows them for the request ``args`` (filters, order);
    its exports and its PDF report hold the same SMEs in the same order."""
    return _filtered(_with_knockouts(session, store.cohort_rows(session, cohort)), args)


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
        if sort == "score" and not missing:
            # Knocked out ranks below everyone else, as in shortlists.
            value = (not row.get("knockouts"), value)
        # Rows without a value go last in either direction.
        return (missing != descending, value if not missing else (0, 0), row["sme_id"])

    return sorted(rows, key=key, reverse=descending)


@bp.route("")
@role_required("officer")
def table():
    session = get_session()
    cohorts = store.cohort_names(session)
    cohort = request.args.get("cohort") or (cohorts[0][0] if cohorts else None)
    rows = table_rows(session, cohort, request.args) if cohort else []
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
    rows = table_rows(session, cohort, request.args)
    frame = pd.DataFrame([_export_row(row) for row in rows], columns=list(EXPORT_COLUMNS))
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


def _export_row(row: dict) -> dict:
    """One SME of the export: names in the page's language, codes in ``*_code`` columns."""
    rs = get_scorer().ruleset
    return {
        "sme_id": row["sme_id"],
        "name": row["name"],
        "sector": t(f"sector.{row['sector']}"),
        "score": row["score"],
        "tier": ruleset_text(rs, "tier", row["tier"]) if row["tier"] else None,
        "knockouts": "; ".join(ruleset_text(rs, "criterion", k) for k in row["knockouts"]),
        "previous_score": row["previous_score"],
        "change": row["change"],
        "target_markets": "; ".join(ruleset_text(rs, "market", m) for m in row["target_markets"]),
        "scored_at": row["scored_at"],
        "sector_code": row["sector"],
        "tier_code": row["tier"],
        "knockout_codes": "; ".join(row["knockouts"]),
        "target_market_codes": "; ".join(row["target_markets"]),
    }


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
