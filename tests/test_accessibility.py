"""Every page of the service passes an automated WCAG 2.1 AA audit (axe-core in headless
Chromium against a real ``sme-export serve``), and the profile form works with the keyboard
alone.

The server's database holds the demo cohort (``sme-export demo load``: scored SMEs, support
decisions, follow-ups), a batch with a rejected row whose SMEs were scored twice (the
before/after page has movers), an API key and a webhook subscription with a failed
delivery. Every GET route of the app outside ``/api`` is audited here, in Indonesian and in
English, or listed in ``EXCLUDED`` with the reason; a new page fails
``test_every_page_is_audited_or_excluded`` until it is one or the other. Forms are audited
showing their errors too, since that is where accessibility usually breaks.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from browser_helpers import axe_violations, describe_violations, log_in_page, new_page, serving
from flask import render_template
from playwright.sync_api import Page, expect
from sqlalchemy import select
from web_helpers import PASSWORD

from api import create_app, store
from api.db import make_engine, make_sessionmaker, sqlite_url
from api.tables import Event, ExportFollowUp, SupportDecision, WebhookDelivery
from api.web import i18n
from scoring.contract.fields import LABEL, PERSONAL_COLUMNS
from scoring.model import synth
from scoring.rules import registry as rulesets

pytest_plugins = ["browser_fixtures"]

LANGUAGES = ("id", "en")
#: The cohort of the batch uploaded through the API, scored twice.
BATCH_COHORT = "a11y-2026"
BATCH_SIZE = 6
CLI = [sys.executable, "-c", "from api.cli import main; main()"]

#: The pages audited (logged in as an admin), by endpoint: their paths, with the seeded
#: records' ids in braces. A page showing other content with a query has one path per state.
PAGES: dict[str, tuple[str, ...]] = {
    "web_auth.home": ("/",),
    "web_profiles.new_profile": ("/profiles/new", "/profiles/new?from={sme}"),
    "web_profiles.sme": ("/smes/{sme}", "/smes/{batch_sme}"),
    "web_cohorts.table": ("/cohorts?cohort={cohort}", "/cohorts?cohort={batch_cohort}"),
    "web_cohorts.compare": ("/cohorts/compare?cohort={batch_cohort}",),
    "web_batches.upload": ("/batches",),
    "web_batches.batch": ("/batches/{batch}",),
    "web_shortlists.build": (
        "/shortlists",
        "/shortlists?cohort={cohort}&capacity=5&max_per_sector=2",
        "/shortlists?cohort={cohort}&capacity=0",
    ),
    "web_outcomes.record_shortlist": ("/outcomes/shortlist?cohort={cohort}&capacity=3",),
    "web_outcomes.worklist": ("/outcomes/worklist",),
    "web_outcomes.import_file": ("/outcomes/import",),
    "web_outcomes.record_decision": ("/outcomes/smes/{sme}/decisions",),
    "web_outcomes.edit_decision": ("/outcomes/decisions/{decision}/edit",),
    "web_outcomes.delete_decision": ("/outcomes/decisions/{decision}/delete",),
    "web_outcomes.record_followup": ("/outcomes/smes/{sme}/followups",),
    "web_outcomes.edit_followup": ("/outcomes/followups/{followup}/edit",),
    "web_outcomes.delete_followup": ("/outcomes/followups/{followup}/delete",),
    "web_outcomes_eval.evaluation": (
        "/outcomes/evaluation",
        "/outcomes/evaluation?cohort={batch_cohort}",
    ),
    "web_outcomes_eval.train": ("/outcomes/train",),
    "governance_web.model_card": ("/model-card",),
    "governance_web.fairness": ("/fairness",),
    "governance_web.drift": ("/drift",),
    "governance_web.models": ("/models",),
    "governance_web.ruleset_impact": (
        "/rulesets/impact",
        "/rulesets/impact?ruleset={ruleset}&cohort={cohort}",
    ),
    "protection_web.processing_log": ("/admin/processing-log",),
    "protection_web.erase_sme": ("/admin/smes/{batch_sme}/erase",),
    "web_admin.users": ("/admin/users",),
    "web_admin.keys": ("/admin/keys",),
    "web_webhooks.webhooks": ("/admin/webhooks",),
    "web_invitations.invitations": ("/invitations",),
    "web_invitations.review_queue": ("/self-assessments/review",),
}
#: Pages audited logged out (``test_the_logged_out_pages_are_accessible``).
LOGGED_OUT_PAGES = {"web_auth.login": ("/login", "/login?next=/cohorts")}
#: GET routes that are not audited, and why. Everything else must be in ``PAGES``.
EXCLUDED = {
    "static": "the pages' stylesheets, script and icon",
    "health.healthz": "a JSON probe for load balancers",
    "health.readyz": "a JSON probe for load balancers",
    "web_batches.progress": "JSON polled by the batch page's script",
    # Downloads: files, not pages.
    "web_batches.results": "a CSV or XLSX download",
    "web_batches.template": "a CSV or XLSX download",
    "web_cohorts.export": "a CSV or XLSX download",
    "web_shortlists.export": "a CSV or XLSX download",
    "web_outcomes.template": "a CSV or XLSX download",
    "web_reports.sme_report": "a PDF download (tests/test_reports.py)",
    "web_reports.cohort_report": "a PDF download (tests/test_reports.py)",
    # The SME's self-assessment: its link's pages and an officer's review of a submission
    # need an invitation's token or a submitted self-assessment.
    "web_self.fill": "audited in tests/test_self_assessment_browser.py",
    "web_self.thanks": "audited in tests/test_self_assessment_browser.py",
    "web_invitations.review": "audited in tests/test_self_assessment_browser.py",
}


def page_routes() -> dict[str, str]:
    """The app's GET routes outside the API: endpoint to rule."""
    app = create_app("test")
    routes = {}
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.rule.startswith("/api"):
            routes[rule.endpoint] = rule.rule
    return routes


def test_every_page_is_audited_or_excluded():
    routes = page_routes()
    audited = {**PAGES, **LOGGED_OUT_PAGES}
    missing = sorted(f"{e} ({r})" for e, r in routes.items() if e not in audited | EXCLUDED)
    assert not missing, "pages neither audited nor excluded: " + ", ".join(missing)
    stale = sorted((set(audited) | set(EXCLUDED)) - set(routes))
    assert not stale, "audited or excluded but not routes: " + ", ".join(stale)


# --- the server and its data ------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict]:
    """A real server on a database with something on every page: its base URL (``base``)
    and the seeded records' ids, URL-quoted (``PAGES``' placeholders)."""
    folder = tmp_path_factory.mktemp("a11y")
    url = sqlite_url(folder / "a11y.db")
    subprocess.run(
        [*CLI, "demo", "load", "--database-url", url],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            for role in ("officer", "admin"):
                store.create_user(session, username=role, password=PASSWORD, role=role)
            _, key = store.create_api_key(session, name="a11y", scopes=["score", "read"])
            ids = _demo_ids(session)
            _failed_webhook_delivery(session)
    finally:
        engine.dispose()
    # The shipped ruleset filed under its version, for the ruleset impact page to compare.
    ruleset = rulesets.register(folder / "rulesets", None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SME_EXPORT_RULESETS_DIR", str(folder / "rulesets"))
        with serving(folder, url) as base:
            batch, batch_sme = _scored_batch(base, key)
            ids.update(batch=batch, batch_sme=batch_sme, batch_cohort=BATCH_COHORT)
            ids.update(ruleset=ruleset.version_string)
            yield {"base": base, **{name: quote(str(v), safe="") for name, v in ids.items()}}


def _demo_ids(session) -> dict:
    """An SME of the demo with a decision and a follow-up, and their ids."""
    followup = session.scalars(select(ExportFollowUp).order_by(ExportFollowUp.id)).first()
    decision = session.scalars(
        select(SupportDecision).where(SupportDecision.sme_id == followup.sme_id)
    ).first()
    cohort = session.scalars(select(SupportDecision.cohort)).first()
    return {
        "sme": followup.sme_id,
        "decision": decision.id,
        "followup": followup.id,
        "cohort": cohort,
    }


def _failed_webhook_delivery(session) -> None:
    """A subscription whose delivery of the first event failed (the webhooks page's table)."""
    subscription = store.create_subscription(
        session,
        url="https://receiver.example/hooks",
        secret="a11y-secret",
        types=None,
        description="Sistem perizinan",
        actor="test",
    )
    event = session.scalars(select(Event.id).order_by(Event.id)).first()
    now = dt.datetime.now(dt.UTC)
    session.add(
        WebhookDelivery(
            subscription_id=subscription["id"],
            event_id=event,
            status="failed",
            attempts=3,
            last_attempt_at=now,
            status_code=500,
            duration_ms=120,
            error="HTTP 500",
        )
    )


def _scored_batch(base: str, key: str) -> tuple[int, str]:
    """A batch with one rejected row, scored twice (better the second time): its id, an SME."""
    frame = synth.generate_profiles(BATCH_SIZE, seed=16)
    frame = frame.drop(columns=[LABEL, *[c for c in PERSONAL_COLUMNS if c in frame]])
    profiles = json.loads(frame.to_json(orient="records"))
    better = [{**p, "has_website": True, "knows_incoterms": True} for p in profiles]
    for rows in (profiles, [*better, {**profiles[0], "employees": "banyak"}]):
        request = urllib.request.Request(
            f"{base}/api/v1/batches?cohort={BATCH_COHORT}",
            data=json.dumps(rows).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": key},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            batch = json.load(response)
    return batch["id"], profiles[0]["sme_id"]


# --- auditing ---------------------------------------------------------------------------------


def use_language(page: Page, lang: str) -> None:
    if page.locator("html").get_attribute("lang") != lang:
        page.click(f"button[data-lang={lang}]")
        expect(page.locator("html")).to_have_attribute("lang", lang)


class Audit:
    """The violations found on the pages visited, reported together at the end."""

    def __init__(self, page: Page, lang: str) -> None:
        self.page, self.lang, self.reports = page, lang, []

    def check(self, label: str) -> None:
        assert self.page.console_errors == [], self.page.console_errors
        violations = axe_violations(self.page)
        if violations:
            self.reports.append(
                describe_violations(f"{self.lang} {label}", self.page.url, violations)
            )

    def visit(self, path: str, *, status: tuple[int, ...] = (200, 422)) -> None:
        """Open and audit the page at ``path`` (by default shown, or shown with errors)."""
        response = self.page.goto(path)
        assert response.status in status, f"{path}: {response.status}"
        self.check(path)

    def assert_clean(self) -> None:
        assert not self.reports, "\n" + "\n".join(self.reports)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_staff_page_is_accessible(site, browser, lang):
    page = new_page(browser, site["base"])
    log_in_page(page, "admin")
    use_language(page, lang)
    audit = Audit(page, lang)
    for paths in PAGES.values():
        for path in paths:
            audit.visit(path.format(**site))
    audit.visit("/no-such-page", status=(404,))
    audit.visit("/logout", status=(405,))
    audit.assert_clean()


#: Pages an officer opens on a phone, where wide tables become cards or scroll in their box.
PHONE_PAGES = (
    "/profiles/new",
    "/smes/{sme}",
    "/cohorts?cohort={cohort}",
    "/outcomes/worklist",
    "/outcomes/evaluation",
    "/fairness",
    "/admin/processing-log",
)


def test_the_main_pages_are_accessible_on_a_phone(site, browser):
    page = new_page(browser, site["base"], phone=True)
    log_in_page(page, "admin")
    use_language(page, "id")
    audit = Audit(page, "id (phone)")
    for path in PHONE_PAGES:
        audit.visit(path.format(**site))
    audit.assert_clean()


#: Forms sent with mistakes, each left showing its errors: what is filled in, then the
#: element that says what is wrong.
def _profile_errors(page: Page, ids: dict) -> str:
    page.goto("/profiles/new")
    page.fill("#sme_id", "bukan id!")
    page.fill("#employees", "enam")
    page.click("#profile-form button[type=submit]")
    return "#form-errors"


def _decision_errors(page: Page, ids: dict) -> str:
    page.goto(f"/outcomes/smes/{ids['sme']}/decisions")
    page.fill("#decision-decided_on", "")
    page.fill("#decision-decided_by", "")
    page.click("#decision-form button[type=submit]")
    return "#form-errors"


def _followup_errors(page: Page, ids: dict) -> str:
    page.goto(f"/outcomes/smes/{ids['sme']}/followups")
    page.fill("#followup-export_value_usd", "banyak")
    page.click("#followup-form button[type=submit]")
    return "#form-errors"


def _delete_unconfirmed(page: Page, ids: dict) -> str:
    page.goto(f"/outcomes/followups/{ids['followup']}/delete")
    page.locator("#delete-form").evaluate("form => form.noValidate = true")
    page.click("#delete-form button[type=submit]")
    return "#confirm-error"


def _shortlist_decisions_errors(page: Page, ids: dict) -> str:
    page.goto(f"/outcomes/shortlist?cohort={ids['batch_cohort']}&capacity=2")
    page.fill("#shared-decided_on", "")
    page.click("#decisions-form button[type=submit]")
    return "#decisions-errors"


def _user_errors(page: Page, ids: dict) -> str:
    page.goto("/admin/users")
    page.fill("#username", "baru")
    page.fill("#password", "pendek")
    page.click("form.stacked button[type=submit]")
    return "p.error"


def _batch_file_errors(page: Page, ids: dict, tmp: Path) -> str:
    page.goto("/batches")
    page.set_input_files("#file", _file(tmp, "kosong.csv", b"bukan;tabel\n"))
    page.click("#upload-form button[type=submit]")
    return "#upload-error"


def _import_errors(page: Page, ids: dict, tmp: Path) -> str:
    page.goto("/outcomes/import")
    page.set_input_files("#file", _file(tmp, "tindak-lanjut.csv", b"sme_id;exported\nX;mungkin\n"))
    page.click("#import-form button[type=submit]")
    return "#upload-error, #row-errors"


def _file(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


FORMS_WITH_ERRORS: dict[str, Callable[..., str]] = {
    "profile form": _profile_errors,
    "decision form": _decision_errors,
    "follow-up form": _followup_errors,
    "delete not confirmed": _delete_unconfirmed,
    "shortlist decisions": _shortlist_decisions_errors,
    "new user": _user_errors,
}
UPLOADS_WITH_ERRORS: dict[str, Callable[..., str]] = {
    "batch upload": _batch_file_errors,
    "outcome import": _import_errors,
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_forms_showing_their_errors_are_accessible(site, browser, lang, tmp_path):
    page = new_page(browser, site["base"])
    log_in_page(page, "admin")
    use_language(page, lang)
    audit = Audit(page, lang)
    for label, fill in FORMS_WITH_ERRORS.items():
        expect(page.locator(fill(page, site)).first).to_be_visible()
        audit.check(label)
    for label, upload in UPLOADS_WITH_ERRORS.items():
        expect(page.locator(upload(page, site, tmp_path)).first).to_be_visible()
        audit.check(label)
    audit.assert_clean()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_logged_out_pages_are_accessible(site, browser, lang):
    page = new_page(browser, site["base"])
    page.goto("/login")
    use_language(page, lang)
    audit = Audit(page, lang)
    for paths in LOGGED_OUT_PAGES.values():
        for path in paths:
            audit.visit(path)
    page.fill("#username", "admin")
    page.fill("#password", "salah sekali")
    page.click("form.stacked button[type=submit]")
    expect(page.locator("p.error")).to_be_visible()
    audit.check("login refused")
    audit.visit("/no-such-page", status=(404,))
    # A form sent with a stale CSRF token.
    page.goto("/login")
    page.locator("form.stacked input[name=csrf_token]").evaluate("input => input.value = 'stale'")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("form.stacked button[type=submit]")
    expect(page.locator("h1")).to_be_visible()
    audit.check("400 (stale form)")
    audit.assert_clean()


def test_the_forbidden_and_rarely_seen_error_pages_are_accessible(site, browser):
    """403 as an officer on an admin page; 422, 500 and 503, which a healthy server does not
    show on demand, rendered by the app and shown at a made-up address of the server (so
    the stylesheet is its own)."""
    page = new_page(browser, site["base"])
    log_in_page(page, "officer")
    audit = Audit(page, "id")
    audit.visit("/admin/users", status=(403,))
    app = create_app("test")
    errors = [{"field": "employees", "message": "Not a valid integer."}]
    for lang in LANGUAGES:
        audit.lang = lang
        for status in (422, 500, 503):
            with app.test_request_context("/"), i18n.language(lang):
                html = render_template(f"errors/{status}.html", errors=errors, reference="a1b2")
            address = f"{site['base']}/error-{status}-{lang}"
            page.route(address, answer_with(html))
            page.goto(address)
            expect(page.locator("html")).to_have_attribute("lang", lang)
            audit.check(f"{status} page")
    audit.assert_clean()


def answer_with(html: str) -> Callable:
    """A route handler that answers with ``html``."""
    return lambda route: route.fulfill(body=html, content_type="text/html")


# --- the keyboard -----------------------------------------------------------------------------

#: What the keyboard test enters, by the focused element's id (or name=value of a choice).
TYPED = {
    "sme_id": "KBD-2026-001",
    "name": "Anyaman Keyboard",
    "year_established": "2012",
    "employees": "8",
    "annual_revenue_idr": "750000000",
}
SELECTED = {"sector": "textile"}
TICKED = {"has_nib", "has_npwp", "target_markets=EU"}
FOCUSED = """() => {
  const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();
  return {id: e.id, tag: e.tagName.toLowerCase(), type: e.type || '', name: e.name || '',
          value: e.value || '', href: e.getAttribute('href') || '',
          visible: r.width > 0 && r.top >= 0 && r.bottom <= innerHeight,
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
          shadow: s.boxShadow !== 'none'};
}"""


def focused(page: Page) -> dict:
    return page.evaluate(FOCUSED)


def test_the_profile_form_is_filled_and_sent_with_the_keyboard_alone(site, browser):
    page = new_page(browser, site["base"])
    log_in_page(page, "officer")
    use_language(page, "id")
    page.goto("/profiles/new")
    page.keyboard.press("Tab")
    first = focused(page)
    assert first["href"] == "#main" and first["visible"], first  # "skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "sme_id"  # the skip link jumped over the navigation
    done = set()
    for _ in range(200):
        here = focused(page)
        assert here["outline"] or here["shadow"], f"no visible focus on {here}"
        choice = f"{here['name']}={here['value']}"
        if here["id"] in TYPED:
            page.keyboard.type(TYPED[here["id"]])
            done.add(here["id"])
        elif here["id"] in SELECTED:
            for _ in range(30):
                if page.evaluate("document.activeElement.value") == SELECTED[here["id"]]:
                    break
                page.keyboard.press("ArrowDown")
            done.add(here["id"])
        elif here["id"] in TICKED or choice in TICKED:
            page.keyboard.press("Space")
            done.add(here["id"] if here["id"] in TICKED else choice)
        if here["tag"] == "button" and page.evaluate(
            "document.activeElement.closest('#profile-form') !== null"
        ):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("Tab never reached the form's submit button")
    assert done == set(TYPED) | set(SELECTED) | TICKED
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "cohort"
    page.keyboard.type("keyboard-2026")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/smes/KBD-2026-001$"))
    expect(page.locator("#score-value")).to_have_text(re.compile(r"^\d+,\d$"))
    expect(page.locator(".meta").first).to_contain_text("keyboard-2026")
    assert page.console_errors == []
