"""PDF readiness reports: one SME's and a cohort's, through the API and the staff pages.

The PDFs are read back with pypdf (their text) and drawn with poppler's pdftoppm (their
first page as an image), so what is checked is what a reader sees.
"""

from __future__ import annotations

import copy
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader
from web_helpers import create_user, log_in

from api import store
from api.db import get_session
from api.services import reports
from api.web import i18n
from scoring.contract.fields import BOOL_FIELDS, MARKETS, PERSONAL_COLUMNS

pytest_plugins = ["api_fixtures", "web_fixtures"]

PDFTOPPM = "/usr/bin/pdftoppm"
OFFICE = "Dinas Uji Ekspor Kota Contoh"
CONTACT = "klinik-ekspor@contoh.go.id"
COHORT = "bdg-2026"
WEAK = "BDG-2026-900"  # every answer no and every market targeted: the longest report
FOOD = "BDG-2026-901"


def _weak(profile: dict) -> dict:
    weak = copy.deepcopy(profile)
    weak.update(
        {name: False for name in BOOL_FIELDS},
        sme_id=WEAK,
        name="Usaha Kecil Contoh",
        certifications=[],
        target_markets=list(MARKETS),
        foreign_buyer_contacts=0,
        trade_fairs_last_3y=0,
        english_capable_staff=0,
        owner_name="Siti Rahmawati",
        contact_phone="+62 812-0000-1111",
        contact_email="siti.rahmawati@example.org",
        district="Cicendo",
    )
    return weak


@pytest.fixture
def report_app(make_web_app, make_key, profile):
    """An app naming the office, with staff accounts and a cohort of three scored SMEs
    stored with their personal fields."""
    app = make_web_app(OFFICE_NAME=OFFICE, OFFICE_CONTACT=CONTACT)
    for role in ("officer", "lead"):
        create_user(app, role, role)
    food = copy.deepcopy(profile)
    food.update(sme_id=FOOD, name="CV Rasa Nusantara", sector="food_beverage")
    food.update(target_markets=["GCC"], district="Sukajadi", owner_name="Budi Hartono")
    writer = {"X-API-Key": make_key(app, "score", "personal")}
    client = app.test_client()
    for each in (profile, _weak(profile), food):
        response = client.post(f"/api/v1/scores?cohort={COHORT}", json=each, headers=writer)
        assert response.status_code == 201, response.get_json()
    return app


@pytest.fixture
def read_key(report_app, make_key) -> dict[str, str]:
    return {"X-API-Key": make_key(report_app, "read")}


def _text(pdf: bytes) -> list[str]:
    """Each page's text with its line breaks and runs of spaces made single spaces."""
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def _first_page_image(pdf: bytes, folder: Path) -> Image.Image:
    if not Path(PDFTOPPM).exists():
        pytest.fail(f"{PDFTOPPM} is missing: `make test` installs Debian's poppler-utils")
    (folder / "report.pdf").write_bytes(pdf)
    subprocess.run(
        [PDFTOPPM, "-r", "50", "-png", "-f", "1", "-l", "1", "report.pdf", "page"],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (png,) = folder.glob("page*.png")
    return Image.open(png).convert("RGB")


def _expected(app, sme_id: str, lang: str) -> dict:
    """What the report of ``sme_id`` in ``lang`` must say, worded as the pages word it."""
    with app.test_request_context(), i18n.language(lang):
        session = get_session()
        found = store.get_sme(session, sme_id)
        record = found["latest_score"]
        missed = next(c["id"] for c in record["criteria"] if not c["met"])
        first = record["action_plan"][0]["criterion"]
        return {
            "score": i18n.decimal(record["score"]),
            "tier": i18n.ruleset_label("tier", record["tier"]),
            "missed": i18n.ruleset_label("criterion", missed),
            "step": i18n.ruleset_label("criterion", first),
            "markets": [i18n.ruleset_label("market", m) for m in record["market_readiness"]],
            "scored_at": i18n.local_time(record["scored_at"]),
            "versions": (record["model_version"], record["ruleset_version"]),
            "personal": [str(found["profile"][name]) for name in PERSONAL_COLUMNS],
        }


# --- one SME ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "heading"), [("id", "LAPORAN KESIAPAN EKSPOR"), ("en", "EXPORT")])
def test_an_sme_report_says_everything_in_its_language_and_nothing_personal(
    report_app, read_key, lang, heading
):
    response = report_app.test_client().get(
        f"/api/v1/smes/BDG-2020-001/report.pdf?lang={lang}", headers=read_key
    )
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="BDG-2020-001-{lang}.pdf"'
    )
    (text,) = _text(response.data)  # one page
    expected = _expected(report_app, "BDG-2020-001", lang)
    assert heading in text
    for value in (
        "UD Moda Harapan Parahyangan",  # the business name: the SME's own
        expected["score"],
        expected["tier"],
        expected["missed"],
        expected["step"],
        *expected["markets"],
        expected["scored_at"],
        *expected["versions"],
        OFFICE,
        CONTACT,
    ):
        assert value in text, value
    assert expected["scored_at"].endswith(" WIB")
    assert ("Rencana tindakan" in text) == (lang == "id")
    assert ("Action plan" in text) == (lang == "en")
    personal = [value for value in expected["personal"] if value not in ("male", "female")]
    assert "Eko Suryana" in personal and len(personal) == 4
    assert [value for value in personal if value in text] == []
    metadata = PdfReader(io.BytesIO(response.data)).metadata
    assert metadata.title == i18n.shipped_catalogue(lang)["report.title_sme"].format(
        sme_id="BDG-2020-001"
    )
    assert metadata.author == OFFICE


def test_the_first_page_draws_as_a_page_with_the_coloured_chart_and_score(
    report_app, read_key, tmp_path
):
    response = report_app.test_client().get(
        "/api/v1/smes/BDG-2020-001/report.pdf", headers=read_key
    )
    image = _first_page_image(response.data, tmp_path)
    width, height = image.size
    assert abs(width - 413) <= 1 and abs(height - 585) <= 1  # A4 at 50 dpi
    pixels = np.asarray(image, dtype=int).reshape(-1, 3)
    red, green, blue = pixels.T
    inked = pixels.min(axis=1) < 200
    chart_blue = (blue > 140) & (blue - red > 80) & (blue - green > 40)
    assert inked.mean() > 0.04  # text, bars and the score box, not a blank sheet
    assert chart_blue.sum() > 100  # the category bars are drawn in their colour
    assert len(np.unique(pixels, axis=0)) > 50


def test_an_unknown_sme_is_404_and_keys_need_the_read_scope(report_app, make_key, read_key):
    client = report_app.test_client()
    assert client.get("/api/v1/smes/NOPE-1/report.pdf", headers=read_key).status_code == 404
    assert client.get("/api/v1/smes/BDG-2020-001/report.pdf").status_code == 401
    scorer = {"X-API-Key": make_key(report_app, "score")}
    assert client.get("/api/v1/smes/BDG-2020-001/report.pdf", headers=scorer).status_code == 403
    assert client.get(f"/api/v1/cohorts/{COHORT}/report.pdf", headers=scorer).status_code == 403
    assert client.get(f"/api/v1/cohorts/{COHORT}/report.pdf").status_code == 401
    assert client.get("/api/v1/cohorts/nope/report.pdf", headers=read_key).status_code == 404
    bad = client.get("/api/v1/smes/BDG-2020-001/report.pdf?lang=fr", headers=read_key)
    assert bad.status_code == 422


def test_a_download_is_in_the_processing_log_once_per_sme(report_app, read_key):
    client = report_app.test_client()
    client.get("/api/v1/smes/BDG-2020-001/report.pdf?lang=en", headers=read_key)
    client.get(f"/api/v1/cohorts/{COHORT}/report.pdf?sector=food_beverage", headers=read_key)
    with report_app.app_context():
        session = get_session()
        events = {
            sme_id: store.processing_log(session, action="report", subject=sme_id)[0]
            for sme_id in ("BDG-2020-001", FOOD, WEAK)
        }
    assert [e["details"] for e in events["BDG-2020-001"]] == [{"lang": "en"}]
    assert [e["details"] for e in events[FOOD]] == [{"cohort": COHORT, "lang": "id"}]
    assert events[WEAK] == []
    assert events[FOOD][0]["actor"].startswith("key:")


def test_the_fetcher_refuses_every_address_but_data_and_file():
    fetcher = reports.local_fetcher()
    for url in ("http://127.0.0.1:9/logo.png", "https://example.org/font.woff2", "ftp://x/y"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher.fetch(url)
    assert fetcher.fetch("data:text/plain,ok").read() == b"ok"


# --- a cohort --------------------------------------------------------------------------------


def test_a_cohort_report_has_one_page_per_sme_in_sme_id_order(report_app, read_key):
    response = report_app.test_client().get(
        f"/api/v1/cohorts/{COHORT}/report.pdf?lang=en", headers=read_key
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pages = _text(response.data)
    assert len(pages) == 3
    for page, sme_id in zip(pages, ("BDG-2020-001", WEAK, FOOD), strict=True):
        assert sme_id in page and OFFICE in page
    # The weakest SME's plan is too long for one page: its later steps are named only.
    assert "Further steps" in pages[1] and "Further steps" not in pages[0]
    assert _expected(report_app, FOOD, "en")["markets"][0] in pages[2]
    title = PdfReader(io.BytesIO(response.data)).metadata.title
    assert title == f"Export readiness report, cohort {COHORT}"


def _app_with_a_limit_of_none(make_web_app, make_key, profile):
    """An app whose cohort reports may hold no SME, with a cohort of one."""
    app = make_web_app(REPORT_MAX_SMES=0)
    writer = {"X-API-Key": make_key(app, "score")}
    public = {k: v for k, v in profile.items() if k not in PERSONAL_COLUMNS}
    response = app.test_client().post(
        f"/api/v1/scores?cohort={COHORT}", json=public, headers=writer
    )
    assert response.status_code == 201
    return app


def test_a_cohort_report_over_the_limit_is_refused_with_the_reason(make_web_app, make_key, profile):
    app = _app_with_a_limit_of_none(make_web_app, make_key, profile)
    response = app.test_client().get(
        f"/api/v1/cohorts/{COHORT}/report.pdf", headers={"X-API-Key": make_key(app, "read")}
    )
    assert response.status_code == 422
    assert "holds at most 0" in response.get_json()["detail"]


# --- staff pages -----------------------------------------------------------------------------


def test_an_officer_downloads_a_report_in_either_language_from_the_score_page(report_app):
    client = report_app.test_client()
    log_in(client, "officer")
    page = client.get("/smes/BDG-2020-001").get_data(as_text=True)
    assert 'href="/smes/BDG-2020-001/report.pdf?lang=id"' in page
    assert 'href="/smes/BDG-2020-001/report.pdf?lang=en"' in page
    response = client.get("/smes/BDG-2020-001/report.pdf?lang=en")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    (text,) = _text(response.data)
    assert "Action plan" in text
    # The report's language leaves the pages' own alone.
    assert "Rencana tindakan" in client.get("/smes/BDG-2020-001").get_data(as_text=True)
    assert client.get("/smes/NOPE-1/report.pdf").status_code == 404


def test_the_cohort_page_downloads_the_table_as_filtered(report_app):
    client = report_app.test_client()
    log_in(client, "lead")
    page = client.get(f"/cohorts?cohort={COHORT}&sector=apparel").get_data(as_text=True)
    assert "/cohorts/report.pdf?" in page and "sector=apparel" in page
    response = client.get(f"/cohorts/report.pdf?cohort={COHORT}&sector=apparel&lang=id")
    assert response.status_code == 200
    pages = _text(response.data)
    assert len(pages) == 2  # the two apparel SMEs, best score first as in the table
    assert "BDG-2020-001" in pages[0] and WEAK in pages[1]
    assert client.get("/cohorts/report.pdf?cohort=nope").status_code == 404


def test_anonymous_visitors_get_no_report(report_app):
    client = report_app.test_client()
    for path in ("/smes/BDG-2020-001/report.pdf", f"/cohorts/report.pdf?cohort={COHORT}"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_a_cohort_over_the_limit_has_no_link_and_is_refused_on_the_pages(
    make_web_app, make_key, profile
):
    app = _app_with_a_limit_of_none(make_web_app, make_key, profile)
    create_user(app, "officer", "officer")
    client = app.test_client()
    log_in(client, "officer")
    page = client.get(f"/cohorts?cohort={COHORT}").get_data(as_text=True)
    assert 'id="report-too-large"' in page and "/cohorts/report.pdf" not in page
    response = client.get(f"/cohorts/report.pdf?cohort={COHORT}")
    assert response.status_code == 422
    assert "paling banyak 0 UMKM" in response.get_data(as_text=True)


def test_a_client_asking_for_generic_binary_gets_the_pdf_as_such(report_app, read_key):
    client = report_app.test_client()
    answer = client.get(
        "/api/v1/smes/BDG-2020-001/report.pdf",
        headers={**read_key, "Accept": "application/octet-stream"},
    )
    assert (answer.status_code, answer.mimetype) == (200, "application/octet-stream")
    assert answer.data.startswith(b"%PDF-")


def test_the_openapi_document_describes_the_reports_as_pdf(report_app):
    spec = report_app.test_client().get("/api/openapi.json").get_json()
    for path in ("/api/v1/smes/{sme_id}/report.pdf", "/api/v1/cohorts/{cohort}/report.pdf"):
        operation = spec["paths"][path]["get"]
        assert operation["x-required-scope"] == "read"
        assert list(operation["responses"]["200"]["content"]) == [
            "application/pdf",
            "application/octet-stream",  # for generated clients that take only that
        ]
        assert {"401", "403", "404"} <= set(operation["responses"])
