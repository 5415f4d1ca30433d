"""After the programme, in a real browser: headless Chromium (Playwright) against a real
``sme-export serve`` process on loopback, as ``test_web_e2e.py`` runs the other pages.

In each language a lead builds a shortlist of a cohort, records the decisions for it in
one step, opens a supported SME's page and records a follow-up that reports an export,
then opens the outcome evaluation: the decisions are counted, the one known outcome too,
and the page says there are too few outcomes to judge. Each language has its own cohort
(scored through the API before the server is handed to the tests). With ``SCREENSHOTS=1``
the pages are saved under ``docs/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.request
from collections.abc import Iterator

import pytest
from browser_helpers import log_in_page, new_page, screenshot, serving
from playwright.sync_api import expect
from web_helpers import PASSWORD

from api import store
from api.db import make_engine, make_sessionmaker, sqlite_url
from api.migrate import upgrade
from scoring.contract.fields import LABEL, PERSONAL_COLUMNS
from scoring.model import synth

pytest_plugins = ["api_fixtures", "browser_fixtures"]

#: One cohort per language, so each run's counts are its own.
COHORTS = {"id": "bdg-2026-a", "en": "bdg-2026-b"}
SMES_PER_COHORT = 5
PLACES = 2
#: What each language's pages say (the catalogues' texts, as a reader sees them).
TEXTS = {
    "id": {
        "recorded_title": "Keputusan telah dicatat",
        "recorded_count": f"{SMES_PER_COHORT} keputusan dicatat untuk daftar pendek kohort",
        "supported": "Didukung",
        "followup_recorded": "Tindak lanjut telah dicatat.",
        "yes": "Ya",
        "label_yes": "Ekspor dalam 12 bulan",
        "evaluation": "Evaluasi hasil",
        "counts": "Jumlah: UMKM yang didukung",
        "too_few": "Hasil terlalu sedikit untuk dinilai",
        "all": "Semua keputusan",
    },
    "en": {
        "recorded_title": "Decisions recorded",
        "recorded_count": f"{SMES_PER_COHORT} decision(s) recorded for the shortlist of cohort",
        "supported": "Supported",
        "followup_recorded": "The follow-up was recorded.",
        "yes": "yes",
        "label_yes": "Exported within 12 months",
        "evaluation": "Outcome evaluation",
        "counts": "Counts: supported SMEs",
        "too_few": "Too few outcomes to judge",
        "all": "All decisions",
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """The base URL of a real server on a fresh database with a lead, and a scored cohort
    per language (stored through the API with a key made for that)."""
    folder = tmp_path_factory.mktemp("e2e-outcomes")
    url = sqlite_url(folder / "e2e.db")
    engine = make_engine(url)
    try:
        upgrade(engine)
        with make_sessionmaker(engine).begin() as session:
            for role in ("officer", "lead"):
                store.create_user(session, username=role, password=PASSWORD, role=role)
            _, key = store.create_api_key(session, name="e2e", scopes=["score"])
    finally:
        engine.dispose()
    with serving(folder, url) as base:
        _score_cohorts(base, key)
        yield base


def _score_cohorts(base: str, key: str) -> None:
    """Each language's cohort of generated SMEs, scored and stored by ``POST /api/v1/scores``."""
    frame = synth.generate_profiles(SMES_PER_COHORT * len(COHORTS), seed=2026)
    frame = frame.drop(columns=[LABEL, *[c for c in PERSONAL_COLUMNS if c in frame]])
    profiles = json.loads(frame.to_json(orient="records"))
    for i, profile in enumerate(profiles):
        cohort = list(COHORTS.values())[i // SMES_PER_COHORT]
        request = urllib.request.Request(
            f"{base}/api/v1/scores?cohort={cohort}",
            data=json.dumps(profile).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": key},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 201


@pytest.mark.parametrize("lang", ["id", "en"])
def test_a_lead_records_decisions_and_a_follow_up_then_sees_the_evaluation(server, browser, lang):
    words, cohort = TEXTS[lang], COHORTS[lang]
    page = new_page(browser, server)
    log_in_page(page, "lead")
    if lang == "en":
        page.click("button[data-lang=en]")
        expect(page.locator("html")).to_have_attribute("lang", "en")

    # The shortlist, and its decisions recorded in one step.
    page.goto("/shortlists")
    page.select_option("#cohort", cohort)
    page.fill("#capacity", str(PLACES))
    page.click("#shortlist-form button[type=submit]")
    expect(page.locator("#chosen li")).to_have_count(PLACES)
    form = page.locator("#decisions-form")
    expect(form.locator("fieldset[id^=row-]")).to_have_count(SMES_PER_COHORT)
    form.locator("#shared-support_kind").select_option("export_coaching")
    screenshot(page, f"shortlist-decisions-{lang}")
    form.locator("button[type=submit]").click()
    expect(page.locator("h1")).to_have_text(words["recorded_title"])
    expect(page.locator("#recorded-count")).to_contain_text(words["recorded_count"])
    rows = page.locator("#recorded tbody tr")
    expect(rows).to_have_count(SMES_PER_COHORT)
    supported = rows.filter(
        has=page.locator("td:nth-child(2)").get_by_text(words["supported"], exact=True)
    )
    expect(supported).to_have_count(PLACES)

    # A supported SME's page: a follow-up that reports an export.
    supported.first.locator("a").click()
    expect(page).to_have_url(re.compile(r"/smes/[^/#]+#outcomes$"))
    today = page.locator("#followup-followup_date").input_value() or dt.date.today().isoformat()
    page.fill("#followup-followup_date", today)
    page.check("#followup-exported-yes")
    page.select_option("#followup-learned_via", "phone_call")
    page.fill("#followup-first_export_date", today)
    page.click("#new-followup button[type=submit]")
    expect(page.locator("main p.notice").first).to_have_text(words["followup_recorded"])
    expect(page.locator("#followups tbody tr")).to_have_count(1)
    expect(page.locator("#followups tbody tr").first).to_contain_text(words["yes"])
    expect(page.locator("#decisions")).to_contain_text(words["label_yes"])
    screenshot(page, f"sme-followup-{lang}")

    # The evaluation of the cohort: counted, and too few outcomes to judge.
    page.goto("/outcomes/evaluation")
    expect(page.locator("h1")).to_have_text(words["evaluation"])
    page.select_option("#evaluation-filters select[name=cohort]", cohort)
    page.click("#evaluation-filters button[type=submit]")
    expect(page).to_have_url(re.compile(rf"cohort={cohort}"))
    expect(page.locator("h2").first).to_have_text(words["counts"])
    expect(page.locator("#count-decisions")).to_have_text(str(PLACES))
    expect(page.locator("#count-known")).to_have_text("1")
    expect(page.locator("#count-censored")).to_have_text(str(PLACES - 1))
    expect(page.locator("#count-exported")).to_have_text("1")
    expect(page.locator("#too-few")).to_contain_text(words["too_few"])
    expect(page.locator("svg.chart")).to_have_count(0)
    screenshot(page, f"outcome-evaluation-{lang}")
    page.select_option("#evaluation-filters select[name=decision]", "all")
    page.click("#evaluation-filters button[type=submit]")
    expect(page.locator("#decision option:checked")).to_have_text(words["all"])
    expect(page.locator("#count-decisions")).to_have_text(str(SMES_PER_COHORT))
    expect(page.locator("#too-few")).to_be_visible()
    assert page.console_errors == []
