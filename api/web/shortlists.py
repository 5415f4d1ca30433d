"""The shortlist builder: who gets the support places of a cohort, why, and who nearly did.

Chooses with ``scoring.shortlist.build_shortlist`` from the cohort's latest scores, as the
API's ``POST /api/v1/shortlists`` does. Reasons are written here from the shortlist's
figures in the page's language. The form is a GET, so a shortlist is a link that can be
shared and exported with the same parameters.
"""

from __future__ import annotations

import pandas as pd
from flask import Blueprint, render_template, request

from api import store
from api.db import get_session
from api.services import downloads
from api.services.lookups import sme_facts
from api.services.scorer import get_scorer
from api.web.auth import actor, role_required
from api.web.i18n import decimal, ruleset_text, t
from scoring.contract.fields import MARKETS
from scoring.shortlist import build_shortlist

bp = Blueprint("web_shortlists", __name__, url_prefix="/shortlists")

MAX_CAPACITY = 10_000


def _whole(args, name: str, errors: dict, *, required: bool) -> int | None:
    text = args.get(name, "").strip()
    if not text:
        if required:
            errors[name] = t("error.missing")
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_CAPACITY:
        errors[name] = t("error.between", low=1, high=MAX_CAPACITY)
        return None
    return int(text)


def _request(args) -> tuple[dict, dict[str, str]]:
    """The shortlist asked for in the query, and the errors per field."""
    errors: dict[str, str] = {}
    cohort = args.get("cohort", "")
    market = args.get("target_market") or None
    if market is not None and market not in MARKETS:
        errors["target_market"] = t("error.unknown_value", input=market, choices=", ".join(MARKETS))
    wanted = {
        "cohort": cohort,
        "capacity": _whole(args, "capacity", errors, required=True),
        "target_market": market,
        "max_per_sector": _whole(args, "max_per_sector", errors, required=False),
    }
    return wanted, errors


def _shortlist(session, wanted: dict) -> tuple[dict | None, dict]:
    """The shortlist of the cohort's scored SMEs, and their names and sectors."""
    sme_ids = store.cohort_members(session, wanted["cohort"])
    latest = store.latest_scores(session, sme_ids)
    facts = sme_facts(session, list(latest), cohort=wanted["cohort"])
    records = [{**latest[s], "sector": facts[s]["sector"]} for s in latest if s in facts]
    if not records:
        return None, facts
    shortlist = build_shortlist(
        records,
        capacity=wanted["capacity"],
        target_market=wanted["target_market"],
        max_per_sector=wanted["max_per_sector"],
    )
    return shortlist, facts


def _explain(shortlist: dict, facts: dict) -> None:
    """Add ``name`` and a ``why`` in the page's language to every entry."""
    rs = get_scorer().ruleset
    market = shortlist["target_market"]
    basis = (
        t("shortlist.by_score")
        if market is None
        else t("shortlist.by_market", market=ruleset_text(rs, "market", market))
    )
    selected = shortlist["selected"]
    for entry in selected:
        entry["why"] = t(
            "shortlist.why_chosen",
            position=entry["position"],
            eligible=shortlist["eligible"],
            basis=basis,
            value=decimal(entry["ranking_score"]),
            tier=ruleset_text(rs, "tier", entry["tier"]),
        )
    cap = shortlist["max_per_sector"]
    for entry in shortlist["near_misses"]:
        # The places taken when this SME's turn came, as build_shortlist saw them.
        before = [s for s in selected if s["position"] < entry["position"]]
        capped = cap is not None and sum(s["sector"] == entry["sector"] for s in before) >= cap
        if capped and len(before) < shortlist["capacity"]:
            entry["why"] = t(
                "shortlist.why_sector_cap", cap=cap, sector=t(f"sector.{entry['sector']}")
            )
        else:
            entry["why"] = t(
                "shortlist.why_below",
                position=entry["position"],
                basis=basis,
                gap=decimal(before[-1]["ranking_score"] - entry["ranking_score"]),
            )
        entry["lacks_text"] = [
            ruleset_text(rs, "criterion", lack["criterion"])
            + (f" ({decimal(lack['gain'], sign=True)})" if "gain" in lack else "")
            for lack in entry["lacks"]
        ]
    for entry in shortlist["excluded"]:
        if entry["knockouts"]:
            names = ", ".join(ruleset_text(rs, "criterion", k) for k in entry["knockouts"])
            entry["why"] = t("shortlist.why_knockout", criteria=names)
        else:
            entry["why"] = t(
                "shortlist.why_not_targeting", market=ruleset_text(rs, "market", market)
            )
    for entry in (*shortlist["selected"], *shortlist["near_misses"], *shortlist["excluded"]):
        entry["name"] = facts.get(entry["sme_id"], {}).get("name")


def explained_shortlist(session, args) -> tuple[dict, dict[str, str], dict | None]:
    """The shortlist asked for in ``args`` with its reasons worded, for the pages that act on
    it (recording the decisions taken from it): ``(wanted, errors, shortlist)``, the
    shortlist None when the query has errors or the cohort has no scored SME."""
    wanted, errors = _request(args)
    if errors:
        return wanted, errors, None
    shortlist, facts = _shortlist(session, wanted)
    if shortlist is not None:
        _explain(shortlist, facts)
    return wanted, errors, shortlist


@bp.route("")
@role_required("lead")
def build():
    session = get_session()
    cohorts = store.cohort_names(session)
    shortlist, errors, wanted = None, {}, None
    if "capacity" in request.args:
        wanted, errors = _request(request.args)
        if not errors:
            shortlist, facts = _shortlist(session, wanted)
            if shortlist is None:
                errors["cohort"] = t("shortlist.empty_cohort")
            else:
                _explain(shortlist, facts)
                store.audit(
                    session,
                    actor=actor(),
                    action="shortlist",
                    subject=f"cohort/{wanted['cohort']}"[:200],
                    details={
                        "capacity": wanted["capacity"],
                        "selected": len(shortlist["selected"]),
                    },
                )
                store.emit_shortlist(session, shortlist, cohort=wanted["cohort"])
                session.commit()
    status = 422 if errors else 200
    return render_template(
        "shortlist.html",
        cohorts=cohorts,
        markets=MARKETS,
        args=request.args,
        errors=errors,
        shortlist=shortlist,
        ruleset=get_scorer().ruleset,
    ), status


@bp.route("/export.<any(csv, xlsx):format>")
@role_required("lead")
def export(format: str):
    """The chosen SMEs and the near misses of the shortlist in the query."""
    session = get_session()
    wanted, errors = _request(request.args)
    shortlist, facts = (None, {}) if errors else _shortlist(session, wanted)
    if shortlist is None:
        return render_template("errors/404.html"), 404
    _explain(shortlist, facts)
    rows = [
        {
            "status": status,
            "rank": entry.get("rank"),
            "sme_id": entry["sme_id"],
            "name": entry["name"],
            "sector": entry["sector"],
            "score": entry["score"],
            "tier": entry["tier"],
            "ranking_score": entry["ranking_score"],
            "reason": entry["why"],
            "lacks": "; ".join(entry.get("lacks_text", [])),
        }
        for status, entries in (
            ("selected", shortlist["selected"]),
            ("near_miss", shortlist["near_misses"]),
        )
        for entry in entries
    ]
    store.audit(
        session,
        actor=actor(),
        action="export",
        subject=f"shortlist/{wanted['cohort']}"[:200],
        details={"format": format, "rows": len(rows)},
    )
    session.commit()
    return downloads.table_response(pd.DataFrame(rows), format=format, filename="shortlist")
