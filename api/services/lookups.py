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
    return list(iter_exported_results(session, batch, actor=actor, format=format))


def iter_exported_results(
    session: Session, batch: dict, *, actor: str, format: str
) -> Iterator[dict]:
    """``exported_results`` one row at a time: names, sectors and the processing log entry
    are done now; the rows are read from the database as the iterator is consumed."""
    sme_ids = store.batch_sme_ids(session, batch["batch_id"])
    facts = sme_facts(session, sme_ids, cohort=batch["cohort"])
    store.audit(
        session,
        actor=actor,
        action="export",
        subject=f"batch/{batch['batch_id']}",
        details={"format": format, "rows": len(sme_ids)},
    )
    session.commit()
    unknown = {"name": None, "sector": None}
    rows = store.iter_batch_results(session, batch["batch_id"])
    return ({**row, **facts.get(row["sme_id"], unknown)} for row in rows)
