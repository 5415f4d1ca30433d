"""Security of the web pages and the API beside them: personal fields kept when hidden or
not sent, the `personal` scope for writing them, login rate limits and lockout per
address, sessions revoked at logout, access logs without query strings, cache and
security headers, and the web erase button.

Tests whose outcome depends on the database run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import urllib.request

import pytest
from sqlalchemy import select
from web_helpers import PASSWORD, create_user, csrf_token, form_of, log_in

from api.db import get_session
from api.http.server_log import PathOnlyRequestHandler
from api.tables import AuditEvent, PersonalData, Sme
from scoring.contract.fields import PERSONAL_COLUMNS

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

on_both_backends = pytest.mark.parametrize("web_backend", ["sqlite", "postgresql"])
PERSONAL = {
    "owner_gender": "male",
    "owner_name": "Eko Suryana",
    "contact_phone": "+62 877-4015-4778",
    "contact_email": "eko.suryana@example.com",
    "district": "Kiaracondong",
}


def _text(response) -> str:
    return response.get_data(as_text=True)


def _personal(app, sme_id: str = "BDG-2020-001") -> dict | None:
    with app.app_context():
        row = get_session().get(PersonalData, sme_id)
        return None if row is None else {name: getattr(row, name) for name in PERSONAL_COLUMNS}


def _events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(get_session().scalars(query))


def _submit_form(client, path: str, extra: dict | None = None):
    """Post the form on the page at ``path`` back as the browser would: every input's
    value as rendered (ticked boxes and selected options only)."""
    page = _text(client.get(path))
    data: dict[str, list[str]] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        kind = kind.group(1) if kind else "text"
        value = re.search(r'value="([^"]*)"', tag)
        value = value.group(1) if value else ""
        if kind in ("checkbox", "radio") and "checked" not in tag:
            continue
        data.setdefault(name.group(1), []).append(value)
    for select_name, body in re.findall(
        r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S
    ):
        for option in re.findall(r"<option[^>]*selected[^>]*>", body):
            value = re.search(r'value="([^"]*)"', option)
            data.setdefault(select_name, []).append(value.group(1) if value else "")
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        data[name] = [text]
    data.pop("lang", None)
    data.update(extra or {})
    form = re.search(r'<form method="post" action="(/profiles/new)"', page)
    assert form, "no profile form"
    return client.post(form.group(1), data=data)


# --- 1. hidden personal fields keep their values -------------------------------------------


@on_both_backends
def test_a_lead_saving_an_unchanged_profile_keeps_the_personal_fields(web_app, login, profile):
    officer = login("officer")
    data = form_of(profile)
    data["csrf_token"] = csrf_token(officer, "/profiles/new")
    assert officer.post("/profiles/new", data=data).status_code == 302
    assert _personal(web_app) == PERSONAL
    lead = login("lead")
    form = _text(lead.get("/profiles/new?from=BDG-2020-001"))
    assert 'name="owner_name"' not in form and 'name="contact_email"' not in form
    response = _submit_form(lead, "/profiles/new?from=BDG-2020-001")
    assert response.status_code == 302, _text(response)[:2000]
    assert _personal(web_app) == PERSONAL
    # Even personal fields posted by hand by a lead change nothing.
    forged = {**form_of(profile), "owner_name": "", "contact_phone": "0000"}
    forged["csrf_token"] = csrf_token(lead, "/profiles/new")
    assert lead.post("/profiles/new", data=forged).status_code == 302
    assert _personal(web_app) == PERSONAL


@on_both_backends
def test_an_officer_can_correct_and_clear_personal_fields(web_app, login, profile):
    officer = login("officer")
    data = form_of(profile)
    data["csrf_token"] = csrf_token(officer, "/profiles/new")
    assert officer.post("/profiles/new", data=data).status_code == 302
    changed = {**form_of(profile), "contact_phone": "+62 811 000", "csrf_token": data["csrf_token"]}
    del changed["contact_email"]
    assert officer.post("/profiles/new", data=changed).status_code == 302
    assert _personal(web_app) == {**PERSONAL, "contact_phone": "+62 811 000", "contact_email": None}


# --- 2. writing personal fields through the API needs the personal scope ---------------------


@on_both_backends
def test_a_score_key_cannot_overwrite_or_erase_personal_fields(make_web_app, make_key, profile):
    app = make_web_app()
    client = app.test_client()
    writer = {"X-API-Key": make_key(app, "score", "personal")}
    score_only = {"X-API-Key": make_key(app, "score")}
    assert client.post("/api/v1/scores", json=profile, headers=writer).status_code == 201
    assert _personal(app) == PERSONAL

    hostile = {**profile, "owner_name": "Someone Else", "contact_email": None}
    response = client.post("/api/v1/scores", json=hostile, headers=score_only)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert "owner_name" in problem["detail"] and "'personal' scope" in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == list(PERSONAL_COLUMNS)
    assert _personal(app) == PERSONAL

    # A dry run stores nothing: personal fields are fine there.
    dry = client.post("/api/v1/scores?dry_run=true", json=hostile, headers=score_only)
    assert dry.status_code == 200

    # Without personal fields a score key scores, and the stored ones are kept.
    business_only = {k: v for k, v in profile.items() if k not in PERSONAL_COLUMNS}
    business_only["employees"] = 9
    response = client.post("/api/v1/scores", json=business_only, headers=score_only)
    assert response.status_code == 201
    assert _personal(app) == PERSONAL
    with app.app_context():
        stored = get_session().scalar(select(Sme.profile).where(Sme.sme_id == "BDG-2020-001"))
    assert stored["employees"] == 9

    # With the scope: a field sent as null is cleared, one left out is kept.
    partial = {**business_only, "contact_phone": None, "district": "Coblong"}
    assert client.post("/api/v1/scores", json=partial, headers=writer).status_code == 201
    assert _personal(app) == {**PERSONAL, "contact_phone": None, "district": "Coblong"}


@on_both_backends
def test_batch_rows_with_personal_fields_from_a_score_key_are_rejected(
    make_web_app, make_key, profile
):
    app = make_web_app()
    client = app.test_client()
    writer = {"X-API-Key": make_key(app, "score", "personal")}
    score_only = {"X-API-Key": make_key(app, "score")}
    assert client.post("/api/v1/scores", json=profile, headers=writer).status_code == 201
    business_only = {k: v for k, v in profile.items() if k not in PERSONAL_COLUMNS}
    other = {**business_only, "sme_id": "B-2", "name": "CV Dua"}
    hostile = {**business_only, "owner_name": "Someone Else"}
    response = client.post("/api/v1/batches", json=[other, hostile], headers=score_only)
    assert response.status_code == 201, _text(response)
    batch = response.get_json()
    assert (batch["received"], batch["scored"], batch["rejected"]) == (2, 1, 1)
    assert batch["errors"] == [
        {
            "row": 2,
            "sme_id": "BDG-2020-001",
            "errors": [
                {
                    "field": "owner_name",
                    "message": "storing personal fields needs an API key with the 'personal' scope",
                }
            ],
        }
    ]
    assert _personal(app) == PERSONAL
    assert _personal(app, "B-2") == dict.fromkeys(PERSONAL_COLUMNS)

    # A CSV with blank personal columns (the template's) is fine for a score key.
    header = ",".join(["sme_id", "name", "sector", "year_established", "employees"])
    header += ",annual_revenue_idr,has_nib,has_npwp,owner_name,contact_email"
    body = f"{header}\nBDG-2020-001,UD Moda,apparel,1999,6,679848000,Ya,Ya,,\n"
    files = {"file": (io.BytesIO(body.encode()), "cohort.csv")}
    response = client.post(
        "/api/v1/batches", data=files, headers=score_only, content_type="multipart/form-data"
    )
    assert response.get_json()["scored"] == 1, _text(response)
    assert _personal(app) == PERSONAL


# --- 3 and 4. login: rate limit, nothing typed stored, one answer, lock per address ----------


@on_both_backends
def test_failed_logins_are_rate_limited_per_address_and_store_no_typed_name(make_web_app):
    app = make_web_app(LOGIN_RATE_LIMIT="3/minute")
    create_user(app, "officer", "officer")
    client = app.test_client()
    typed = "wulan.pratiwi@example.id"
    for _ in range(3):
        assert log_in(client, typed, "guess").status_code == 401
    response = log_in(client, typed, "guess")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    # Even the right password waits, from this address; another address is not limited.
    assert log_in(client, "officer").status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert log_in(elsewhere, "officer").status_code == 302
    events = _events(app, "login")
    assert len(events) == 4  # the limited attempts are not logged
    for event in events[:3]:
        assert event.subject is None and event.actor == "anonymous"
        assert event.details["outcome"] == "refused"
        assert len(event.details["username_hmac"]) == 16
        assert typed not in repr(event.details)
    assert len({e.details["username_hmac"] for e in events[:3]}) == 1
    assert events[3].subject == "user:officer"


@on_both_backends
def test_unknown_wrong_and_locked_get_the_same_answer(web_app):
    client = web_app.test_client()

    def answer(username: str, password: str) -> tuple[int, str]:
        response = log_in(client, username, password)
        page = _text(response)
        start = page.index('role="alert"')
        return response.status_code, page[start : page.index("</p>", start)]

    unknown = answer("nobody", "wrong password")
    wrong = answer("lead", "wrong password")
    assert unknown == wrong
    for _ in range(4):
        answer("lead", "wrong password")
    locked = answer("lead", PASSWORD)  # the right password, while locked from here
    assert locked == wrong
    assert [e.details["outcome"] for e in _events(web_app, "login")][-1] == "locked"


@on_both_backends
def test_a_stranger_elsewhere_cannot_lock_the_user_out(web_app):
    stranger = web_app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(7):
        assert log_in(stranger, "lead", "wrong password").status_code == 401
    assert log_in(stranger, "lead").status_code == 401  # locked from the stranger's address
    user = web_app.test_client()
    user.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    assert log_in(user, "lead").status_code == 302


# --- 5. logout ends the session on the server ---------------------------------------------------


@on_both_backends
def test_a_copied_session_cookie_is_useless_after_logout(web_app, login):
    client = login("officer")
    assert client.get("/cohorts").status_code == 200
    copied = client.get_cookie("session").value
    thief = web_app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/cohorts").status_code == 200
    token = csrf_token(client, "/cohorts")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    response = thief.get("/cohorts")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert log_in(web_app.test_client(), "officer").status_code == 302  # can log in again


# --- 6. the access log keeps no query string -----------------------------------------------------


def test_the_serve_access_log_has_paths_without_query_strings(web_app, caplog):
    from werkzeug.serving import make_server

    server = make_server(
        "127.0.0.1", 0, web_app, threaded=True, request_handler=PathOnlyRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    caplog.set_level(logging.INFO, logger="werkzeug")
    try:
        url = f"http://127.0.0.1:{server.server_port}/cohorts?q=Kopi+Sinar+Pagi+Bu+Wulan"
        request = urllib.request.Request(url)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(request, timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 302
    finally:
        server.shutdown()
        server.server_close()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /cohorts HTTP/1.1" 302' in line for line in lines), lines
    assert not any("Wulan" in line or "q=" in line for line in lines)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_serve_uses_the_path_only_request_handler(monkeypatch):
    import werkzeug.serving
    from click.testing import CliRunner

    from api.cli import main

    seen = {}

    def fake_make_server(host, port, app, **options):
        seen.update(options)
        raise OSError("stop here")

    monkeypatch.setattr(werkzeug.serving, "make_server", fake_make_server)
    result = CliRunner().invoke(main, ["serve", "--database-url", "sqlite://"])
    assert result.exit_code != 0
    assert seen["request_handler"] is PathOnlyRequestHandler


# --- 7. cache and security headers --------------------------------------------------------------

SECURITY = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options")


@on_both_backends
def test_responses_with_personal_data_are_not_cached(web_app, login, make_key, profile):
    officer = login("officer")
    data = {**form_of(profile), "cohort": "c1", "csrf_token": csrf_token(officer, "/profiles/new")}
    assert officer.post("/profiles/new", data=data).status_code == 302
    admin_key = {"X-API-Key": make_key(web_app, "admin")}
    api = web_app.test_client()
    responses = {
        "sme page": officer.get("/smes/BDG-2020-001"),
        "form": officer.get("/profiles/new?from=BDG-2020-001"),
        "cohort export": officer.get("/cohorts/export.csv?cohort=c1"),
        "api sme": api.get("/api/v1/smes/BDG-2020-001", headers=admin_key),
        "api export": api.get("/api/v1/smes/BDG-2020-001/export", headers=admin_key),
        "login": api.get("/login"),
    }
    for what, response in responses.items():
        assert response.status_code == 200, what
        assert response.headers["Cache-Control"] == "no-store", what
        for name in SECURITY:
            assert name in response.headers, (what, name)
    static = api.get("/static/css/app.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_error_responses_carry_the_security_headers(web_app, login):
    client = login("officer")
    for response in (
        client.get("/no/such/page"),
        client.get("/smes/NOPE"),
        web_app.test_client().get("/api/v1/nothing-here"),
        login("lead").get("/admin/users"),
    ):
        assert response.status_code in (403, 404)
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"


def test_the_api_docs_page_has_a_policy_that_allows_only_its_own_inline_script(web_app):
    import base64
    import hashlib
    import re

    response = web_app.test_client().get("/api/docs")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    inline = re.findall(r"<script>(.*?)</script>", _text(response), re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    script_src = next(p for p in policy.split("; ") if p.startswith("script-src"))
    assert script_src == f"script-src 'self' 'sha256-{digest}'"
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src


# --- 8. the erase button -----------------------------------------------------------------------


@on_both_backends
def test_an_admin_erases_an_sme_from_its_page_after_confirming(web_app, login, profile):
    officer = login("officer")
    data = {**form_of(profile), "csrf_token": csrf_token(officer, "/profiles/new")}
    assert officer.post("/profiles/new", data=data).status_code == 302
    admin = login("admin")
    page = _text(admin.get("/smes/BDG-2020-001"))
    assert 'href="/admin/smes/BDG-2020-001/erase"' in page
    assert 'id="erase-sme"' not in _text(officer.get("/smes/BDG-2020-001"))
    confirm = admin.get("/admin/smes/BDG-2020-001/erase")
    assert confirm.status_code == 200 and "UD Moda Harapan Parahyangan" in _text(confirm)
    token = csrf_token(admin, "/admin/smes/BDG-2020-001/erase")

    # No CSRF token: refused. Not confirmed: asked again. Nothing erased either way.
    assert admin.post("/admin/smes/BDG-2020-001/erase", data={"confirm": "yes"}).status_code == 400
    unconfirmed = admin.post("/admin/smes/BDG-2020-001/erase", data={"csrf_token": token})
    assert unconfirmed.status_code == 422
    assert _personal(web_app) == PERSONAL
    for role in ("officer", "lead"):
        client = login(role)
        assert client.get("/admin/smes/BDG-2020-001/erase").status_code == 403
        role_token = csrf_token(client, "/cohorts")
        response = client.post(
            "/admin/smes/BDG-2020-001/erase", data={"csrf_token": role_token, "confirm": "yes"}
        )
        assert response.status_code == 403
    assert _personal(web_app) == PERSONAL

    response = admin.post(
        "/admin/smes/BDG-2020-001/erase", data={"csrf_token": token, "confirm": "yes"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "BDG-2020-001 telah dihapus." in _text(admin.get("/"))
    assert _personal(web_app) is None
    with web_app.app_context():
        assert get_session().scalar(select(Sme).where(Sme.sme_id == "BDG-2020-001")) is None
    assert [(e.actor, e.subject) for e in _events(web_app, "erase")] == [
        ("user:admin", "BDG-2020-001")
    ]
    assert admin.get("/smes/BDG-2020-001").status_code == 404
    assert admin.get("/admin/smes/BDG-2020-001/erase").status_code == 404
