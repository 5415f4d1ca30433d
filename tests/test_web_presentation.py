"""How the staff pages present things: times in WIB, numbers per language, form values that
round-trip, the language switch on a half-filled form, the cohort table's knock-outs,
exports in one language and sector averages with their count."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re

import openpyxl
import pytest
from web_helpers import csrf_token, page_text, post_profile

from api import store
from api.db import get_session
from api.web import profiles
from api.web.i18n import form_value, local_time, number

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

on_both_backends = pytest.mark.parametrize("web_backend", ["sqlite", "postgresql"])


def _switch(client, lang: str) -> None:
    client.post("/language", data={"lang": lang, "csrf_token": csrf_token(client, "/")})


# --- times, numbers, form values -------------------------------------------------------------


def test_times_are_shown_in_wib_as_each_language_writes_them(web_app):
    moment = "2026-12-03T05:48:09Z"
    with web_app.test_request_context():
        assert local_time(moment) == "3 Des 2026 12.48 WIB"
        assert local_time(dt.datetime(2026, 12, 31, 20, 5)) == "1 Jan 2027 03.05 WIB"
        assert local_time(dt.datetime(2026, 12, 3, 5, 48, tzinfo=dt.UTC)) == "3 Des 2026 12.48 WIB"
        assert local_time(None) == "–"
    with web_app.test_request_context():
        from flask import session

        session["lang"] = "en"
        assert local_time(moment) == "3 Dec 2026 12:48 WIB"


@on_both_backends
def test_the_score_page_shows_when_it_was_scored_in_wib(web_app, login, profile):
    client = login("officer")
    post_profile(client, profile)
    with web_app.app_context():
        scored_at = store.get_sme(get_session(), "BDG-2020-001")["latest_score"]["scored_at"]
    utc = dt.datetime.fromisoformat(scored_at.replace("Z", "+00:00"))
    wib = utc + dt.timedelta(hours=7)
    months_id = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
    page = page_text(client.get("/smes/BDG-2020-001"))
    expected = f"{wib.day} {months_id[wib.month - 1]} {wib.year} {wib:%H}.{wib:%M} WIB"
    assert f'<dd id="scored-at">{expected}</dd>' in page
    assert scored_at not in page
    _switch(client, "en")
    page = page_text(client.get("/smes/BDG-2020-001"))
    assert f'<dd id="scored-at">{wib.day} {wib:%b} {wib.year} {wib:%H}:{wib:%M} WIB</dd>' in page


def test_numbers_are_grouped_as_each_language_writes_them(web_app):
    with web_app.test_request_context():
        assert number(2400000000.0) == "2.400.000.000"
        assert number(1234567.891, 2) == "1.234.567,89"
        assert form_value(2400000000.0) == "2400000000"
        assert form_value(0.57) == "0,57"
        assert form_value(12) == "12"
        assert form_value("1.500,5") == "1.500,5"  # as typed
        assert form_value(None) == ""
        reasons = profiles.explain_reasons(
            {"reasons": [{"feature": "annual_revenue_idr", "effect": 0.05}]},
            {"annual_revenue_idr": 2400000000.0},
        )
        assert "(2.400.000.000)" in reasons[0]["text"]
        reasons = profiles.explain_reasons(
            {"reasons": [{"feature": "year_established", "effect": 0.01}]},
            {"year_established": 1999},
        )
        assert "(1999)" in reasons[0]["text"]  # a year, not "1.999"
    with web_app.test_request_context():
        from flask import session

        session["lang"] = "en"
        assert number(2400000000.0) == "2,400,000,000"
        assert form_value(0.57) == "0.57"
        reasons = profiles.explain_reasons(
            {"reasons": [{"feature": "capacity_utilization", "effect": -0.02}]},
            {"capacity_utilization": 0.57},
        )
        assert "(0.57)" in reasons[0]["text"]


@on_both_backends
@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_rescore_form_shows_plain_values_that_are_read_back_the_same(
    web_app, login, profile, lang
):
    client = login("officer")
    profile.update(annual_revenue_idr=2400000000, capacity_utilization=0.57)
    assert post_profile(client, profile).status_code == 302
    if lang == "en":
        _switch(client, "en")
    form = page_text(client.get("/profiles/new?from=BDG-2020-001"))
    assert 'name="annual_revenue_idr" value="2400000000"' in form
    assert "2400000000.0" not in form
    shown = "0,57" if lang == "id" else "0.57"
    assert f'name="capacity_utilization" value="{shown}"' in form
    inputs = dict(re.findall(r'<input id="([a-z_0-9]+)" name="[^"]+" value="([^"]*)"', form))
    again = {**profile, **{k: v for k, v in inputs.items() if k in profile}}
    again["employees"] = inputs["employees"]
    assert post_profile(client, again).status_code == 302
    with web_app.app_context():
        stored = store.get_sme(get_session(), "BDG-2020-001")["profile"]
    assert stored["annual_revenue_idr"] == 2400000000
    assert stored["capacity_utilization"] == 0.57


# --- cohort table: knock-outs, exports --------------------------------------------------------


def _knockout_cohort(client, profile: dict) -> None:
    """Cohort k1: a strong SME without NIB (knocked out) and a weaker one with NIB."""
    strong = {**copy.deepcopy(profile), "sme_id": "K-STRONG", "name": "Kuat Tanpa NIB"}
    strong.update(
        has_nib=False,
        has_website=True,
        knows_incoterms=True,
        export_packaging=True,
        has_logistics_partner=True,
        can_supply_continuously=True,
        trademark_registered=True,
        has_exported=True,
        export_years=5,
        foreign_buyer_contacts=12,
        trade_fairs_last_3y=4,
        certifications=["SNI", "ISO9001", "OEKOTEX"],
    )
    weak = {**copy.deepcopy(profile), "sme_id": "K-WEAK", "name": "Lemah Ber-NIB"}
    weak.update(has_english_catalog=False, has_export_pricing=False)
    food = {**copy.deepcopy(profile), "sme_id": "K-FOOD", "name": "Kopi Gunung"}
    food.update(sector="food_beverage", target_markets=["GCC"], certifications=["HALAL"])
    for item in (strong, weak, food):
        assert post_profile(client, item, cohort="k1").status_code == 302


@on_both_backends
def test_knocked_out_smes_rank_below_the_others_and_the_table_says_why(web_app, login, profile):
    client = login("officer")
    _knockout_cohort(client, profile)
    with web_app.app_context():
        session = get_session()
        strong = store.get_sme(session, "K-STRONG")["latest_score"]
        weak = store.get_sme(session, "K-WEAK")["latest_score"]
    assert strong["score"] > weak["score"] and strong["knockouts"] == ["legal.nib"]
    page = page_text(client.get("/cohorts?cohort=k1"))
    ids = re.findall(r'href="/smes/([^"]+)"', page)
    assert ids[-1] == "K-STRONG" and set(ids) == {"K-STRONG", "K-WEAK", "K-FOOD"}
    row = page.split('href="/smes/K-STRONG"')[1].split("</tr>")[0]
    assert '<span class="badge tier-not_ready">Belum siap ekspor</span>' in row
    assert 'data-knockouts="legal.nib"' in row and "Gugur syarat wajib:" in row
    assert "Memiliki NIB (Nomor Induk Berusaha)" in row
    assert 'id="knockout-note"' in page and "tidak pernah masuk shortlist" in page
    ascending = re.findall(
        r'href="/smes/([^"]+)"', page_text(client.get("/cohorts?cohort=k1&dir=asc"))
    )
    assert ascending[0] == "K-STRONG"


@on_both_backends
@pytest.mark.parametrize(
    ("lang", "sector", "tier", "market", "knockout"),
    [
        ("id", "Pakaian jadi", "Belum siap ekspor", "Uni Eropa", "Memiliki NIB"),
        ("en", "Apparel", "Not yet export ready", "European Union", "Has a business ID (NIB)"),
    ],
)
def test_cohort_exports_name_coded_values_in_the_page_language(
    login, profile, lang, sector, tier, market, knockout
):
    client = login("officer")
    _knockout_cohort(client, profile)
    if lang == "en":
        _switch(client, "en")
    response = client.get("/cohorts/export.csv?cohort=k1&sort=sme_id&dir=asc")
    rows = list(csv.DictReader(io.StringIO(page_text(response))))
    strong = next(r for r in rows if r["sme_id"] == "K-STRONG")
    assert strong["sector"] == sector and strong["sector_code"] == "apparel"
    assert strong["tier"] == tier and strong["tier_code"] == "not_ready"
    assert strong["target_markets"].split("; ")[0] == market
    assert strong["target_market_codes"] == "EU; US; AU"
    assert strong["knockouts"].startswith(knockout) and strong["knockout_codes"] == "legal.nib"
    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/cohorts/export.xlsx?cohort=k1").data))
    values = list(sheet.active.values)
    header = values[0]
    food = dict(zip(header, next(v for v in values[1:] if v[0] == "K-FOOD"), strict=True))
    assert food["sector_code"] == "food_beverage" and food["sector"] != "food_beverage"
    assert food["tier"] not in ("ready", "near_ready", "developing", "not_ready")


@on_both_backends
def test_cohort_exports_still_neutralise_formulas(login, profile):
    client = login("officer")
    evil = {**copy.deepcopy(profile), "sme_id": "EVIL-1", "name": '=HYPERLINK("x")'}
    assert post_profile(client, evil, cohort="e1").status_code == 302
    rows = list(csv.DictReader(io.StringIO(page_text(client.get("/cohorts/export.csv?cohort=e1")))))
    assert rows[0]["name"] == '\'=HYPERLINK("x")'


# --- score page: the sector average's basis ---------------------------------------------------


@on_both_backends
def test_the_sector_average_says_how_many_smes_it_rests_on(login, profile):
    client = login("officer")
    post_profile(client, profile)
    page = page_text(client.get("/smes/BDG-2020-001"))
    assert "Rata-rata sektor Pakaian jadi (n = 1)" in page
    assert 'id="sector-average-note"' in page and "baru bertumpu pada 1 UMKM" in page
    for i in range(2, 6):
        other = {**copy.deepcopy(profile), "sme_id": f"BDG-2020-00{i}"}
        assert post_profile(client, other).status_code == 302
    food = {**copy.deepcopy(profile), "sme_id": "FOOD-1", "sector": "food_beverage"}
    assert post_profile(client, food).status_code == 302
    page = page_text(client.get("/smes/BDG-2020-001"))
    assert "Rata-rata sektor Pakaian jadi (n = 5)" in page
    assert 'id="sector-average-note"' not in page
    _switch(client, "en")
    assert "Sector average, Apparel (n = 5)" in page_text(client.get("/smes/BDG-2020-001"))


# --- the language switch on a half-filled form --------------------------------------------------


def test_the_header_language_buttons_submit_the_profile_form(login):
    page = page_text(login("officer").get("/profiles/new"))
    assert '<form method="post" action="/profiles/new" class="profile" id="profile-form"' in page
    buttons = re.findall(r'<button type="submit" name="lang"[^>]*>', page)
    assert len(buttons) == 2 and all('form="profile-form"' in b for b in buttons)
    other = page_text(login("officer").get("/cohorts"))
    assert 'form="profile-form"' not in other  # elsewhere the buttons post their own form


@on_both_backends
def test_switching_language_on_a_half_filled_form_keeps_what_was_typed(web_app, login):
    client = login("officer")
    data = {
        "csrf_token": csrf_token(client, "/profiles/new"),
        "sme_id": "BDG-9",
        "name": "Kopi Gunung Halu",
        "sector": "food_beverage",
        "annual_revenue_idr": "1.500.000,50",
        "capacity_utilization": "0,6",
        "employees": "enam",
        "has_nib": "true",
        "certifications": ["HALAL", "PIRT"],
        "cohort": "bdg-2026",
        "lang": "en",
    }
    response = client.post("/profiles/new", data=data)
    assert response.status_code == 200
    page = page_text(response)
    assert '<html lang="en">' in page and "<h1>Score an SME</h1>" in page
    assert 'id="form-errors"' not in page  # switching is not submitting
    assert 'name="name" value="Kopi Gunung Halu"' in page
    assert '<option value="food_beverage" selected>' in page
    assert 'name="annual_revenue_idr" value="1500000.5"' in page  # as English writes it
    assert 'name="capacity_utilization" value="0.6"' in page
    assert 'name="employees" value="enam"' in page  # unreadable: kept as typed
    assert re.search(r'name="has_nib" value="true"\s+checked', page)
    assert re.search(r'value="HALAL"\s+checked', page) and re.search(
        r'value="PIRT"\s+checked', page
    )
    assert 'name="cohort" value="bdg-2026"' in page
    with web_app.app_context():
        assert store.get_sme(get_session(), "BDG-9") is None  # nothing was scored
        assert store.get_user(get_session(), "officer").language == "en"
    assert "Cohort table" in page_text(client.get("/cohorts"))
