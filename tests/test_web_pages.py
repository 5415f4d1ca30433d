"""Staff web pages through Flask's test client: every page, form errors, roles, CSRF,
login lockout, sessions, languages, exports and the audit of views and exports.

Tests whose outcome depends on what the database stores and returns run on SQLite and on
PostgreSQL (``@on_both_backends``); those about headers, forms, roles and rendering run
on SQLite only.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
import time
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select, update
from web_helpers import (
    PASSWORD,
    ROLES,
    create_user,
    csrf_token,
    form_of,
    log_in,
    page_text,
    post_profile,
)

from api import store
from api.config import ProductionConfig
from api.db import get_database, get_session
from api.tables import AuditEvent, CohortMember, LoginFailure
from api.web import profiles
from api.web.i18n import LANGUAGES, load_catalogues
from scoring.contract.fields import ALL_COLUMNS, FIELD_BY_NAME, PERSONAL_COLUMNS

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

API = Path(__file__).resolve().parent.parent / "api"

#: Run the test on an app on SQLite and on one on PostgreSQL.
on_both_backends = pytest.mark.parametrize("web_backend", ["sqlite", "postgresql"])


def _events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(get_session().scalars(query))


# --- translations ---------------------------------------------------------------------------


def test_both_languages_have_exactly_the_same_keys():
    catalogues = load_catalogues()
    assert set(catalogues["id"]) == set(catalogues["en"])
    assert len(catalogues["id"]) > 250


def test_every_literal_key_used_in_templates_and_code_exists():
    keys = set(load_catalogues()["en"])
    # Literal keys only: "prefix." or "prefix_" followed by a variable are built at run time.
    pattern = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]*[a-z0-9])["']""")
    sources = [*API.joinpath("templates").rglob("*.html"), *API.joinpath("web").glob("*.py")]
    used = {key for path in sources for key in pattern.findall(path.read_text(encoding="utf-8"))}
    assert len(used) > 150
    assert used - keys == set()


def test_every_field_and_choice_has_a_label_in_both_languages():
    for lang, catalogue in load_catalogues().items():
        for name in ALL_COLUMNS:
            assert catalogue[f"field.{name}.label"], (lang, name)
            assert catalogue[f"field.{name}.help"], (lang, name)
        for name in ("sector", "legal_form", "owner_gender"):
            for choice in FIELD_BY_NAME[name].choices:
                assert f"{name}.{choice}" in catalogue, (lang, name, choice)


def test_the_form_sections_hold_every_contract_field_once():
    names = [name for _, section in profiles.SECTIONS for name in section]
    assert sorted(names) == sorted(ALL_COLUMNS)


# --- login, sessions, headers ---------------------------------------------------------------


def test_login_page_is_in_bahasa_indonesia_with_security_headers(web_app):
    response = web_app.test_client().get("/login")
    assert response.status_code == 200
    assert "Masuk staf" in page_text(response)
    headers = response.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_session_cookie_flags(web_app):
    client = web_app.test_client()
    response = log_in(client, "officer")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    assert web_app.config["PERMANENT_SESSION_LIFETIME"] == dt.timedelta(hours=8)


def test_anonymous_visitors_are_sent_to_login_and_back(web_app):
    client = web_app.test_client()
    assert client.get("/").headers["Location"] == "/login"
    for path in ("/profiles/new", "/smes/X", "/cohorts", "/cohorts/compare", "/batches"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == f"/login?next={path}"


@on_both_backends
def test_login_then_back_to_the_page_asked_for(web_app):
    client = web_app.test_client()
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"username": "Officer", "password": PASSWORD, "csrf_token": token, "next": "/cohorts"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/cohorts"
    assert client.get("/cohorts").status_code == 200


def test_login_never_redirects_to_another_site(web_app):
    client = web_app.test_client()
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = client.post(
            "/login",
            data={
                "username": "officer",
                "password": PASSWORD,
                "csrf_token": csrf_token(client),
                "next": target,
            },
        )
        assert response.headers["Location"] == "/", target


@on_both_backends
def test_wrong_password_is_refused_and_audited(web_app):
    client = web_app.test_client()
    response = log_in(client, "officer", "wrong password")
    assert response.status_code == 401
    assert "Nama pengguna atau kata sandi salah" in page_text(response)
    assert client.get("/cohorts").status_code == 302
    log_in(client, "officer")
    outcomes = [e.details["outcome"] for e in _events(web_app, "login")]
    assert outcomes == ["refused", "ok"]


@on_both_backends
def test_five_wrong_passwords_lock_the_account_from_that_address(web_app):
    client = web_app.test_client()
    for _ in range(4):
        assert log_in(client, "lead", "wrong password").status_code == 401
    response = log_in(client, "lead", "wrong password")
    assert "Nama pengguna atau kata sandi salah" in page_text(response)  # the one answer
    assert "ditunda 15 menit" in page_text(response)
    assert log_in(client, "lead").status_code == 401  # even the right password
    with web_app.app_context():
        session = get_session()
        row = session.scalar(select(LoginFailure).where(LoginFailure.username == "lead"))
        assert row.locked_until > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=14)
        assert "127.0.0.1" not in row.address_hmac and len(row.address_hmac) == 64
        session.execute(
            update(LoginFailure)
            .where(LoginFailure.username == "lead")
            .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        session.commit()
    assert log_in(client, "lead").status_code == 302
    with web_app.app_context():  # a good login clears the count
        assert get_session().scalar(select(LoginFailure)) is None


@on_both_backends
def test_an_unknown_user_gets_the_same_answer(web_app):
    response = log_in(web_app.test_client(), "nobody", PASSWORD)
    assert response.status_code == 401
    assert "Nama pengguna atau kata sandi salah" in page_text(response)


def test_sessions_expire(make_web_app):
    app = make_web_app(PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=1))
    create_user(app, "officer", "officer")
    client = app.test_client()
    assert log_in(client, "officer").status_code == 302
    assert client.get("/cohorts").status_code == 200
    time.sleep(2.2)
    assert client.get("/cohorts").status_code == 302


@on_both_backends
def test_a_disabled_account_is_logged_out_at_once(web_app, login):
    client = login("officer")
    with web_app.app_context():
        session = get_session()
        store.disable_user(session, "officer")
        session.commit()
    assert client.get("/cohorts").status_code == 302
    assert log_in(web_app.test_client(), "officer").status_code == 401


def test_logout(login):
    client = login("officer")
    token = csrf_token(client, "/cohorts")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/cohorts").status_code == 302


# --- CSRF -----------------------------------------------------------------------------------


def test_forms_without_the_csrf_token_are_refused(web_app, login, profile):
    anonymous = web_app.test_client()
    response = anonymous.post("/login", data={"username": "officer", "password": PASSWORD})
    assert response.status_code == 400
    assert "kedaluwarsa" in page_text(response)
    client = login("officer")
    assert client.post("/profiles/new", data=form_of(profile)).status_code == 400
    bad = {**form_of(profile), "csrf_token": "forged"}
    assert client.post("/profiles/new", data=bad).status_code == 400
    assert client.post("/language", data={"lang": "en"}).status_code == 400
    assert client.post("/logout").status_code == 400


def test_the_api_needs_no_csrf_token(web_app, make_key, profile):
    headers = {"X-API-Key": make_key(web_app, "score", "personal")}
    response = web_app.test_client().post("/api/v1/scores", json=profile, headers=headers)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- roles ----------------------------------------------------------------------------------


PAGES_BY_ROLE = (
    ("officer", "/", 200),
    ("officer", "/profiles/new", 200),
    ("officer", "/cohorts", 200),
    ("officer", "/batches", 403),
    ("officer", "/cohorts/compare", 403),
    ("officer", "/shortlists", 403),
    ("officer", "/batches/template.xlsx", 403),
    ("officer", "/admin/users", 403),
    ("lead", "/batches", 200),
    ("lead", "/cohorts/compare", 200),
    ("lead", "/shortlists", 200),
    ("lead", "/admin/users", 403),
    ("lead", "/admin/keys", 403),
    ("admin", "/admin/users", 200),
    ("admin", "/admin/keys", 200),
    ("admin", "/batches", 200),
)


def test_pages_by_role(login):
    clients = {role: login(role) for role in ("officer", "lead", "admin")}
    for role, path, status in PAGES_BY_ROLE:
        response = clients[role].get(path)
        assert response.status_code == status, (role, path)
        if status == 403:
            assert "Tidak diizinkan" in page_text(response)


def test_the_nav_shows_only_what_the_role_may_open(login):
    officer = page_text(login("officer").get("/"))
    assert 'href="/profiles/new"' in officer and 'href="/batches"' not in officer
    admin = page_text(login("admin").get("/"))
    assert 'href="/batches"' in admin and 'href="/admin/users"' in admin


# --- profile form and score page ------------------------------------------------------------


def test_the_form_shows_every_field_with_its_help(login):
    page = page_text(login("officer").get("/profiles/new"))
    for name in ALL_COLUMNS:
        assert f'id="field-{name}"' in page
        assert f'id="help-{name}"' in page
    assert "Legalitas dan perizinan" in page


def test_form_errors_are_shown_beside_their_fields_with_the_values_kept(login, profile):
    client = login("officer")
    profile.update(name="", employees="abc", has_exported=False, export_years=3, sme_id="bad id!")
    response = post_profile(client, profile)
    assert response.status_code == 422
    page = page_text(response)
    for name in ("name", "employees", "export_years", "sme_id"):
        assert f'id="err-{name}"' in page, name
    assert "Isian ini wajib diisi." in page
    assert "Masukkan bilangan bulat." in page
    assert "Harus 0 bila UMKM belum pernah ekspor." in page
    assert 'value="abc"' in page and 'value="bad id!"' in page
    assert 'value="UD Moda Harapan Parahyangan"' not in page  # the name was emptied
    assert re.search(r'name="has_nib" value="true"\s+checked', page)


@on_both_backends
def test_a_valid_profile_is_scored_stored_and_shown(web_app, login, profile):
    client = login("officer")
    response = post_profile(client, profile, cohort="bdg-2020")
    assert response.status_code == 302
    assert response.headers["Location"] == "/smes/BDG-2020-001"
    page = page_text(client.get("/smes/BDG-2020-001"))
    with web_app.app_context():
        record = store.get_sme(get_session(), "BDG-2020-001")["latest_score"]
    shown = f"{record['score']:.1f}".replace(".", ",")  # Indonesian decimal comma
    assert f'<span class="score-value" id="score-value">{shown}</span>' in page
    assert "Rencana tindakan" in page
    assert page.count("<li><strong>") == len(record["action_plan"])
    assert record["model_version"] in page and record["ruleset_version"] in page
    assert "<svg" in page and "UMKM ini" in page  # the category chart
    assert "Eko Suryana" in page  # officers see the personal fields
    assert [e.subject for e in _events(web_app, "view")] == ["BDG-2020-001"]
    # Same result as the API for the same profile.
    assert record["score"] == client.application.config["SCORER"].score_profile(profile)["score"]


@on_both_backends
def test_numbers_are_read_as_typed_in_the_page_language(web_app, login, profile):
    client = login("officer")
    profile.update(annual_revenue_idr="1.500.000,50", capacity_utilization="0,6")
    assert post_profile(client, profile).status_code == 302
    with web_app.app_context():
        stored = store.get_sme(get_session(), "BDG-2020-001")["profile"]
    assert stored["annual_revenue_idr"] == 1_500_000.5
    assert stored["capacity_utilization"] == 0.6


@on_both_backends
def test_the_model_factors_are_worded_with_the_smes_own_values(login, profile):
    client = login("officer")
    profile.update(has_exported=False, export_years=0, certifications=["SNI"])
    post_profile(client, profile)
    page = page_text(client.get("/smes/BDG-2020-001"))
    reasons = page.split('class="reasons"')[1].split("</ul>")[0]
    assert re.search(
        r"\((Ya|Tidak|\d+|[A-Z][a-z ]+)\) (menaikkan|menurunkan) peluang \d+,\d poin", reasons
    )


@on_both_backends
def test_leads_do_not_see_personal_fields(login, profile):
    post_profile(login("officer"), profile)
    lead = login("lead")
    page = page_text(lead.get("/smes/BDG-2020-001"))
    assert "Eko Suryana" not in page and "eko.suryana" not in page
    form = page_text(lead.get("/profiles/new?from=BDG-2020-001"))
    assert "Eko Suryana" not in form and 'value="UD Moda Harapan Parahyangan"' in form


@on_both_backends
def test_an_unknown_sme_is_a_404_page(login):
    response = login("officer").get("/smes/NOPE")
    assert response.status_code == 404
    assert "Tidak ditemukan" in page_text(response)


def test_the_score_page_prints_cleanly(login, profile):
    client = login("officer")
    post_profile(client, profile)
    page = page_text(client.get("/smes/BDG-2020-001"))
    assert 'href="/static/css/print.css" media="print"' in page
    css = client.get("/static/css/print.css")
    assert css.status_code == 200 and b"display: none" in css.data


# --- language -------------------------------------------------------------------------------


@on_both_backends
def test_the_language_switch_persists_in_session_and_preference(web_app, login, profile):
    client = login("officer")
    post_profile(client, profile)
    token = csrf_token(client, "/cohorts")
    response = client.post("/language", data={"lang": "en", "next": "/smes/BDG-2020-001"})
    assert response.status_code == 400  # no token
    response = client.post(
        "/language", data={"lang": "en", "next": "/smes/BDG-2020-001", "csrf_token": token}
    )
    assert response.headers["Location"] == "/smes/BDG-2020-001"
    page = page_text(client.get("/smes/BDG-2020-001"))
    assert "Action plan" in page and "Rencana tindakan" not in page
    assert re.search(r'id="score-value">\d+\.\d<', page)  # English decimal point
    assert '<html lang="en">' in page
    with web_app.app_context():
        assert store.get_user(get_session(), "officer").language == "en"
    again = web_app.test_client()
    log_in(again, "officer")
    assert "Action plan" in page_text(again.get("/smes/BDG-2020-001"))


def test_criterion_labels_come_from_the_ruleset_in_both_languages(login, profile, ruleset):
    client = login("officer")
    post_profile(client, profile)
    nib = next(c for c in ruleset.criteria if c.id == "legal.nib")
    assert nib.label["id"] in page_text(client.get("/smes/BDG-2020-001"))
    client.post("/language", data={"lang": "en", "csrf_token": csrf_token(client, "/")})
    assert nib.label["en"] in page_text(client.get("/smes/BDG-2020-001"))
    assert set(LANGUAGES) == {"id", "en"}


# --- cohort table and before/after ----------------------------------------------------------


def _cohort(client, profile: dict) -> list[dict]:
    """Three SMEs in cohort c1: the example, a food SME targeting GCC, one without NIB."""
    food = {**copy.deepcopy(profile), "sme_id": "C-FOOD", "name": "Keripik Ibu Sari"}
    food.update(sector="food_beverage", target_markets=["GCC"], certifications=["HALAL", "PIRT"])
    no_nib = {**copy.deepcopy(profile), "sme_id": "C-NONIB", "name": "Tanpa Izin", "has_nib": False}
    for item in (profile, food, no_nib):
        assert post_profile(client, item, cohort="c1").status_code == 302
    return [profile, food, no_nib]


@on_both_backends
def test_the_cohort_table_sorts_filters_and_searches(login, profile):
    client = login("officer")
    _cohort(client, profile)
    page = page_text(client.get("/cohorts?cohort=c1"))
    assert page.count('href="/smes/') == 3 and "3 UMKM" in page
    ids = re.findall(
        r'href="/smes/([^"]+)"', page_text(client.get("/cohorts?cohort=c1&sort=sme_id&dir=asc"))
    )
    assert ids == ["BDG-2020-001", "C-FOOD", "C-NONIB"]
    ids = re.findall(
        r'href="/smes/([^"]+)"', page_text(client.get("/cohorts?cohort=c1&sort=sme_id&dir=desc"))
    )
    assert ids == ["C-NONIB", "C-FOOD", "BDG-2020-001"]
    assert re.findall(
        r'href="/smes/([^"]+)"', page_text(client.get("/cohorts?cohort=c1&sector=food_beverage"))
    ) == ["C-FOOD"]
    assert re.findall(
        r'href="/smes/([^"]+)"', page_text(client.get("/cohorts?cohort=c1&market=GCC"))
    ) == ["C-FOOD"]
    assert re.findall(
        r'href="/smes/([^"]+)"', page_text(client.get("/cohorts?cohort=c1&tier=not_ready&q=izin"))
    ) == ["C-NONIB"]
    assert re.findall(
        r'href="/smes/([^"]+)"', page_text(client.get("/cohorts?cohort=c1&q=keripik"))
    ) == ["C-FOOD"]


@on_both_backends
def test_cohort_exports_have_no_personal_fields_and_are_audited(web_app, login, profile):
    client = login("officer")
    _cohort(client, profile)
    response = client.get("/cohorts/export.csv?cohort=c1&sort=sme_id&dir=asc")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(page_text(response))))
    assert [r["sme_id"] for r in rows] == ["BDG-2020-001", "C-FOOD", "C-NONIB"]
    assert not set(PERSONAL_COLUMNS) & set(rows[0])
    assert "Eko Suryana" not in page_text(response)
    response = client.get("/cohorts/export.xlsx?cohort=c1&sector=food_beverage")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    values = list(sheet.values)
    assert values[0][:5] == ("sme_id", "name", "sector", "score", "tier")
    assert [row[0] for row in values[1:]] == ["C-FOOD"]
    assert [e.details for e in _events(web_app, "export")] == [
        {"format": "csv", "rows": 3},
        {"format": "xlsx", "rows": 1},
    ]


@on_both_backends
def test_before_and_after_shows_who_moved(login, profile):
    officer = login("officer")
    _cohort(officer, profile)
    better = {**profile, "has_website": True, "knows_incoterms": True, "export_packaging": True}
    better.update(
        has_logistics_partner=True, can_supply_continuously=True, trademark_registered=True
    )
    post_profile(officer, better, cohort="c1")
    page = page_text(login("lead").get("/cohorts/compare?cohort=c1"))
    assert "Sebaran skor sebelum dan sesudah" in page and "<svg" in page
    assert '<dd id="count-up">1</dd>' in page and '<dd id="count-down">0</dd>' in page
    assert re.findall(r'id="moved-up".*?href="/smes/([^"]+)"', page, re.DOTALL) == ["BDG-2020-001"]
    assert "2 UMKM yang baru sekali dinilai" in page
    table = page_text(officer.get("/cohorts?cohort=c1"))
    assert re.search(r'class="num up">\+\d+,\d</td>', table)


# --- batches --------------------------------------------------------------------------------


@on_both_backends
def test_the_template_has_every_column_and_an_example_row_that_scores(login):
    client = login("lead")
    response = client.get("/batches/template.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    header, example = list(sheet.values)
    assert list(header) == list(ALL_COLUMNS)
    assert example[0] == "BDG-2026-001"
    csv_template = client.get("/batches/template.csv")
    upload = {
        "file": (io.BytesIO(csv_template.data), "template.csv"),
        "csrf_token": csrf_token(client, "/batches"),
    }
    response = client.post("/batches", data=upload, content_type="multipart/form-data")
    assert response.status_code == 302
    page = page_text(client.get(response.headers["Location"]))
    assert '<dd id="count-scored">1</dd>' in page and '<dd id="count-rejected">0</dd>' in page


def _bad_batch(profile: dict) -> bytes:
    header = list(ALL_COLUMNS)
    good = {name: profile.get(name) for name in header}
    second = {**good, "sme_id": "BDG-2020-002", "name": "Batik Dua"}
    bad = {**good, "sme_id": "BDG-2020-003", "employees": "banyak", "sector": "toys"}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    for row in (good, second, bad):
        writer.writerow(
            {
                k: "; ".join(v) if isinstance(v, list) else ("" if v is None else v)
                for k, v in row.items()
            }
        )
    return out.getvalue().encode("utf-8")


@on_both_backends
def test_a_batch_with_a_bad_row_shows_counts_and_the_row_errors(web_app, login, profile):
    client = login("lead")
    upload = {
        "file": (io.BytesIO(_bad_batch(profile)), "cohort.csv"),
        "cohort": "bdg-2020",
        "csrf_token": csrf_token(client, "/batches"),
    }
    response = client.post("/batches", data=upload, content_type="multipart/form-data")
    assert response.status_code == 302
    location = response.headers["Location"]
    page = page_text(client.get(location))
    assert '<dd id="count-received">3</dd>' in page
    assert '<dd id="count-scored">2</dd>' in page and '<dd id="count-rejected">1</dd>' in page
    assert "BDG-2020-003" in page and "Masukkan bilangan bulat." in page
    assert "&#39;toys&#39; tidak diperbolehkan" in page
    batch_id = int(location.rsplit("/", 1)[1])
    progress = client.get(f"/batches/{batch_id}/progress").get_json()
    assert progress["status"] == "complete"
    results = client.get(f"/batches/{batch_id}/results.csv")
    assert results.is_streamed  # never built whole in memory, however large the batch
    rows = list(csv.DictReader(io.StringIO(page_text(results))))
    assert [r["sme_id"] for r in rows] == ["BDG-2020-001", "BDG-2020-002"]
    assert _events(web_app, "export")[0].subject == f"batch/{batch_id}"


def test_an_unreadable_or_missing_file_is_explained_on_the_form(login):
    client = login("lead")
    token = csrf_token(client, "/batches")
    response = client.post(
        "/batches", data={"csrf_token": token}, content_type="multipart/form-data"
    )
    assert response.status_code == 422 and "Pilih berkas terlebih dahulu." in page_text(response)
    upload = {"file": (io.BytesIO(b"\x00\x01garbage"), "x.xlsx"), "csrf_token": token}
    response = client.post("/batches", data=upload, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "tidak dapat dibaca sebagai tabel profil" in page_text(response)


def test_a_file_over_the_size_limit_is_told_on_the_upload_page(make_web_app):
    app = make_web_app(MAX_CONTENT_LENGTH=1024 * 1024)
    create_user(app, "lead", "lead")
    client = app.test_client()
    log_in(client, "lead")
    upload = {
        "file": (io.BytesIO(b"x" * 1_200_000), "big.csv"),
        "csrf_token": csrf_token(client, "/batches"),
    }
    response = client.post("/batches", data=upload, content_type="multipart/form-data")
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "Berkas lebih besar dari 1 MB" in page_text(response)


def test_pages_say_so_when_scoring_is_unavailable(make_web_app, tmp_path, profile):
    app = make_web_app(SCORER=None, MODELS_DIR=str(tmp_path / "no-models"))
    create_user(app, "officer", "officer")
    client = app.test_client()
    log_in(client, "officer")
    response = post_profile(client, profile)
    assert response.status_code == 503
    assert "Penilaian tidak tersedia" in page_text(response)


@on_both_backends
def test_an_unknown_batch_is_a_404(login):
    client = login("lead")
    assert client.get("/batches/999").status_code == 404
    assert client.get("/batches/999/progress").status_code == 404


# --- shortlists -----------------------------------------------------------------------------


def test_the_shortlist_form_validates_its_fields(login, profile):
    _cohort(login("officer"), profile)
    response = login("lead").get("/shortlists?cohort=c1&capacity=0&max_per_sector=x")
    assert response.status_code == 422
    page = page_text(response)
    assert 'id="err-capacity"' in page and 'id="err-max_per_sector"' in page
    assert 'value="x"' in page


@on_both_backends
def test_a_shortlist_chooses_explains_and_exports(web_app, login, profile):
    _cohort(login("officer"), profile)
    client = login("lead")
    page = page_text(client.get("/shortlists?cohort=c1&capacity=1"))
    chosen = re.findall(
        r'<li><a href="/smes/([^"]+)"', page.split('id="chosen"')[1].split("</ol>")[0]
    )
    assert len(chosen) == 1
    assert "Peringkat 1 dari 2 menurut skor" in page
    assert 'id="near-misses"' in page and "di bawah tempat terakhir" in page
    assert "C-NONIB" in page.split('id="excluded"')[1] and "Syarat wajib belum terpenuhi" in page
    response = client.get("/shortlists/export.csv?cohort=c1&capacity=1")
    rows = list(csv.DictReader(io.StringIO(page_text(response))))
    assert [r["status"] for r in rows] == ["selected", "near_miss"]
    assert rows[0]["sme_id"] == chosen[0]
    assert _events(web_app, "shortlist")[0].details == {"capacity": 1, "selected": 1}
    market = page_text(client.get("/shortlists?cohort=c1&capacity=2&target_market=GCC"))
    assert "kesiapan untuk Negara Teluk (GCC)" in market
    assert "Tidak menargetkan Negara Teluk (GCC)." in market


# --- administration -------------------------------------------------------------------------


@on_both_backends
def test_admins_create_and_disable_accounts_and_keys(web_app, login):
    client = login("admin")
    token = csrf_token(client, "/admin/users")
    short = {"username": "budi", "password": "short", "role": "officer", "language": "id"}
    response = client.post("/admin/users", data={**short, "csrf_token": token})
    assert response.status_code == 422 and 'value="budi"' in page_text(response)
    good = {**short, "password": "a long enough password"}
    assert client.post("/admin/users", data={**good, "csrf_token": token}).status_code == 302
    again = client.post("/admin/users", data={**good, "csrf_token": token})
    assert again.status_code == 422 and "nama pengguna ini sudah ada" in page_text(again)
    assert log_in(web_app.test_client(), "budi", "a long enough password").status_code == 302
    assert client.post("/admin/users/budi/disable", data={"csrf_token": token}).status_code == 302
    assert log_in(web_app.test_client(), "budi", "a long enough password").status_code == 401
    refused = client.post("/admin/keys", data={"name": "sis", "csrf_token": token})
    assert refused.status_code == 422 and "paling sedikit satu cakupan" in page_text(refused)
    response = client.post(
        "/admin/keys", data={"name": "sis", "scopes": ["read"], "csrf_token": token}
    )
    key = re.search(r'<code id="new-key">([^<]+)</code>', page_text(response)).group(1)
    assert web_app.test_client().get("/api/v1/smes", headers={"X-API-Key": key}).status_code == 200


# --- listing order --------------------------------------------------------------------------

COHORT_NAMES = ("c1", "C2", "bdg-2020", "Bdg 2021", "b_x", "b1")
_COHORT_SELECT = re.compile(r'<select (?:id="cohort" )?name="cohort">(.*?)</select>', re.DOTALL)


def _cohort_options(page: str) -> list[tuple[str, bool]]:
    """The options of the page's cohort list: ``(name, selected)``."""
    options = _COHORT_SELECT.search(page).group(1)
    return [
        (name, bool(selected))
        for name, selected in re.findall(r'<option value="([^"]*)" (selected)?', options)
    ]


def _assert_listed_in_code_point_order(app, profile: dict) -> None:
    """Cohorts and accounts are listed in code point order, the order SQLite sorts text
    in, and the first cohort is the one the pages open by default."""
    for username in ("lead_x", "lead1"):
        create_user(app, username, "officer")
    client = app.test_client()
    log_in(client, "admin")
    assert post_profile(client, profile, cohort=COHORT_NAMES[0]).status_code == 302
    with app.app_context():
        session = get_session()
        session.add_all(
            CohortMember(cohort=name, sme_id=profile["sme_id"]) for name in COHORT_NAMES[1:]
        )
        session.commit()
    expected = ["Bdg 2021", "C2", "b1", "b_x", "bdg-2020", "c1"]
    for path in ("/cohorts", "/cohorts/compare"):
        options = _cohort_options(page_text(client.get(path)))
        assert options == [(name, name == "Bdg 2021") for name in expected], path
    options = _cohort_options(page_text(client.get("/shortlists")))
    assert [name for name, _ in options] == expected
    users = re.findall(r"<tr><td>([^<]+)</td>", page_text(client.get("/admin/users")))
    assert users == ["admin", "lead", "lead1", "lead_x", "officer"]


@on_both_backends
def test_cohorts_and_accounts_are_listed_in_code_point_order(web_app, profile):
    _assert_listed_in_code_point_order(web_app, profile)


def test_the_listing_order_does_not_follow_the_database_collation(
    make_app, postgres_database, profile
):
    # en-US sorts "b_x" < "b1" < "Bdg 2021" < "bdg-2020" < "c1" < "C2" and "lead_x" < "lead1".
    with postgres_database("sme_web", icu_locale="en-US") as url:
        app = make_app(DATABASE_URL=url.render_as_string(hide_password=False))
        try:
            for role in ROLES:
                create_user(app, role, role)
            _assert_listed_in_code_point_order(app, profile)
        finally:
            get_database(app).engine.dispose()
