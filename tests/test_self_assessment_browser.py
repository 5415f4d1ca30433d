"""The SME's self-assessment in a real browser on a phone: headless Chromium (Playwright)
with a phone's viewport and touch against a real ``sme-export serve``.

The SME opens its invitation link, fills the form in Bahasa Indonesia, saves a draft,
opens the link again and finds the draft, is told to accept the consent, accepts it and
submits; the thank-you page shows its estimated score. An officer then logs in, opens the
submission from the review queue and accepts it: the SME's score page follows. No page
scrolls sideways on the phone, and every page passes the axe-core WCAG 2.1 AA audit.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_helpers import assert_accessible, log_in_page, new_page, screenshot, serving
from playwright.sync_api import Browser, Page, expect
from web_helpers import PASSWORD

from api import store
from api.db import make_engine, make_sessionmaker, sqlite_url
from api.migrate import upgrade
from api.services import self_assessment

pytest_plugins = ["browser_fixtures"]

SME_ID = "BDG-2027-007"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict]:
    """A real server on a fresh database with an officer and one invitation (for a new SME
    of a cohort, showing the SME its estimated score): the base URL and the link's path."""
    folder = tmp_path_factory.mktemp("self-assessment")
    url = sqlite_url(folder / "e2e.db")
    engine = make_engine(url)
    try:
        upgrade(engine)
        with make_sessionmaker(engine).begin() as session:
            store.create_user(session, username="officer", password=PASSWORD, role="officer")
            _, token = self_assessment.make_invitation(
                session,
                kind="cohort",
                sme_id=SME_ID,
                cohort="bdg-2027",
                show_result=True,
                actor="test",
                with_personal=True,
            )
    finally:
        engine.dispose()
    with serving(folder, url) as base:
        yield {"base": base, "link": f"/self/{token}"}


def phone_page(browser: Browser, base: str) -> Page:
    """A page on a phone-sized touch screen (``browser_helpers.new_page``)."""
    return new_page(browser, base, touch=True)


def check_page(page: Page, label: str) -> None:
    """No sideways scrolling on the phone, no script error, no WCAG 2.1 AA violation."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), label
    assert page.console_errors == [], label
    assert_accessible(page, label)


def test_an_sme_fills_saves_resumes_and_submits_on_a_phone_and_an_officer_accepts(server, browser):
    page = phone_page(browser, server["base"])
    link = server["link"]

    # The form, in Bahasa Indonesia: the SME's number is shown, never asked for.
    page.goto(link)
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.locator("h1")).to_have_text("Penilaian mandiri kesiapan ekspor")
    expect(page.locator("#sme-id")).to_have_text(SME_ID)
    expect(page.locator("#sme_id")).to_have_count(0)
    check_page(page, "self-assessment form")

    page.fill("#name", "CV Anyaman Ciwidey")
    page.select_option("#sector", "handicraft")
    page.fill("#year_established", "2012")
    page.fill("#employees", "9")
    page.fill("#annual_revenue_idr", "1.250.000.000")
    page.check("#has_nib")
    page.check("#has_npwp")
    page.locator("input[name=target_markets][value=JP]").check()
    page.fill("#owner_name", "Dewi Lestari")
    page.locator("#save").tap()
    expect(page.locator("main .notice")).to_contain_text("Draf tersimpan")
    screenshot(page, "self-assessment-phone")

    # The same link again: the draft is there, numbers as the page writes them.
    page.goto(link)
    expect(page.locator("#name")).to_have_value("CV Anyaman Ciwidey")
    expect(page.locator("#sector")).to_have_value("handicraft")
    expect(page.locator("#annual_revenue_idr")).to_have_value("1250000000")
    expect(page.locator("#has_nib")).to_be_checked()
    expect(page.locator("#owner_name")).to_have_value("Dewi Lestari")
    expect(page.locator("#draft-saved")).to_be_visible()

    # Submitting without the consent is refused, with the reason beside the box.
    page.locator("#submit").tap()
    expect(page.locator("#err-consent")).to_contain_text("Centang persetujuan")
    expect(page.locator("#name")).to_have_value("CV Anyaman Ciwidey")
    check_page(page, "self-assessment form with an error")
    page.check("#consent")
    page.locator("#submit").tap()
    expect(page.locator("h1")).to_have_text("Terima kasih")
    expect(page.locator("#preview #score-value")).to_be_visible()
    expect(page.locator("#preview #action-plan li").first).to_be_visible()
    check_page(page, "self-assessment thank-you page")

    # The link now says where the answers stand, in both languages (410: its one use made).
    response = page.goto(link)
    assert response.status == 410
    expect(page.locator("#message-id h1")).to_have_text("Jawaban Anda sedang diperiksa")
    expect(page.locator("#message-en")).to_contain_text("Your answers are being checked")
    check_page(page, "self-assessment link used")
    assert page.goto("/self/" + "z" * 32).status == 404
    check_page(page, "self-assessment unknown link")

    # The officer reviews the submission and accepts it.
    officer = phone_page(browser, server["base"])
    log_in_page(officer, "officer")
    officer.goto("/self-assessments/review")
    expect(officer.locator("#review-queue")).to_contain_text(SME_ID)
    check_page(officer, "self-assessment review queue")
    officer.locator("#review-queue a.button").first.tap()
    expect(officer.locator("#valid")).to_be_visible()
    expect(officer.locator("#name")).to_have_value("CV Anyaman Ciwidey")
    check_page(officer, "self-assessment review")
    officer.locator("#accept").tap()
    expect(officer).to_have_url(f"{server['base']}/smes/{SME_ID}")
    expect(officer.locator("#score-value")).to_be_visible()
    officer.goto("/invitations")
    expect(officer.locator(".state").first).to_have_text("sudah dipakai")
    check_page(officer, "invitations")


def test_an_officer_makes_an_invitation_and_the_sme_switches_its_form_to_english(server, browser):
    page = phone_page(browser, server["base"])
    log_in_page(page, "officer")
    page.goto("/invitations")
    page.fill("#cohort", "bdg-2027")
    page.locator("#invitation-form button[type=submit]").tap()
    expect(page.locator("#new-invitation")).to_be_visible()
    link = page.locator("#new-link").input_value()
    assert link.startswith(f"{server['base']}/self/")
    expect(page.locator("button[data-copy=new-link]")).to_be_visible()
    check_page(page, "invitation made, its link shown once")
    page.goto("/invitations")
    expect(page.locator("#new-link")).to_have_count(0)

    sme = phone_page(browser, server["base"])
    sme.goto(link)
    sme.fill("#name", "UD Kopi Malabar")
    sme.fill("#employees", "4")
    sme.locator("header button[data-lang=en]").tap()
    expect(sme.locator("html")).to_have_attribute("lang", "en")
    expect(sme.locator("h1")).to_have_text("Export readiness self-assessment")
    expect(sme.locator("#name")).to_have_value("UD Kopi Malabar")
    expect(sme.locator("#employees")).to_have_value("4")
    check_page(sme, "self-assessment form in English")
