"""Shortlists: which SMEs get a fixed number of support places, and why.

Works on score records (SPEC section 4) that also carry the SME's ``sector``.
SMEs with a failed knock-out are never chosen; the rest are ranked by score,
or by readiness for one target market, with ties broken deterministically.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

DEFAULT_NEAR_MISSES = 5
ACTIONS_SHOWN = 3


def _ranking(record: Mapping, target_market: str | None) -> float | None:
    if target_market is None:
        return float(record["score"])
    market = record.get("market_readiness", {}).get(target_market)
    return None if market is None else float(market["score"])


def _sort_key(item: tuple[float, Mapping]) -> tuple:
    ranking, record = item
    return (-ranking, -float(record["score"]), -float(record["ml_probability"]), record["sme_id"])


def _lacks(record: Mapping, target_market: str | None) -> list[dict]:
    lacking = [
        {"criterion": a["criterion"], "gain": a["gain"], "label": a["label"]}
        for a in record.get("action_plan", [])[:ACTIONS_SHOWN]
    ]
    if target_market is not None:
        shown = {a["criterion"] for a in lacking}
        missing = record["market_readiness"][target_market]["missing"]
        lacking += [{"criterion": c} for c in missing if c not in shown]
    return lacking


def build_shortlist(
    records: Iterable[Mapping],
    *,
    capacity: int,
    target_market: str | None = None,
    max_per_sector: int | None = None,
    near_misses: int = DEFAULT_NEAR_MISSES,
) -> dict:
    """Choose up to ``capacity`` SMEs; return the chosen, the first near misses and the excluded."""
    if capacity < 1:
        raise ValueError("capacity must be at least 1")
    if max_per_sector is not None and max_per_sector < 1:
        raise ValueError("max_per_sector must be at least 1")
    basis = "score" if target_market is None else f"readiness for {target_market}"
    eligible, excluded = _eligible(records, target_market)
    selected, misses = _fill_places(
        eligible,
        capacity=capacity,
        target_market=target_market,
        max_per_sector=max_per_sector,
        near_misses=near_misses,
        basis=basis,
    )
    return {
        "capacity": capacity,
        "target_market": target_market,
        "max_per_sector": max_per_sector,
        "ranked_by": basis,
        "eligible": len(eligible),
        "selected": selected,
        "near_misses": misses,
        "excluded": excluded,
    }


def _excluded(record: Mapping, reason: str, knockouts: list[str]) -> dict:
    return {
        "sme_id": record["sme_id"],
        "sector": record.get("sector"),
        "reason": reason,
        "knockouts": knockouts,
    }


def _eligible(
    records: Iterable[Mapping], target_market: str | None
) -> tuple[list[tuple[float, Mapping]], list[dict]]:
    """The SMEs that may be chosen, best first, with their ranking value; and the excluded
    (a failed knock-out, or not targeting ``target_market``) by ``sme_id``."""
    excluded: list[dict] = []
    eligible: list[tuple[float, Mapping]] = []
    for record in records:
        if record["knockouts"]:
            reason = "failed knock-out: " + ", ".join(record["knockouts"])
            excluded.append(_excluded(record, reason, list(record["knockouts"])))
            continue
        ranking = _ranking(record, target_market)
        if ranking is None:
            excluded.append(_excluded(record, f"does not target {target_market}", []))
            continue
        eligible.append((ranking, record))
    eligible.sort(key=_sort_key)
    excluded.sort(key=lambda e: e["sme_id"])
    return eligible, excluded


def _fill_places(
    eligible: list[tuple[float, Mapping]],
    *,
    capacity: int,
    target_market: str | None,
    max_per_sector: int | None,
    near_misses: int,
    basis: str,
) -> tuple[list[dict], list[dict]]:
    """Walk the eligible in order: each takes a place while places and its sector's share
    last; the first ``near_misses`` left out are listed with what they lack."""
    selected: list[dict] = []
    misses: list[dict] = []
    per_sector: Counter[str] = Counter()
    for position, (ranking, record) in enumerate(eligible, start=1):
        sector = record.get("sector")
        entry = {
            "sme_id": record["sme_id"],
            "sector": sector,
            "score": record["score"],
            "tier": record["tier"],
            "ranking_score": round(ranking, 1),
            "position": position,
        }
        capped = max_per_sector is not None and per_sector[sector] >= max_per_sector
        if len(selected) < capacity and not capped:
            per_sector[sector] += 1
            entry["rank"] = len(selected) + 1
            entry["reason"] = (
                f"ranked {position} of {len(eligible)} eligible by {basis} "
                f"({round(ranking, 1)}, tier {record['tier']})"
            )
            if max_per_sector is not None:
                entry["reason"] += f"; {per_sector[sector]} of at most {max_per_sector} in {sector}"
            selected.append(entry)
        elif len(misses) < near_misses:
            if capped and len(selected) < capacity:
                entry["reason"] = f"sector cap reached: already {max_per_sector} from {sector}"
            else:
                last = selected[-1]["ranking_score"] if selected else None
                entry["reason"] = (
                    f"ranked {position} of {len(eligible)} by {basis}; "
                    f"{round(last - ranking, 1)} points below the last place"
                )
            entry["lacks"] = _lacks(record, target_market)
            misses.append(entry)
    return selected, misses
