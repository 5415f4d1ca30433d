"""POST /api/v1/shortlists: who gets the support places, and why.

Reasons are written by ``scoring.shortlist`` in English; with ``lang=id`` they are
rewritten from the shortlist's figures with the staff pages' Indonesian texts (the
``shortlist.*`` keys of ``api/web/translations``) and the ruleset's Indonesian names.
"""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint, abort

from api import store
from api.db import get_session
from api.http.auth import SCORE, current_actor, require_scope
from api.http.negotiation import JSON, accepts
from api.http.shortlist_schemas import (
    LanguageQuerySchema,
    ShortlistRequestSchema,
    ShortlistSchema,
)
from api.services.lookups import sme_facts
from api.services.scorer import get_scorer
from api.web.i18n import EXTENSION as CATALOGUES
from scoring.rules.ruleset import Ruleset
from scoring.shortlist import build_shortlist

blp = Blueprint(
    "shortlists", __name__, url_prefix="/api/v1/shortlists", description="Build shortlists."
)


def _unknown(field: str, message: str):
    abort(422, message=message, errors=[{"field": field, "message": message}])


def _candidates(session, request: dict) -> list[str]:
    """The sme_ids to choose from, from a cohort, a batch or a list."""
    if "cohort" in request:
        members = store.cohort_members(session, request["cohort"])
        if not members:
            _unknown("cohort", f"No SME belongs to cohort {request['cohort']!r}.")
        return members
    if "batch_id" in request:
        batch = store.get_batch(session, request["batch_id"])
        if batch is None or batch["status"] != "complete":
            _unknown("batch_id", f"No complete batch with id {request['batch_id']}.")
        rows = store.batch_results(session, request["batch_id"]) or []
        return list(dict.fromkeys(row["sme_id"] for row in rows))
    return list(dict.fromkeys(request["sme_ids"]))


def _name(ruleset: Ruleset, kind: str, ident: str, lang: str) -> str:
    """A ruleset item's name in ``lang``; an id the ruleset does not know, as it is."""
    items = {
        "criterion": ruleset.criteria,
        "tier": ruleset.tiers,
        "market": ruleset.markets,
    }[kind]
    return next((item.label[lang] for item in items if item.id == ident), ident)


def _in_indonesian(shortlist: dict, ruleset: Ruleset) -> None:
    """Rewrite the reasons of ``shortlist`` in Bahasa Indonesia (numbers with a decimal
    comma, names from the ruleset and the sector names of the staff pages)."""
    texts = current_app.extensions[CATALOGUES]["id"]

    def say(key: str, **params) -> str:
        return texts[key].format(**params)

    def number(value: float) -> str:
        return f"{value:.1f}".replace(".", ",")

    market = shortlist["target_market"]
    basis = (
        say("shortlist.by_score")
        if market is None
        else say("shortlist.by_market", market=_name(ruleset, "market", market, "id"))
    )
    selected = shortlist["selected"]
    cap = shortlist["max_per_sector"]
    for i, entry in enumerate(selected):
        reason = dict(
            position=entry["position"],
            eligible=shortlist["eligible"],
            basis=basis,
            value=number(entry["ranking_score"]),
            tier=_name(ruleset, "tier", entry["tier"], "id"),
        )
        if cap is None:
            entry["reason"] = say("shortlist.why_chosen", **reason)
        else:
            count = sum(s["sector"] == entry["sector"] for s in selected[: i + 1])
            sector = texts.get(f"sector.{entry['sector']}", entry["sector"])
            entry["reason"] = say(
                "shortlist.why_chosen_in_sector", **reason, count=count, cap=cap, sector=sector
            )
    for entry in shortlist["near_misses"]:
        # The places taken when this SME's turn came, as build_shortlist saw them.
        before = [s for s in selected if s["position"] < entry["position"]]
        capped = cap is not None and sum(s["sector"] == entry["sector"] for s in before) >= cap
        if capped and len(before) < shortlist["capacity"]:
            sector = texts.get(f"sector.{entry['sector']}", entry["sector"])
            entry["reason"] = say("shortlist.why_sector_cap", cap=cap, sector=sector)
        else:
            entry["reason"] = say(
                "shortlist.why_below",
                position=entry["position"],
                basis=basis,
                gap=number(before[-1]["ranking_score"] - entry["ranking_score"]),
            )
    for entry in shortlist["excluded"]:
        if entry["knockouts"]:
            names = ", ".join(_name(ruleset, "criterion", k, "id") for k in entry["knockouts"])
            entry["reason"] = say("shortlist.why_knockout", criteria=names)
        else:
            market_name = _name(ruleset, "market", market, "id")
            entry["reason"] = say("shortlist.why_not_targeting", market=market_name)


def _in_language(shortlist: dict, lang: str) -> dict:
    """``shortlist`` with the labels of what near misses lack (and, for ``id``, every
    reason) in ``lang``, whatever language the scores were made in."""
    ruleset = get_scorer().ruleset
    for entry in shortlist["near_misses"]:
        for lack in entry.get("lacks", []):
            if "label" in lack:
                lack["label"] = _name(ruleset, "criterion", lack["criterion"], lang)
    if lang == "id":
        _in_indonesian(shortlist, ruleset)
    return shortlist


@blp.route("", methods=["POST"])
@require_scope(SCORE)
@accepts(JSON)
@blp.arguments(LanguageQuerySchema, location="query", as_kwargs=True)
@blp.arguments(ShortlistRequestSchema, description=ShortlistRequestSchema.__doc__)
@blp.response(200, ShortlistSchema)
def create_shortlist(request: dict, lang: str):
    """Rank SMEs for a fixed number of support places

    Chooses up to `capacity` SMEs from a `cohort`, a `batch_id` or a list of `sme_ids`
    by their latest score (or by readiness for `target_market`), at most
    `max_per_sector` from one sector. SMEs with a failed knock-out are excluded. Each
    choice comes with its reason; the near misses say what they lack. Reasons and
    labels are in English or, with `lang=id`, Bahasa Indonesia.
    """
    session = get_session()
    sme_ids = _candidates(session, request)
    latest = store.latest_scores(session, sme_ids)
    unknown = [sme_id for sme_id in sme_ids if sme_id not in latest]
    if unknown:
        shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        _unknown("sme_ids", f"No score for {len(unknown)} SME(s): {shown}.")
    facts = sme_facts(session, sme_ids, cohort=request.get("cohort"))
    records = [{**latest[sme_id], "sector": facts[sme_id]["sector"]} for sme_id in sme_ids]
    shortlist = build_shortlist(
        records,
        capacity=request["capacity"],
        target_market=request.get("target_market"),
        max_per_sector=request.get("max_per_sector"),
    )
    source = {key: request[key] for key in ("cohort", "batch_id") if key in request}
    store.audit(
        session,
        actor=current_actor(),
        action="shortlist",
        subject=f"batch/{request['batch_id']}" if "batch_id" in request else None,
        details={**source, "candidates": len(sme_ids), "capacity": request["capacity"]},
    )
    store.emit_shortlist(
        session, shortlist, cohort=request.get("cohort"), batch_id=request.get("batch_id")
    )
    session.commit()
    return _in_language(shortlist, lang)
