"""Facts about SMEs that score records do not carry: business name and sector.

Shortlists need each SME's sector and result tables show its name. The store hands these
out with ``list_smes`` (a page of SMEs in two queries) and ``get_sme`` (one SME in a few
queries, of which only name and sector are kept here: no personal field leaves this
module). Pages are read when they cover the wanted SMEs cheaply: a cohort's members, or
all SMEs when there are not many more of them than wanted; otherwise one SME at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy.orm import Session

from api import store

PAGE = 500
#: Read every SME page by page when there are at most this many SMEs per wanted one.
SCAN_RATIO = 20


def _pages(session: Session, cohort: str | None) -> Iterator[dict]:
    page = 1
    while True:
        items, total = store.list_smes(session, cohort=cohort, page=page, per_page=PAGE)
        yield from items
        if not items or page * PAGE >= total:
            return
        page += 1


def _worth_scanning(session: Session, wanted: int) -> bool:
    _, total = store.list_smes(session, page=1, per_page=1)
    return total <= SCAN_RATIO * wanted


def sme_facts(
    session: Session, sme_ids: Iterable[str], *, cohort: str | None = None
) -> dict[str, dict[str, str]]:
    """``{sme_id: {"name", "sector"}}`` for the known SMEs among ``sme_ids``."""
    wanted = list(dict.fromkeys(sme_ids))
    facts: dict[str, dict[str, str]] = {}
    if wanted and (cohort is not None or _worth_scanning(session, len(wanted))):
        keep = set(wanted)
        for item in _pages(session, cohort):
            if item["sme_id"] in keep:
                facts[item["sme_id"]] = {"name": item["name"], "sector": item["sector"]}
    for sme_id in wanted:
        if sme_id not in facts:
            sme = store.get_sme(session, sme_id)
            if sme is not None:
                profile = sme["profile"]
                facts[sme_id] = {"name": profile["name"], "sector": profile["sector"]}
    return {sme_id: facts[sme_id] for sme_id in wanted if sme_id in facts}


def exported_results(session: Session, batch: dict, *, actor: str, format: str) -> list[dict]:
    """A complete batch's result rows with each SME's name and sector, the export recorded
    in the processing log (committed): what the API and the pages hand out."""
    rows = store.batch_results(session, batch["batch_id"]) or []
    facts = sme_facts(session, (row["sme_id"] for row in rows), cohort=batch["cohort"])
    for row in rows:
        row.update(facts.get(row["sme_id"], {"name": None, "sector": None}))
    store.audit(
        session,
        actor=actor,
        action="export",
        subject=f"batch/{batch['batch_id']}",
        details={"format": format, "rows": len(rows)},
    )
    session.commit()
    return rows
