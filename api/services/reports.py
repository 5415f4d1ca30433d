"""Readiness reports as PDF: one SME's, or a cohort's with one page per SME.

A report is the score page made to be handed over: score and tier, the category chart
against the sector average, criteria met and missed, readiness per target market, the
action plan with its gains and the sector's advice, the model's main factors in words,
the versions and the scoring date, and the office's name and contact (``OFFICE_NAME``,
``OFFICE_CONTACT``). It is drawn by WeasyPrint from the staff pages' templates and
translations, in Bahasa Indonesia or English whatever the page's language.

Each SME gets one A4 page: when its page runs over (a long action plan, many markets),
it is drawn again with fewer steps in full, the later ones named with their gains only.
No personal field enters a report: profiles are read without them (the business name is
the SME's own). Nothing is fetched while drawing: the fonts are the machine's (DejaVu
Sans), the chart is inline SVG, and the URL fetcher refuses every address but ``data:``
and ``file:`` ones. WeasyPrint is imported when a report is drawn: a machine without its
Pango library still runs the rest of the service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Response, current_app, render_template
from sqlalchemy.orm import Session

from api import store
from api.services.scorer import get_scorer
from api.services.sector_averages import sector_averages
from api.web import i18n
from api.web.profiles import MIN_SECTOR_COUNT, explain_reasons
from scoring.contract.fields import PERSONAL_COLUMNS

if TYPE_CHECKING:  # WeasyPrint (and the Pango it loads) only when a report is drawn
    from weasyprint import CSS, Document
    from weasyprint.urls import URLFetcher

MEDIA_TYPE = "application/pdf"
TEMPLATE = "reports/report.html"
STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "css" / "report.css"
#: The only kinds of address a report may load anything from.
ALLOWED_PROTOCOLS = ("data", "file")
#: How many steps of the action plan keep their advice, tried in turn until the SME's
#: page fits (None: all of them).
DETAILED_STEPS = (None, 10, 6, 3, 0)
#: A step's heading line (number, gain, line break) counted as this many characters of
#: text when the action plan is split into two columns.
_STEP_HEAD_CHARS = 60


class ReportTooLarge(ValueError):
    """A cohort report would hold more SMEs than one is allowed to."""

    def __init__(self, count: int, limit: int):
        self.count = count
        self.limit = limit
        super().__init__(
            f"The report would hold {count} SMEs; a cohort report holds at most {limit}. "
            "Ask for one sector or tier at a time."
        )


def local_fetcher() -> URLFetcher:
    """WeasyPrint's fetcher limited to ``data:`` and ``file:`` addresses: a report never
    reaches the network, whatever its HTML names."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=ALLOWED_PROTOCOLS, allow_redirects=False)


@cache
def _stylesheet() -> CSS:
    from weasyprint import CSS

    return CSS(string=STYLESHEET.read_text(encoding="utf-8"), url_fetcher=local_fetcher())


def check_size(count: int) -> None:
    """Refuse a cohort report of more SMEs than ``REPORT_MAX_SMES``."""
    limit = current_app.config["REPORT_MAX_SMES"]
    if count > limit:
        raise ReportTooLarge(count, limit)


# --- what a page shows ----------------------------------------------------------------------


class _SectorAverages:
    """Each sector's category averages and count, read once per report."""

    def __init__(self, session: Session):
        self._session = session
        self._known: dict[str, tuple[dict[str, float], int]] = {}

    def __call__(self, sector: str) -> tuple[dict[str, float], int]:
        if sector not in self._known:
            self._known[sector] = sector_averages(self._session, sector)
        return self._known[sector]


def _steps(record: dict, sector: str) -> list[dict]:
    """The numbered steps of the action plan with the advice for ``sector``."""
    ruleset = get_scorer().ruleset
    return [
        {
            "number": number,
            "label": i18n.ruleset_text(ruleset, "criterion", action["criterion"]),
            "gain": action["gain"],
            "advice": i18n.ruleset_text(
                ruleset, "recommendation", action["criterion"], sector=sector
            ),
        }
        for number, action in enumerate(record["action_plan"], start=1)
    ]


def _page(profile: dict, record: dict, averages: _SectorAverages) -> dict:
    """What one SME's page shows (in the current language); never a personal field."""
    public = {name: value for name, value in profile.items() if name not in PERSONAL_COLUMNS}
    sector_averages, sector_count = averages(public["sector"])
    return {
        "profile": public,
        "record": record,
        "averages": sector_averages,
        "sector_count": sector_count,
        "reasons": explain_reasons(record, public),
        "steps": _steps(record, public["sector"]),
    }


def _halves(steps: list[dict]) -> tuple[list[dict], list[dict]]:
    """The steps in two columns of about the same length, in order (WeasyPrint's own CSS
    columns would do it too, but lay a page out many times over)."""
    weights = [_STEP_HEAD_CHARS + len(step["label"]) + len(step["advice"]) for step in steps]
    total, running = sum(weights), 0
    for i, weight in enumerate(weights):
        if running + weight / 2 > total / 2:
            return steps[:i], steps[i:]
        running += weight
    return steps, []


def _with_detail(page: dict, cut: int) -> dict:
    """The page with the first ``cut`` steps in full (two columns) and the rest named."""
    steps = page["steps"]
    return {**page, "plan_columns": _halves(steps[:cut]), "further_steps": steps[cut:]}


# --- drawing --------------------------------------------------------------------------------


def _document(pages: list[dict], context: dict) -> Document:
    from weasyprint import HTML

    html = render_template(TEMPLATE, pages=pages, **context)
    return HTML(string=html, url_fetcher=local_fetcher()).render(stylesheets=[_stylesheet()])


def _fitted(page: dict, context: dict) -> Document:
    """The SME's page laid out on one sheet if fewer steps in full make it fit."""
    count = len(page["steps"])
    cuts = dict.fromkeys(count if n is None else min(n, count) for n in DETAILED_STEPS)
    for cut in cuts:
        document = _document([_with_detail(page, cut)], context)
        if len(document.pages) == 1:
            break
    return document


def _pdf(pages: list[dict], *, lang: str, title: str) -> bytes:
    """The pages drawn one SME at a time, then written as one PDF (current language)."""
    context = {
        "lang": lang,
        "title": title,
        "office_name": current_app.config["OFFICE_NAME"],
        "office_contact": current_app.config["OFFICE_CONTACT"],
        "min_sector_count": MIN_SECTOR_COUNT,
        "made_at": dt.datetime.now(dt.UTC),
    }
    documents = [_fitted(page, context) for page in pages] or [_document([], context)]
    whole = documents[0].copy([sheet for document in documents for sheet in document.pages])
    whole.metadata.title = title
    return whole.write_pdf()


def sme_report(session: Session, sme_id: str, *, lang: str) -> bytes | None:
    """One SME's report as PDF; None for an unknown or never scored SME."""
    found = store.get_sme(session, sme_id, personal=False)
    if found is None or found["latest_score"] is None:
        return None
    with i18n.language(lang):
        page = _page(found["profile"], found["latest_score"], _SectorAverages(session))
        return _pdf([page], lang=lang, title=i18n.t("report.title_sme", sme_id=sme_id))


def cohort_report(session: Session, cohort: str, sme_ids: Sequence[str], *, lang: str) -> bytes:
    """The report of ``sme_ids`` of ``cohort``, one page each in that order, as PDF.

    Raises ``ReportTooLarge`` before reading anything when there are too many.
    """
    check_size(len(sme_ids))
    profiles = {profile["sme_id"]: profile for profile in store.cohort_profiles(session, cohort)}
    records = store.latest_scores(session, sme_ids)
    averages = _SectorAverages(session)
    with i18n.language(lang):
        pages = [
            _page(profiles[sme_id], records[sme_id], averages)
            for sme_id in sme_ids
            if sme_id in profiles and sme_id in records
        ]
        return _pdf(pages, lang=lang, title=i18n.t("report.title_cohort", cohort=cohort))


def pdf_response(body: bytes, name: str, *, mimetype: str = MEDIA_TYPE) -> Response:
    """``body`` as a PDF download named after ``name`` (its letters, digits, ``-`` and ``_``)."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name)
    return current_app.response_class(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{safe or "report"}.pdf"'},
    )
