"""The staff pages in a real browser: headless Chromium (Playwright) against a real
``sme-export serve`` process on loopback.

One server and one browser for the module; the tests run in order and share the
database: an officer scores an SME through the form, a lead uploads a batch with a bad
row and builds a shortlist, the language is switched. With ``SCREENSHOTS=1`` each main
page is saved under ``docs/screenshots/`` (``make screenshots``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from browser_helpers import log_in_page, new_page, screenshot, serving
from playwright.sync_api import expect
from web_helpers import PASSWORD

from api import store
from api.db import make_engine, make_sessionmaker, sqlite_url
from api.migrate import upgrade
from scoring.contract.fields import ALL_COLUMNS

pytest_plugins = ["api_fixtures", "browser_fixtures"]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """The base URL of a real server on a fresh database with an officer and a lead."""
    folder = tmp_path_factory.mktemp("e2e")
    url = sqlite_url(folder / "e2e.db")
    engine = make_engine(url)
    try:
        upgrade(engine)
        with make_sessionmaker(engine).begin() as session:
            for role in ("officer", "lead"):
                store.create_user(session, username=role, password=PASSWORD, role=role)
    finally:
        engine.dispose()
    with serving(folder, url) as base:
        yield base


def test_an_officer_fills_the_profile_form_and_sees_the_score(server, browser, profile):
    page = new_page(browser, server)
    page.goto("/profiles/new")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    screenshot(page, "login")
    log_in_page(page, "officer")
    page.goto("/profiles/new")
    page.fill("#sme_id", profile["sme_id"])
    page.fill("#name", profile["name"])
    page.select_option("#sector", profile["sector"])
    page.fill("#year_established", str(profile["year_established"]))
    page.fill("#employees", "enam")  # wrong on purpose: a number is expected
    page.fill("#annual_revenue_idr", "679.848.000")
    page.check("#has_nib")
    page.check("#has_npwp")
    page.check("#has_quality_control")
    page.check("#field-certifications input[value=SNI]")
    page.check("#field-target_markets input[value=EU]")
    page.check("#field-target_markets input[value=AU]")
    page.fill("#trade_fairs_last_3y", "1")
    page.fill("#owner_name", profile["owner_name"])
    page.fill("#cohort", "bdg-2020")
    page.click("form.profile button[type=submit]")
    expect(page.locator("#err-employees")).to_contain_text("Masukkan bilangan bulat")
    expect(page.locator("#employees")).to_have_value("enam")
    expect(page.locator("#name")).to_have_value(profile["name"])
    expect(page.locator("#has_nib")).to_be_checked()
    screenshot(page, "profile-form-errors")
    page.fill("#employees", "6")
    page.click("form.profile button[type=submit]")
    expect(page).to_have_url(re.compile(r"/smes/BDG-2020-001$"))
    expect(page.locator("#score-value")).to_have_text(re.compile(r"^\d+,\d$"))
    expect(page.locator("#tier")).not_to_be_empty()
    expect(page.locator("#action-plan li").first).to_be_visible()
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.get_by_text(profile["owner_name"])).to_be_visible()
    screenshot(page, "score-page")
    assert page.console_errors == []


def test_the_language_switch_persists(server, browser):
    page = new_page(browser, server)
    log_in_page(page, "officer")
    page.goto("/smes/BDG-2020-001")
    expect(page.locator("h2").first).to_have_text("Skor per kategori")
    page.click("button[data-lang=en]")
    expect(page.locator("h2").first).to_have_text("Scores by category")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/cohorts")
    expect(page.locator("h1")).to_have_text("Cohort table")
    screenshot(page, "cohort-table-en")
    page.click("button[data-lang=id]")
    expect(page.locator("h1")).to_have_text("Tabel kohort")
    assert page.console_errors == []


def test_switching_language_keeps_a_half_filled_form(server, browser):
    page = new_page(browser, server)
    log_in_page(page, "officer")
    page.goto("/profiles/new")
    page.fill("#sme_id", "BDG-2020-099")
    page.fill("#name", "Kopi Gunung Halu")
    page.select_option("#sector", "food_beverage")
    page.fill("#annual_revenue_idr", "1.500.000,50")
    page.check("#has_nib")
    page.check("#field-certifications input[value=HALAL]")
    page.fill("#cohort", "bdg-2026")
    page.click("button[data-lang=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Score an SME")
    expect(page.locator("#name")).to_have_value("Kopi Gunung Halu")
    expect(page.locator("#sme_id")).to_have_value("BDG-2020-099")
    expect(page.locator("#sector")).to_have_value("food_beverage")
    expect(page.locator("#annual_revenue_idr")).to_have_value("1500000.5")
    expect(page.locator("#has_nib")).to_be_checked()
    expect(page.locator("#field-certifications input[value=HALAL]")).to_be_checked()
    expect(page.locator("#cohort")).to_have_value("bdg-2026")
    expect(page.locator("#form-errors")).to_have_count(0)
    page.click("button[data-lang=id]")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.locator("#annual_revenue_idr")).to_have_value("1500000,5")
    expect(page.locator("#name")).to_have_value("Kopi Gunung Halu")
    # Completed and scored into a cohort with a long name (the phone test's filter box).
    page.fill("#year_established", "2015")
    page.fill("#employees", "4")
    page.check("#has_npwp")
    page.fill("#cohort", "bdg-2026-putaran-kedua-pelatihan-ekspor")
    page.click("form.profile button[type=submit]")
    expect(page).to_have_url(re.compile(r"/smes/BDG-2020-099$"))
    assert page.console_errors == []


def _batch_file(profile: dict) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(ALL_COLUMNS))
    writer.writeheader()
    better = {**profile, "has_website": True, "knows_incoterms": True, "export_packaging": True}
    better.update(has_logistics_partner=True, can_supply_continuously=True)
    rows = [
        better,
        {**profile, "sme_id": "BDG-2020-002", "name": "Batik Dua", "sector": "textile"},
        {**profile, "sme_id": "BDG-2020-003", "name": "Rotan Tiga", "sector": "furniture_wood"},
        {**profile, "sme_id": "BDG-2020-004", "employees": "banyak"},
    ]
    for row in rows:
        writer.writerow(
            {
                name: "; ".join(value) if isinstance(value, list) else value
                for name, value in row.items()
            }
        )
    return out.getvalue().encode("utf-8")


def test_a_lead_uploads_a_batch_with_a_bad_row(server, browser, profile, tmp_path):
    page = new_page(browser, server)
    log_in_page(page, "lead")
    page.goto("/batches")
    with page.expect_download() as download:
        page.click("a[href$='template.xlsx']")
    assert download.value.suggested_filename == "sme-profiles-template.xlsx"
    upload = tmp_path / "cohort.csv"
    upload.write_bytes(_batch_file(profile))
    page.set_input_files("#file", upload)
    expect(page.locator("[data-chosen]")).to_have_text("cohort.csv")
    page.fill("#cohort", "bdg-2020")
    screenshot(page, "batch-upload")
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#count-received")).to_have_text("4")
    expect(page.locator("#count-scored")).to_have_text("3")
    expect(page.locator("#count-rejected")).to_have_text("1")
    expect(page.locator("#row-errors")).to_contain_text("BDG-2020-004")
    expect(page.locator("#row-errors")).to_contain_text("Masukkan bilangan bulat")
    screenshot(page, "batch-result")
    with page.expect_download() as download:
        page.click("a[href$='results.csv']")
    assert download.value.suggested_filename.endswith("-results.csv")
    page.goto("/cohorts/compare?cohort=bdg-2020")
    expect(page.locator("#count-up")).to_have_text(re.compile(r"^[01]$"))
    expect(page.locator("svg.chart")).to_be_visible()
    screenshot(page, "before-after")
    assert page.console_errors == []


def test_a_lead_builds_and_exports_a_shortlist(server, browser):
    page = new_page(browser, server)
    log_in_page(page, "lead")
    page.goto("/shortlists")
    page.select_option("#cohort", "bdg-2020")
    page.fill("#capacity", "0")
    page.click("#shortlist-form button[type=submit]")
    expect(page.locator("#err-capacity")).to_be_visible()
    page.fill("#capacity", "2")
    page.fill("#max_per_sector", "1")
    page.click("#shortlist-form button[type=submit]")
    expect(page.locator("#chosen li")).to_have_count(2)
    expect(page.locator("#chosen")).to_contain_text("Peringkat 1 dari")
    expect(page.locator("#near-misses li").first).to_be_visible()
    screenshot(page, "shortlist")
    with page.expect_download() as download:
        page.click("a[href*='export.xlsx']")
    assert download.value.suggested_filename == "shortlist.xlsx"
    page.goto("/cohorts?cohort=bdg-2020")
    expect(page.locator("#cohort-table tbody tr")).to_have_count(3)
    page.fill("input[name=q]", "batik")
    page.click("#cohort-filters button[type=submit]")
    expect(page.locator("#cohort-table tbody tr")).to_have_count(1)
    assert page.console_errors == []


def test_the_score_page_works_on_a_phone(server, browser):
    page = new_page(browser, server, phone=True)
    log_in_page(page, "officer")
    page.goto("/smes/BDG-2020-001")
    expect(page.locator("#score-value")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1  # nothing wider than the screen
    screenshot(page, "score-page-phone")
    page.goto("/cohorts")
    expect(page.locator("#cohort-table")).to_be_visible()
    fits = "document.scrollingElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits), page.evaluate("document.scrollingElement.scrollWidth")
    screenshot(page, "cohort-table-phone")


def test_the_api_docs_render_under_their_content_security_policy(server, browser):
    page = new_page(browser, server)
    response = page.goto("/api/docs")
    assert "script-src" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("SME export-readiness")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    screenshot(page, "api-docs")
    assert page.console_errors == []
