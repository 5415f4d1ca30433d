"""The SME's self-assessment: invitations made by staff (pages, API, command line), the
SME's own form behind the link (drafts, consent, submission, thank-you page), the review
queue (accept: an ordinary stored score with its origin; reject: the SME sees why), and the
link's security: expiry, revocation, use limit, rate limits, a token confined to its own
invitation, CSRF, no token in the logs, erasure and subject access of what was filled in.
The lifecycle runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import logging
import re
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, select, update
from web_helpers import csrf_token, form_of, page_text

from api import store
from api.config import DefaultConfig
from api.db import get_database, get_session
from api.http.server_log import PathOnlyRequestHandler
from api.services import self_assessment as service
from api.tables import AuditEvent, CohortMember, Invitation, Score, SelfAssessment, Sme
from api.web.i18n import EXTENSION
from scoring.contract import fields as F

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

#: The databases the lifecycle runs on (``db_fixtures.BACKENDS``).
BACKENDS = ("sqlite", "postgresql")

NEW_ID = "BDG-2027-001"
_LINK = re.compile(r'id="new-link" value="([^"]+)"')


# --- helpers ------------------------------------------------------------------------------------


def invite(officer, **fields) -> str:
    """Make an invitation on the staff page; the path of its link (shown once)."""
    data = {
        "kind": "cohort",
        "cohort": "bdg-2027",
        "sme_id": "",
        "language": "id",
        "max_uses": "1",
        "expires_in_days": "30",
        "show_result": "true",
        **fields,
        "csrf_token": csrf_token(officer, "/invitations"),
    }
    if data["show_result"] is None:
        del data["show_result"]
    response = officer.post("/invitations", data=data)
    assert response.status_code == 200, page_text(response)
    match = _LINK.search(page_text(response))
    assert match, page_text(response)
    return "/" + match.group(1).split("/", 3)[3]


def answers_of(profile: dict) -> dict:
    """A profile as the SME's form posts it: no sme_id (the invitation's)."""
    return form_of({k: v for k, v in profile.items() if k != "sme_id"})


def send(client, link: str, data: dict, *, action: str = "save", consent: bool = False):
    """Post the SME's form through ``link`` (``action`` "save" or "submit")."""
    # The session's CSRF token (from any page: a closed link's page has no form).
    form = {**data, "action": action, "csrf_token": csrf_token(client, "/login")}
    if consent:
        form["consent"] = "yes"
    return client.post(link, data=form)


def rows(app, model) -> list:
    with app.app_context():
        return list(get_session().scalars(select(model).order_by(model.id)))


def review_path(app) -> str:
    [submission] = [r for r in rows(app, SelfAssessment) if r.status == "submitted"]
    return f"/self-assessments/{submission.id}"


def accept(officer, path: str, data: dict | None = None):
    form = {**(data or {}), "action": "accept", "csrf_token": csrf_token(officer, path)}
    if data is None:  # the form as the page shows it
        form.update(_shown_form(officer, path))
    return officer.post(path, data=form)


def _shown_form(client, path: str) -> dict:
    """The values of the inputs, ticked boxes and chosen options on a page's form."""
    text = page_text(client.get(path))
    data: dict = {}
    for tag in re.findall(r"<input[^>]*>", text):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name.group(1) in ("csrf_token", "consent"):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                data.setdefault(name.group(1), []).append(html.unescape(value.group(1)))
        elif 'type="hidden"' not in tag:
            data[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, body in re.findall(
        r'<select id="[^"]+" name="([^"]+)".*?>(.*?)</select>', text, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen.group(1) if chosen else ""
    return data


# --- the lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize("web_backend", BACKENDS)
def test_a_new_sme_drafts_submits_and_its_answers_become_an_accepted_score(web_app, login, profile):
    officer = login("officer")
    link = invite(officer, sme_id=NEW_ID)
    assert link.startswith("/self/") and len(link) >= len("/self/") + 32
    assert link.split("/")[-1] not in page_text(officer.get("/invitations"))  # shown once

    sme = web_app.test_client()
    page = sme.get(link)
    assert page.status_code == 200
    text = page_text(page)
    assert '<html lang="id">' in text and "Simpan draf" in text and NEW_ID in text
    assert 'name="sme_id"' not in text  # the SME never types it
    for name in ("name", "sector", "has_nib", "owner_name", "contact_phone"):
        assert f'id="field-{name}"' in text
    with web_app.app_context():
        help_text = web_app.extensions[EXTENSION]["id"]["field.annual_revenue_idr.help"]
    assert html.escape(help_text) in text  # the staff form's help texts

    # A first draft, then the same link again (another browser): the draft is there.
    partial = {"name": profile["name"], "employees": "6", "owner_name": profile["owner_name"]}
    saved = send(sme, link, partial)
    assert saved.status_code == 302 and saved.headers["Location"].endswith(link)
    again = page_text(web_app.test_client().get(link))
    assert f'value="{profile["name"]}"' in again and 'id="draft-saved"' in again
    assert f'value="{profile["owner_name"]}"' in again

    # Submitting needs every required field and the consent; what was typed is kept.
    refused = send(sme, link, answers_of(profile), action="submit")
    assert refused.status_code == 422
    assert 'id="err-consent"' in page_text(refused)
    assert f'value="{profile["contact_email"]}"' in page_text(refused)
    done = send(sme, link, answers_of(profile), action="submit", consent=True)
    assert done.status_code == 302 and done.headers["Location"].endswith(link + "/thanks")
    thanks = page_text(sme.get(link + "/thanks"))
    assert (
        "Terima kasih" in thanks and 'id="score-value"' in thanks and 'id="action-plan"' in thanks
    )
    assert rows(web_app, Score) == []  # a preview only, not stored
    under_review = sme.get(link)  # its one use is made: 410, saying where the answers stand
    assert under_review.status_code == 410
    assert "sedang diperiksa" in page_text(under_review)
    assert "being checked" in page_text(under_review)

    # The consent: its version, the SHA-256 of the text as shown, the time.
    [submission] = rows(web_app, SelfAssessment)
    assert (submission.status, submission.consent_version) == ("submitted", "2026-12-1")
    with web_app.app_context():
        shown = service.consent_text(
            web_app.extensions[EXTENSION]["id"],
            office=web_app.config["OFFICE_NAME"],
            contact=web_app.config["OFFICE_CONTACT"],
            days=90,
        )
    assert submission.consent_sha256 == hashlib.sha256("\n\n".join(shown).encode()).hexdigest()
    assert submission.consent_language == "id" and submission.consented_at is not None
    for paragraph in shown:
        assert paragraph in html.unescape(text)

    # The officer reviews it: the queue, the page with the validator's verdict, a correction.
    queue = page_text(officer.get("/self-assessments/review"))
    assert NEW_ID in queue and profile["name"] in queue
    path = review_path(web_app)
    review = page_text(officer.get(path))
    assert 'id="valid"' in review and 'id="consent-record"' in review
    corrected = {**_shown_form(officer, path), "employees": "7"}
    accepted = accept(officer, path, corrected)
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith(f"/smes/{NEW_ID}")

    [score] = rows(web_app, Score)
    [submission] = rows(web_app, SelfAssessment)
    assert (submission.status, submission.score_id) == ("accepted", score.id)
    assert submission.reviewed_by == "user:officer"
    with web_app.app_context():
        session = get_session()
        stored = store.get_sme(session, NEW_ID)
        assert stored["profile"]["employees"] == 7
        assert stored["profile"]["owner_name"] == profile["owner_name"]
        assert session.scalar(select(CohortMember.cohort).where(CohortMember.sme_id == NEW_ID)) == (
            "bdg-2027"
        )
        origin = session.scalar(
            select(AuditEvent.details).where(AuditEvent.action == "self_assessment.accepted")
        )
        assert origin == {
            "invitation_id": submission.invitation_id,
            "self_assessment_id": submission.id,
            "score_id": score.id,
        }
        events, _ = store.read_events(session, after=0, limit=10)
    assert [e["type"] for e in events] == ["score.created"]

    # The link has done its one use: a 410 page that says the answers were accepted.
    used = sme.get(link)
    assert used.status_code == 410
    assert "diterima" in page_text(used) and "Link used" in page_text(used)
    assert "Terima kasih" in page_text(sme.get(link + "/thanks"))  # this browser still may


@pytest.mark.parametrize("web_backend", BACKENDS)
def test_a_rejected_submission_shows_its_reason_and_may_be_corrected_and_sent_again(
    web_app, login, profile
):
    officer = login("officer")
    link = invite(officer, max_uses="2", show_result=None)
    sme = web_app.test_client()
    wrong = {**answers_of(profile), "employees": "600"}
    assert send(sme, link, wrong, action="submit", consent=True).status_code == 302
    assert 'id="preview"' not in page_text(sme.get(link + "/thanks"))  # the office chose so

    path = review_path(web_app)
    no_reason = officer.post(
        path, data={"action": "reject", "reason": "", "csrf_token": csrf_token(officer, path)}
    )
    assert no_reason.status_code == 422
    reason = "Jumlah pekerja 600 tidak sesuai dengan omzet; periksa lagi."
    rejected = officer.post(
        path, data={"action": "reject", "reason": reason, "csrf_token": csrf_token(officer, path)}
    )
    assert rejected.status_code == 302
    assert accept(officer, path).status_code == 200  # already reviewed: shown, not changed
    assert rows(web_app, Score) == []

    again = page_text(sme.get(link))
    assert html.escape(reason) in again and 'id="rejected"' in again
    assert 'value="600"' in again  # the form opens with what was sent
    fixed = {**answers_of(profile), "employees": "6"}
    assert send(sme, link, fixed, action="submit", consent=True).status_code == 302
    assert accept(officer, review_path(web_app)).status_code == 302
    statuses = [r.status for r in rows(web_app, SelfAssessment)]
    assert statuses == ["rejected", "accepted"]
    assert sme.get(link).status_code == 410  # both uses made
    [invitation] = rows(web_app, Invitation)
    assert invitation.uses == 2


def test_a_correction_that_breaks_the_contract_is_refused_beside_its_field(web_app, login, profile):
    officer = login("officer")
    link = invite(officer)
    send(web_app.test_client(), link, answers_of(profile), action="submit", consent=True)
    path = review_path(web_app)
    refused = accept(officer, path, {**_shown_form(officer, path), "employees": "banyak"})
    assert refused.status_code == 422
    assert 'id="err-employees"' in page_text(refused) and 'value="banyak"' in page_text(refused)
    assert rows(web_app, Score) == [] and rows(web_app, SelfAssessment)[0].status == "submitted"


def test_an_invitation_for_a_held_sme_opens_with_its_profile_for_whom_may_see_it(
    web_app, login, profile, make_key
):
    client = web_app.test_client()
    key = {"X-API-Key": make_key(web_app, "score", "personal")}
    assert client.post("/api/v1/scores", json=profile, headers=key).status_code == 201
    sme_id = profile["sme_id"]

    by_officer = invite(login("officer"), kind="sme", sme_id=sme_id, cohort="")
    text = page_text(client.get(by_officer))
    assert f'value="{profile["name"]}"' in text and f'value="{profile["owner_name"]}"' in text
    by_lead = invite(login("lead"), kind="sme", sme_id=sme_id, cohort="")
    text = page_text(web_app.test_client().get(by_lead))
    assert f'value="{profile["name"]}"' in text and profile["owner_name"] not in text

    # A lead accepts without seeing the personal fields: those the SME gave are kept.
    sme = web_app.test_client()
    send(
        sme, by_lead, {**answers_of(profile), "owner_name": "Eko S."}, action="submit", consent=True
    )
    lead = login("lead")
    path = review_path(web_app)
    assert "Eko S." not in page_text(lead.get(path))
    assert accept(lead, path).status_code == 302
    with web_app.app_context():
        assert store.get_sme(get_session(), sme_id)["profile"]["owner_name"] == "Eko S."


def test_invitations_are_refused_with_a_reason(web_app, login, profile):
    officer = login("officer")
    path = "/invitations"

    def refused(**fields) -> str:
        data = {"kind": "cohort", "cohort": "c", "language": "id", "max_uses": "1"}
        data |= {"expires_in_days": "30", **fields, "csrf_token": csrf_token(officer, path)}
        response = officer.post(path, data=data)
        assert response.status_code == 422
        return page_text(response)

    assert "belum terdaftar" in refused(kind="sme", sme_id="NOPE-1")
    assert "memerlukan kohort" in refused(cohort="")
    assert "1 sampai 20" in refused(max_uses="21")
    assert "bilangan bulat" in refused(expires_in_days="tiga puluh")
    assert "ID UMKM" in refused(sme_id="-bad id")
    invite(officer, sme_id="X-1")
    assert "X-1" in refused(sme_id="X-1")
    assert rows(web_app, Invitation)[0].sme_id == "X-1"


# --- closed links -------------------------------------------------------------------------------


@pytest.mark.parametrize("web_backend", BACKENDS)
def test_unknown_expired_revoked_and_used_up_links_get_a_page_in_both_languages(
    web_app, login, profile
):
    officer = login("officer")
    sme = web_app.test_client()
    unknown = sme.get("/self/" + "x" * 32)
    assert unknown.status_code == 404
    assert "Tautan tidak dikenal" in page_text(unknown) and "Unknown link" in page_text(unknown)
    assert sme.get("/self/" + "x" * 500).status_code == 404

    expiring = invite(officer)
    with web_app.app_context():
        session = get_session()
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        session.execute(update(Invitation).values(expires_at=past))
        session.commit()
    for method in (sme.get, lambda link: send(sme, link, {"name": "x"})):
        expired = method(expiring)
        assert expired.status_code == 410
        assert "kedaluwarsa" in page_text(expired) and "Link expired" in page_text(expired)

    revoked_link = invite(officer)
    [*_, invitation] = rows(web_app, Invitation)
    revoke = officer.post(
        f"/invitations/{invitation.id}/revoke",
        data={"csrf_token": csrf_token(officer, "/invitations")},
    )
    assert revoke.status_code == 302
    revoked = sme.get(revoked_link + "?lang=en")
    assert revoked.status_code == 410
    text = page_text(revoked)
    assert text.index("Link withdrawn") < text.index("Tautan sudah ditarik")  # English first
    assert '<html lang="en">' in text

    used_link = invite(officer)
    send(web_app.test_client(), used_link, answers_of(profile), action="submit", consent=True)
    used = web_app.test_client().get(used_link)
    assert used.status_code == 410
    assert "Tautan sudah dipakai" in page_text(used) and "sedang diperiksa" in page_text(used)
    late = send(web_app.test_client(), revoked_link, answers_of(profile), action="submit")
    assert late.status_code == 410
    assert [r.status for r in rows(web_app, SelfAssessment)] == ["submitted"]


@pytest.mark.parametrize("web_backend", BACKENDS)
def test_a_token_opens_only_its_own_invitation(web_app, login, profile):
    officer = login("officer")
    link_a, link_b = invite(officer), invite(officer)
    sme_a, sme_b = web_app.test_client(), web_app.test_client()
    send(sme_b, link_b, {"name": "Usaha Rahasia B", "owner_name": "Bu Rahasia"})
    send(sme_a, link_a, {"name": "Usaha A"})
    send(sme_a, link_a, answers_of(profile), action="submit", consent=True)
    [invitation_a, invitation_b] = rows(web_app, Invitation)

    # A's link never shows, changes or submits B's answers.
    text_a = page_text(sme_a.get(link_a))
    assert "Rahasia" not in text_a
    [draft_b] = [r for r in rows(web_app, SelfAssessment) if r.invitation_id == invitation_b.id]
    assert (draft_b.status, draft_b.answers["name"]) == ("draft", "Usaha Rahasia B")
    [done_a] = [r for r in rows(web_app, SelfAssessment) if r.invitation_id == invitation_a.id]
    assert done_a.status == "submitted" and done_a.answers["name"] == profile["name"]
    # A's thank-you page belongs to A's browser and link, not to B's link.
    assert sme_a.get(link_b + "/thanks").status_code == 302
    assert sme_b.get(link_a + "/thanks").status_code == 302
    # A token is not an id: a neighbouring token or the hash itself opens nothing.
    token_a = link_a.rsplit("/", 1)[1]
    assert sme_a.get(link_a[:-1] + ("A" if token_a[-1] != "A" else "B")).status_code == 404
    assert sme_a.get(f"/self/{invitation_a.token_sha256}").status_code == 404
    assert token_a not in json.dumps([r.token_sha256 for r in rows(web_app, Invitation)])


def test_the_smes_form_needs_its_csrf_token(web_app, login):
    link = invite(login("officer"))
    refused = web_app.test_client().post(link, data={"name": "x", "action": "save"})
    assert refused.status_code == 400
    assert rows(web_app, SelfAssessment) == []


def test_links_are_rate_limited_per_token_and_per_client_address(make_web_app, login):
    app = make_web_app(
        SELF_ASSESSMENT_TOKEN_RATE_LIMIT="3/minute", SELF_ASSESSMENT_ADDRESS_RATE_LIMIT="5/minute"
    )
    from web_helpers import create_user, log_in

    create_user(app, "officer", "officer")
    officer = app.test_client()
    log_in(officer, "officer")
    link_a, link_b = invite(officer), invite(officer)
    sme = app.test_client()
    assert [sme.get(link_a).status_code for _ in range(3)] == [200, 200, 200]
    limited = sme.get(link_a)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "Terlalu banyak permintaan" in page_text(limited)
    assert sme.get(link_b).status_code == 200  # another link: its own allowance
    elsewhere = app.test_client()
    address = {"REMOTE_ADDR": "10.1.2.3"}
    assert elsewhere.get(link_b, environ_base=address).status_code == 200
    # The first address has made 5 requests: more, to any link, are refused.
    assert sme.get(link_b).status_code == 429
    assert sme.get("/self/" + "y" * 32).status_code == 429  # unknown tokens count too


def test_the_settings_are_the_apps_config_with_defaultconfigs_defaults(make_app):
    assert {name: service.setting(name) for name in service.DEFAULTS} == {
        "SELF_ASSESSMENT_EXPIRY_DAYS": 30,
        "SELF_ASSESSMENT_RETENTION_DAYS": 90,
        "SELF_ASSESSMENT_TOKEN_RATE_LIMIT": "60/minute",
        "SELF_ASSESSMENT_ADDRESS_RATE_LIMIT": "300/minute",
    }
    assert {name: getattr(DefaultConfig, name) for name in service.DEFAULTS} == service.DEFAULTS
    app = make_app(SELF_ASSESSMENT_EXPIRY_DAYS=7, SELF_ASSESSMENT_TOKEN_RATE_LIMIT=None)
    with app.app_context():
        assert service.setting("SELF_ASSESSMENT_EXPIRY_DAYS") == 7
        assert service.setting("SELF_ASSESSMENT_RETENTION_DAYS") == 90
        limits = app.extensions["sme_export.self_assessment_limits"]
        assert limits["SELF_ASSESSMENT_TOKEN_RATE_LIMIT"] is None
        assert limits["SELF_ASSESSMENT_ADDRESS_RATE_LIMIT"].spec == "300/minute"


# --- the token never reaches a log -------------------------------------------------------------


@pytest.fixture
def served(web_app) -> Iterator[str]:
    """The app behind werkzeug's server with ``sme-export serve``'s request handler."""
    from werkzeug.serving import make_server

    server = make_server(
        "127.0.0.1", 0, web_app, threaded=False, request_handler=PathOnlyRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_the_token_never_reaches_the_logs(web_app, login, served, caplog):
    link = invite(login("officer"))
    token = link.rsplit("/", 1)[1]
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement
    for path in (link, link + "/thanks", link + "?lang=en", "/self/" + token + "x"):
        try:
            urllib.request.urlopen(served + path, timeout=30).read()
        except urllib.error.HTTPError as error:
            assert error.code in (302, 404)
    request = urllib.request.Request(served + link, data=b"name=x&action=save", method="POST")
    with pytest.raises(urllib.error.HTTPError):  # no CSRF token: 400, logged
        urllib.request.urlopen(request, timeout=30)

    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "/self/<redacted>" in logged  # the request lines are there
    assert token not in logged


# --- the JSON API and the command line ------------------------------------------------------------


def test_the_api_makes_lists_reads_and_revokes_invitations(app, client, auth, profile, make_key):
    score = auth("score")
    made = client.post(
        "/api/v1/invitations",
        json={"cohort": "bdg-2027", "language": "en", "show_result": True, "max_uses": 2},
        headers=score,
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    assert body["url"].endswith("/self/" + body["token"]) and len(body["token"]) >= 32
    assert re.fullmatch(r"SA-[0-9A-F]{8}", body["sme_id"])
    assert (body["kind"], body["state"], body["uses"], body["max_uses"]) == ("cohort", "open", 0, 2)
    assert body["submissions"] == []

    listed = client.get("/api/v1/invitations?state=open", headers=score).get_json()["items"]
    assert [i["id"] for i in listed] == [body["id"]] and "token" not in listed[0]
    one = client.get(f"/api/v1/invitations/{body['id']}", headers=score).get_json()
    assert one["sme_id"] == body["sme_id"] and "token" not in one and "url" not in one
    revoked = client.post(f"/api/v1/invitations/{body['id']}/revoke", headers=score)
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    assert client.post(f"/api/v1/invitations/{body['id']}/revoke", headers=score).status_code == 200
    assert client.get(f"/api/v1/invitations/{body['id'] + 1}", headers=score).status_code == 404
    assert app.test_client().get(body["url"]).status_code == 410

    assert client.get("/api/v1/invitations", headers=auth("read")).status_code == 403
    assert client.get("/api/v1/invitations").status_code == 401
    taken = {"cohort": "c", "sme_id": body["sme_id"]}
    assert client.post("/api/v1/invitations", json=taken, headers=score).status_code == 409
    assert client.post("/api/v1/invitations", json={}, headers=score).status_code == 422


def test_an_api_invitation_for_a_held_sme_prefills_personal_fields_only_for_personal_keys(
    app, client, auth, profile
):
    assert client.post("/api/v1/scores", json=profile, headers=auth("admin")).status_code == 201
    path = f"/api/v1/smes/{profile['sme_id']}/invitations"
    assert (
        client.post("/api/v1/smes/NOPE/invitations", json={}, headers=auth("score")).status_code
        == 404
    )
    taken = {"cohort": "c", "sme_id": profile["sme_id"]}
    assert client.post("/api/v1/invitations", json=taken, headers=auth("score")).status_code == 409
    for scopes, shown in ((("score",), False), (("score", "personal"), True)):
        made = client.post(path, json={}, headers=auth(*scopes))
        assert made.status_code == 201 and made.get_json()["kind"] == "sme"
        page = page_text(app.test_client().get(made.get_json()["url"]))
        assert f'value="{profile["name"]}"' in page
        assert (profile["owner_name"] in page) is shown


def test_the_command_line_makes_lists_and_revokes_invitations(tmp_path):
    from api.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--database-url", url]).exit_code == 0
    made = runner.invoke(
        main,
        ["invitations", "create", "--cohort", "bdg-2027", "--sme-id", NEW_ID,
         "--base-url", "https://umkm.example.go.id/", "--database-url", url],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert re.fullmatch(r"https://umkm\.example\.go\.id/self/[\w-]{32}\n", made.stdout)
    assert "cannot be shown again" in made.stderr
    listed = runner.invoke(main, ["invitations", "list", "--database-url", url])
    assert NEW_ID in listed.stdout and "open" in listed.stdout
    assert made.stdout.strip().rsplit("/", 1)[1] not in listed.stdout
    assert runner.invoke(main, ["invitations", "revoke", "1", "--database-url", url]).exit_code == 0
    as_json = runner.invoke(main, ["invitations", "list", "--json", "--database-url", url])
    assert json.loads(as_json.stdout)[0]["state"] == "revoked"
    missing = runner.invoke(main, ["invitations", "revoke", "9", "--database-url", url])
    assert missing.exit_code == 1 and "no invitation 9" in missing.stderr
    unknown = runner.invoke(main, ["invitations", "create", "--sme", "NOPE", "--database-url", url])
    assert unknown.exit_code == 1 and "NOPE" in unknown.stderr


# --- personal data: erasure, subject access, retention -------------------------------------------

WULAN = {
    "name": "Kopi Sinar Pagi Bu Wulan",
    "owner_name": "Wulandari Pratiwi",
    "contact_phone": "+62 811 2233 4455",
    "contact_email": "wulan.pratiwi@example.id",
    "district": "Coblong",
}


def _every_table_as_text(app) -> dict[str, str]:
    engine = get_database(app).engine
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return {
            name: json.dumps([list(row) for row in connection.execute(select(table))], default=str)
            for name, table in metadata.tables.items()
        }


@pytest.mark.parametrize("web_backend", BACKENDS)
def test_erasure_and_subject_access_cover_invitations_drafts_and_submissions(
    web_app, login, profile, make_key
):
    officer = login("officer")
    wulan = {**profile, **WULAN, "sme_id": "W-1"}
    link = invite(officer, sme_id="W-1")
    send(web_app.test_client(), link, answers_of(wulan), action="submit", consent=True)
    assert accept(officer, review_path(web_app)).status_code == 302
    # A second invitation of hers, with a draft only; and someone else's.
    second = invite(officer, kind="sme", sme_id="W-1", cohort="")
    send(web_app.test_client(), second, {**answers_of(wulan), "district": "Sukajadi"})
    other = invite(officer, sme_id="A-1")
    send(web_app.test_client(), other, {"name": "CV Lain", "owner_name": "Budi Santoso"})

    client = web_app.test_client()
    personal_key = {"X-API-Key": make_key(web_app, "read", "personal")}
    held = client.get("/api/v1/smes/W-1/export", headers=personal_key).get_json()
    assert [len(i["self_assessments"]) for i in held["invitations"]] == [1, 1]
    first = held["invitations"][0]["self_assessments"][0]
    assert first["personal"]["owner_name"] == WULAN["owner_name"]
    assert first["consent_version"] == "2026-12-1" and "token" not in json.dumps(held)
    assert held["invitations"][1]["self_assessments"][0]["personal"]["district"] == "Sukajadi"

    before = _every_table_as_text(web_app)
    assert WULAN["owner_name"] in before["self_assessments"]
    admin = {"X-API-Key": make_key(web_app, "admin")}
    assert client.delete("/api/v1/smes/W-1", headers=admin).status_code == 204
    after = _every_table_as_text(web_app)
    for value in [*WULAN.values(), "Sukajadi"]:
        assert [name for name, text in after.items() if value in text] == [], value
    assert sorted(name for name, text in after.items() if '"W-1"' in text) == [
        "audit_events",
        "events",
    ]
    assert "Budi Santoso" in after["self_assessments"]  # the other SME's draft is untouched
    assert client.get(link).status_code == 404 and client.get(second).status_code == 404

    # An SME held only as a submission (never accepted) can be erased too.
    send(
        web_app.test_client(),
        other,
        answers_of({**profile, "name": "CV Lain"}),
        action="submit",
        consent=True,
    )
    assert client.delete("/api/v1/smes/A-1", headers=admin).status_code == 204
    assert rows(web_app, SelfAssessment) == [] and rows(web_app, Invitation) == []


def test_purge_deletes_drafts_of_closed_invitations_and_keeps_the_origin_of_accepted_ones(
    web_app, login, profile
):
    officer = login("officer")
    accepted_link, draft_link, waiting_link = invite(officer), invite(officer), invite(officer)
    send(web_app.test_client(), accepted_link, answers_of(profile), action="submit", consent=True)
    assert accept(officer, review_path(web_app)).status_code == 302
    send(web_app.test_client(), draft_link, {"name": "Draf Saja", "owner_name": "Bu Draf"})
    send(web_app.test_client(), waiting_link, answers_of(profile), action="submit", consent=True)
    with web_app.app_context():
        session = get_session()
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        session.execute(update(Invitation).values(purge_after=past))
        session.commit()
        dry = store.purge_expired(
            session, before=past - dt.timedelta(days=3650), actor="t", dry_run=True
        )
        assert dry["invitations_purged"] == [1, 2]
        summary = store.purge_expired(session, before=past - dt.timedelta(days=3650), actor="t")
        session.commit()
        assert summary["invitations_purged"] == [1, 2]
        again = store.purge_expired(session, before=past - dt.timedelta(days=3650), actor="t")
        assert again["invitations_purged"] == []
    [kept, waiting] = rows(web_app, SelfAssessment)
    assert (kept.status, kept.answers, kept.personal) == ("accepted", {}, {})
    assert kept.score_id is not None and kept.consent_sha256 is not None
    assert waiting.status == "submitted" and waiting.answers["name"] == profile["name"]
    assert [i.id for i in rows(web_app, Invitation)] == [1, 3]
    assert web_app.test_client().get(draft_link).status_code == 404


def test_personal_fields_of_submissions_stay_out_of_the_review_list_and_events(
    web_app, login, profile
):
    officer = login("officer")
    link = invite(officer)
    send(web_app.test_client(), link, answers_of(profile), action="submit", consent=True)
    assert profile["owner_name"] not in page_text(officer.get("/self-assessments/review"))
    accept(officer, review_path(web_app))
    with web_app.app_context():
        events, _ = store.read_events(get_session(), after=0, limit=10)
        details = [e.details for e in get_session().scalars(select(AuditEvent))]
    assert not [
        v for v in (profile["owner_name"], profile["contact_phone"]) if v in json.dumps(events)
    ]
    assert not [v for v in (profile["owner_name"], profile["name"]) if v in json.dumps(details)]
    assert set(F.PERSONAL_COLUMNS) <= set(rows(web_app, SelfAssessment)[0].personal)
    assert rows(web_app, Sme)[0].profile.get("owner_name") is None  # kept apart, as always
