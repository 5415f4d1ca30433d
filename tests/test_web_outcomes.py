"""The staff pages on what the office did and what happened: decisions recorded from a
shortlist in one step (all or nothing), the SME page's decisions, follow-ups and derived
labels, correcting and deleting with a CSRF-protected confirmation, roles, the follow-up
worklist, the follow-up import with its rejected rows, and the templates.

Forms are posted as a browser would send them: every field as the page renders it, with
the test's changes on top.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import io
import re

import openpyxl
import pytest
from sqlalchemy import select
from web_helpers import csrf_token, page_text, post_profile

from api import store
from api.db import get_session
from api.tables import AuditEvent, Score
from api.web import outcomes as outcome_pages
from api.web.i18n import WIB

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

on_both_backends = pytest.mark.parametrize("web_backend", ["sqlite", "postgresql"])
SME = "BDG-2020-001"


# --- helpers --------------------------------------------------------------------------------


def form_of(page: str, form_id: str) -> tuple[str, dict[str, list[str]]]:
    """The action and the data of the form ``form_id`` on ``page`` as a browser sends it:
    ticked boxes only, each select's chosen option (else its first), textareas' text."""
    match = re.search(rf'<form([^>]*id="{form_id}"[^>]*)>(.*?)</form>', page, re.S)
    assert match, f"no form {form_id}"
    action = html.unescape(re.search(r'action="([^"]*)"', match.group(1)).group(1))
    body = match.group(2)
    data: dict[str, list[str]] = {}
    for tag in re.findall(r"<input[^>]*>", body):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if kind and kind.group(1) in ("checkbox", "radio") and " checked" not in tag:
            continue
        data.setdefault(name.group(1), []).append(html.unescape(value.group(1) if value else ""))
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', body, re.S):
        chosen = (
            re.findall(r'<option value="([^"]*)"[^>]* selected', options)
            or re.findall(r'<option value="([^"]*)"', options)[:1]
        )
        data[name] = [html.unescape(v) for v in chosen]
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', body, re.S):
        data[name] = [html.unescape(text)]
    return action, data


def submit(client, path: str, form_id: str, changes: dict | None = None, *, drop=()):
    """Post the form ``form_id`` of the page at ``path`` with ``changes``."""
    action, data = form_of(page_text(client.get(path)), form_id)
    data.update({k: v if isinstance(v, list) else [v] for k, v in (changes or {}).items()})
    for name in drop:
        data.pop(name, None)
    return client.post(action, data=data)


def cohort(client, profile: dict) -> None:
    """Cohort c1: the example SME, a food SME targeting GCC, and one without NIB."""
    food = {**copy.deepcopy(profile), "sme_id": "C-FOOD", "name": "Keripik Ibu Sari"}
    food.update(sector="food_beverage", target_markets=["GCC"], certifications=["HALAL", "PIRT"])
    no_nib = {**copy.deepcopy(profile), "sme_id": "C-NONIB", "name": "Tanpa Izin", "has_nib": False}
    for item in (profile, food, no_nib):
        assert post_profile(client, item, cohort="c1").status_code == 302


def decisions_of(app, sme_id: str | None = None) -> list[dict]:
    with app.app_context():
        found, _ = store.list_decisions(get_session(), store.DecisionFilter(sme_id=sme_id))
    return found


def followups_of(app, sme_id: str = SME) -> list[dict]:
    with app.app_context():
        return store.followups_of(get_session(), sme_id)


def latest_score(app, sme_id: str) -> Score:
    with app.app_context():
        query = select(Score).where(Score.sme_id == sme_id).order_by(Score.id.desc()).limit(1)
        return get_session().scalar(query)


def events(app, prefix: str) -> list[tuple[str, str]]:
    with app.app_context():
        rows = get_session().scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)
        )
        return [(row.action, row.subject) for row in rows]


def english(client) -> None:
    client.post("/language", data={"lang": "en", "csrf_token": csrf_token(client, "/")})


def today() -> dt.date:
    return dt.datetime.now(WIB).date()


SHORTLIST = "/shortlists?cohort=c1&capacity=1"
NO_NIB_REASON = "Syarat wajib belum terpenuhi: Memiliki NIB (Nomor Induk Berusaha)."


# --- 1. a shortlist's decisions in one step -------------------------------------------------


@on_both_backends
def test_a_shortlists_decisions_are_recorded_in_one_step(web_app, login, profile):
    cohort(login("officer"), profile)
    lead = login("lead")
    page = page_text(lead.get(SHORTLIST))
    assert "Catat keputusan untuk daftar pendek ini" in page
    chosen = re.search(r'<ol class="shortlist" id="chosen">\s*<li><a href="/smes/([^"]+)"', page)
    chosen = chosen.group(1)
    # The proposal: the chosen SME supported, the near miss and the ineligible not, with reasons.
    _, data = form_of(page, "decisions-form")
    rows = {data[f"sme_id-{i}"][0]: i for i in range(3)}
    assert set(rows) == {"BDG-2020-001", "C-FOOD", "C-NONIB"}
    assert rows[chosen] == 0 and data["decision-0"] == ["support"]
    near = next(s for s in rows if s not in (chosen, "C-NONIB"))
    assert data[f"decision-{rows[near]}"] == ["no_support"]
    assert data[f"reason-{rows[near]}"][0].startswith("Tidak ada tempat dukungan tersisa: ")
    assert data[f"reason-{rows['C-NONIB']}"] == [NO_NIB_REASON]
    assert data["decided_on"] == [today().isoformat()] and data["decided_by"] == ["lead"]

    changes = {
        "support_kind": "trade_fair",
        "decided_by": "Tim seleksi",
        "decided_on": "2026-11-20",
    }
    response = submit(lead, SHORTLIST, "decisions-form", changes)
    assert response.status_code == 200, page_text(response)[:3000]
    confirmation = page_text(response)
    assert "Keputusan telah dicatat" in confirmation
    assert "3 keputusan dicatat untuk daftar pendek kohort c1." in confirmation
    assert confirmation.count('href="/smes/') >= 3 and "Pameran dagang" in confirmation

    stored = {d["sme_id"]: d for d in decisions_of(web_app)}
    assert set(stored) == {"BDG-2020-001", "C-FOOD", "C-NONIB"}
    first = stored[chosen]
    assert (first["decision"], first["support_kind"]) == ("support", "trade_fair")
    assert first["decided_on"] == "2026-11-20" and first["decided_by"] == "Tim seleksi"
    assert first["recorded_by"] == "user:lead" and first["cohort"] == "c1"
    assert first["shortlist"] == {
        "cohort": "c1",
        "capacity": 1,
        "target_market": None,
        "max_per_sector": None,
        "position": 1,
        "status": "selected",
    }
    assert stored[near]["shortlist"]["status"] == "near_miss"
    assert stored[near]["shortlist"]["position"] == 2
    assert (stored[near]["decision"], stored[near]["support_kind"]) == ("no_support", None)
    assert stored["C-NONIB"]["shortlist"]["position"] is None
    assert stored["C-NONIB"]["reason"] == NO_NIB_REASON
    # The score snapshot: the SME's latest stored score when the decision was recorded.
    score = latest_score(web_app, chosen)
    assert (first["score_id"], first["score"], first["tier"]) == (score.id, score.score, score.tier)
    assert first["model_version"] == score.model_version
    assert [a for a, _ in events(web_app, "decision.")] == ["decision.record"] * 3


def test_sending_the_shortlist_form_twice_records_once(web_app, login, profile):
    cohort(login("officer"), profile)
    lead = login("lead")
    action, data = form_of(page_text(lead.get(SHORTLIST)), "decisions-form")
    data["support_kind"] = ["export_coaching"]
    assert lead.post(action, data=data).status_code == 200
    again = lead.post(action, data=data)
    assert again.status_code == 302 and again.headers["Location"].startswith("/shortlists?")
    assert "tidak dicatat dua kali" in page_text(lead.get(again.headers["Location"]))
    assert len(decisions_of(web_app)) == 3


@pytest.mark.parametrize("lang", ["id", "en"])
def test_shortlist_decisions_are_all_or_nothing_and_keep_what_was_typed(
    web_app, login, profile, lang
):
    cohort(login("officer"), profile)
    lead = login("lead")
    if lang == "en":
        english(lead)
    future = (today() + dt.timedelta(days=3)).isoformat()
    changes = {
        "decided_on": future,
        "reason-1": "",
        "reason-2": "Belum ada NIB, dicek ulang bulan depan",
    }
    response = submit(lead, SHORTLIST, "decisions-form", changes)
    assert response.status_code == 422
    page = page_text(response)
    assert decisions_of(web_app) == []
    # Each problem beside its field and tied to it; what was typed is kept.
    assert 'id="err-shared-decided_on"' in page and 'id="err-support_kind-0"' in page
    assert 'id="err-reason-1"' in page
    assert 'aria-describedby="help-shared-decided_on err-shared-decided_on"' in page
    assert re.search(r'id="support_kind-0"[^>]*aria-describedby="err-support_kind-0"', page)
    assert f'value="{future}"' in page
    assert "Belum ada NIB, dicek ulang bulan depan</textarea>" in page
    texts = {
        "id": ("belum ada yang dicatat", "Tidak boleh di masa depan.", "Pilih jenis dukungan."),
        "en": ("nothing was recorded", "Must not be in the future.", "Choose the kind of support."),
    }[lang]
    for text in texts:
        assert text in page, text
    # Corrected and sent again: all three are stored.
    action, data = form_of(page, "decisions-form")
    data.update(
        decided_on=[today().isoformat()],
        **{"support_kind-0": ["other"], "support_other-0": ["Kurasi produk"]},
        **{"reason-1": ["No place left"]},
    )
    assert lead.post(action, data=data).status_code == 200
    stored = {d["sme_id"]: d for d in decisions_of(web_app)}
    assert len(stored) == 3
    assert any(d["support_other"] == "Kurasi produk" for d in stored.values())
    assert stored["C-NONIB"]["reason"] == "Belum ada NIB, dicek ulang bulan depan"


def test_rows_left_out_are_not_recorded(web_app, login, profile):
    cohort(login("officer"), profile)
    lead = login("lead")
    changes = {"decision-1": "", "decision-2": "", "support_kind": "business_matching"}
    assert submit(lead, SHORTLIST, "decisions-form", changes).status_code == 200
    assert len(decisions_of(web_app)) == 1
    nothing = {"decision-0": "", "decision-1": "", "decision-2": ""}
    response = submit(lead, SHORTLIST, "decisions-form", nothing)
    assert response.status_code == 422 and "tidak ada yang dicatat" in page_text(response)


# --- 2. the SME page ------------------------------------------------------------------------


@on_both_backends
def test_the_sme_page_shows_decisions_followups_and_labels(web_app, login, profile):
    officer = login("officer")
    assert post_profile(officer, profile).status_code == 302
    lead = login("lead")
    page = page_text(lead.get(f"/smes/{SME}"))
    assert "Keputusan dukungan dan tindak lanjut" in page and 'id="no-decisions"' in page
    decided = today() - dt.timedelta(days=200)
    response = submit(
        lead,
        f"/smes/{SME}",
        "new-decision",
        {
            "decision": "support",
            "support_kind": "export_coaching",
            "decided_on": decided.isoformat(),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/smes/{SME}#outcomes"
    older = today() - dt.timedelta(days=600)
    response = submit(
        lead,
        f"/smes/{SME}",
        "new-decision",
        {"decision": "no_support", "decided_on": older.isoformat(), "reason": "Kapasitas kecil"},
    )
    assert response.status_code == 302
    page = page_text(lead.get(f"/smes/{SME}"))
    assert "Keputusan telah dicatat." in page
    table = page.split('id="decisions"')[1].split("</table>")[0]
    assert "Didukung" in table and "Pendampingan ekspor" in table and "Kapasitas kecil" in table
    assert "Belum diketahui" in table and "Belum ada tindak lanjut sejak keputusan" in table
    score = latest_score(web_app, SME)
    assert f">{score.score:.1f}".replace(".", ",") in table and score.model_version in table

    # A follow-up 100 days after the support decision: an export 50 days after it.
    response = submit(
        officer,
        f"/smes/{SME}",
        "new-followup",
        {
            "followup_date": (decided + dt.timedelta(days=100)).isoformat(),
            "exported": "yes",
            "learned_via": "visit",
            "first_export_date": (decided + dt.timedelta(days=50)).isoformat(),
            "destination_markets": ["JP", "AU"],
            "export_value_usd": "12.500,5",
            "contracts": "2",
            "note": "Kirim contoh ke pameran",
        },
    )
    assert response.status_code == 302
    page = page_text(officer.get(f"/smes/{SME}"))
    followups = page.split('id="followups"')[1].split("</table>")[0]
    assert "12.500,50" in followups and "Kunjungan" in followups and "Jepang" in followups
    assert "Kirim contoh ke pameran" in followups
    table = page.split('id="decisions"')[1].split("</table>")[0]
    support_row, no_support_row = table.split("<tr id=")[1:3]
    assert "Ekspor dalam 12 bulan" in support_row
    assert "Tindak lanjut mencatat ekspor pertama dalam 12 bulan sejak keputusan." in support_row
    # The older decision: 500 days before the follow-up, which reports a first export
    # 550 days after it, past its 12 months.
    assert "Tidak ekspor dalam 12 bulan" in no_support_row
    # Officers see both sections and record follow-ups, but do not decide.
    assert 'id="new-followup"' in page and 'id="new-decision"' not in page
    assert "/outcomes/decisions/" not in page and "/delete" not in page
    english(officer)
    page = page_text(officer.get(f"/smes/{SME}"))
    assert "Support decisions and follow-ups" in page and "12,500.50" in page
    assert "Exported within 12 months" in page and "Not yet known" not in page
    assert "Do not write buyers&#39; contact details" in page


def test_a_decision_is_corrected_and_withdrawn_after_confirming(web_app, login, profile):
    assert post_profile(login("officer"), profile).status_code == 302
    lead = login("lead")
    changes = {"decision": "support", "support_kind": "trade_fair"}
    assert submit(lead, f"/smes/{SME}", "new-decision", changes).status_code == 302
    (decision,) = decisions_of(web_app, SME)
    edit = f"/outcomes/decisions/{decision['id']}/edit"
    bad = submit(lead, edit, "decision-form", {"decision": "no_support", "reason": ""})
    assert bad.status_code == 422
    page = page_text(bad)
    assert 'id="err-decision-reason"' in page and "Tuliskan alasan UMKM tidak didukung." in page
    assert 'id="err-decision-support_kind"' in page  # a kind is for supported SMEs only
    good = {"decision": "no_support", "support_kind": "", "reason": "Sudah dapat program lain"}
    assert submit(lead, edit, "decision-form", good).status_code == 302
    (decision,) = decisions_of(web_app, SME)
    assert (decision["decision"], decision["reason"]) == ("no_support", "Sudah dapat program lain")
    delete = f"/outcomes/decisions/{decision['id']}/delete"
    assert "Tarik keputusan" in page_text(lead.get(delete))
    assert lead.post(delete, data={"confirm": "yes"}).status_code == 400
    token = csrf_token(lead, delete)
    assert lead.post(delete, data={"csrf_token": token}).status_code == 422
    assert len(decisions_of(web_app, SME)) == 1
    response = lead.post(delete, data={"csrf_token": token, "confirm": "yes"})
    assert response.status_code == 302 and decisions_of(web_app, SME) == []
    assert [a for a, _ in events(web_app, "decision.")] == [
        "decision.record",
        "decision.update",
        "decision.delete",
    ]
    assert lead.get(delete).status_code == 404


@on_both_backends
def test_a_followup_is_recorded_corrected_and_deleted_with_csrf(web_app, login, profile):
    officer = login("officer")
    assert post_profile(officer, profile).status_code == 302
    form = f"/outcomes/smes/{SME}/followups"
    action, data = form_of(page_text(officer.get(f"/smes/{SME}")), "new-followup")
    assert action == form
    no_token = {k: v for k, v in data.items() if k != "csrf_token"}
    assert officer.post(form, data={**no_token, "exported": "no"}).status_code == 400
    typed = {"exported": "no", "learned_via": "phone_call", "export_value_usd": "1.500,5"}
    response = submit(officer, f"/smes/{SME}", "new-followup", typed)
    assert response.status_code == 422
    page = page_text(response)
    assert "Kosongkan bila UMKM belum ekspor." in page and 'value="1.500,5"' in page
    assert re.search(r'id="followup-export_value_usd"[^>]*aria-invalid="true"', page)
    assert followups_of(web_app) == []

    good = {"exported": "no", "learned_via": "phone_call", "note": "Masih mencari pembeli"}
    assert submit(officer, f"/smes/{SME}", "new-followup", good).status_code == 302
    again = submit(officer, f"/smes/{SME}", "new-followup", good)
    assert "tidak disimpan dua kali" in page_text(officer.get(again.headers["Location"]))
    (followup,) = followups_of(web_app)
    assert followup["exported"] is False and followup["recorded_by"] == "user:officer"

    edit = f"/outcomes/followups/{followup['id']}/edit"
    form_page = page_text(officer.get(edit))
    assert "Masih mencari pembeli</textarea>" in form_page
    assert re.search(r'value="no" checked', form_page)
    changes = {
        "exported": "yes",
        "first_export_date": followup["followup_date"],
        "export_value_usd": "2.000",
        "destination_markets": ["ASEAN"],
    }
    assert submit(officer, edit, "followup-form", changes).status_code == 302
    (followup,) = followups_of(web_app)
    assert followup["exported"] is True and followup["export_value_usd"] == 2000
    assert followup["destination_markets"] == ["ASEAN"]

    delete = f"/outcomes/followups/{followup['id']}/delete"
    assert officer.get(delete).status_code == 403  # officers correct; leads delete
    lead = login("lead")
    assert "Hapus tindak lanjut" in page_text(lead.get(delete))
    assert lead.post(delete, data={"confirm": "yes"}).status_code == 400
    token = csrf_token(lead, delete)
    assert lead.post(delete, data={"csrf_token": token}).status_code == 422
    assert len(followups_of(web_app)) == 1
    assert lead.post(delete, data={"csrf_token": token, "confirm": "yes"}).status_code == 302
    assert followups_of(web_app) == []
    assert [a for a, _ in events(web_app, "followup.")] == [
        "followup.record",
        "followup.update",
        "followup.delete",
    ]


# --- 3. roles -------------------------------------------------------------------------------


def test_roles_are_enforced(web_app, login, profile):
    cohort(login("officer"), profile)
    clients = {role: login(role) for role in ("officer", "lead", "admin")}
    shortlist = "/outcomes/shortlist?cohort=c1&capacity=1"
    pages = (
        ("officer", shortlist, 403),
        ("officer", f"/outcomes/smes/{SME}/decisions", 403),
        ("officer", f"/outcomes/smes/{SME}/followups", 200),
        ("officer", "/outcomes/worklist", 200),
        ("officer", "/outcomes/import", 403),
        ("officer", "/outcomes/template.id.xlsx", 403),
        ("lead", shortlist, 200),
        ("lead", f"/outcomes/smes/{SME}/decisions", 200),
        ("lead", "/outcomes/import", 200),
        ("admin", shortlist, 200),
        ("admin", "/outcomes/import", 200),
        ("lead", "/outcomes/smes/NOPE/followups", 404),
        ("lead", "/outcomes/decisions/999/edit", 404),
        ("lead", "/outcomes/followups/999/delete", 404),
        ("lead", "/outcomes/shortlist?cohort=c1&capacity=0", 404),
    )
    for role, path, status in pages:
        assert clients[role].get(path).status_code == status, (role, path)
    token = csrf_token(clients["officer"], "/outcomes/worklist")
    posted = clients["officer"].post(
        f"/outcomes/smes/{SME}/decisions",
        data={"csrf_token": token, "decision": "support", "support_kind": "trade_fair"},
    )
    assert posted.status_code == 403 and decisions_of(web_app) == []
    anonymous = web_app.test_client().get("/outcomes/worklist")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/login?next=/outcomes/worklist"
    officer_nav = page_text(clients["officer"].get("/"))
    assert (
        'href="/outcomes/worklist"' in officer_nav and 'href="/outcomes/import"' not in officer_nav
    )
    lead_nav = page_text(clients["lead"].get("/"))
    assert 'href="/outcomes/worklist"' in lead_nav and 'href="/outcomes/import"' in lead_nav


# --- 4. the worklist ------------------------------------------------------------------------


def test_the_worklist_lists_the_supported_smes_due_most_overdue_first(
    web_app, login, profile, monkeypatch
):
    officer = login("officer")
    names = {
        "W-12M": "Dua Belas Bulan",
        "W-6M": "Enam Bulan",
        "W-3M": "Tiga Bulan",
        "W-DONE": "Sudah Ditindaklanjuti",
        "W-NEW": "Baru Diputuskan",
        "W-NO": "Tidak Didukung",
        "W-KNOWN": "Sudah Ekspor",
    }
    for sme_id, name in names.items():
        item = {**copy.deepcopy(profile), "sme_id": sme_id, "name": name}
        assert post_profile(officer, item).status_code == 302
    day = dt.date.fromisoformat
    decisions = {
        "W-12M": ("support", day("2025-05-10")),  # 12 months: due 2026-05-10
        "W-6M": ("support", day("2025-11-01")),  # 6 months: due 2026-05-01, also missed 3
        "W-3M": ("support", day("2026-03-01")),  # 3 months: due 2026-06-01
        "W-DONE": ("support", day("2026-03-01")),  # followed up after 3 months
        "W-NEW": ("support", day("2026-05-01")),  # not 3 months yet
        "W-NO": ("no_support", day("2025-01-10")),  # not supported: never on the list
        "W-KNOWN": ("support", day("2025-09-01")),  # exported: its label is known
    }
    followups = [
        {"sme_id": "W-6M", "followup_date": day("2026-02-02"), "exported": False},
        {"sme_id": "W-DONE", "followup_date": day("2026-06-05"), "exported": False},
        {
            "sme_id": "W-KNOWN",
            "followup_date": day("2026-01-10"),
            "exported": True,
            "first_export_date": day("2025-12-01"),
        },
    ]
    with web_app.app_context():
        session = get_session()
        store.record_decisions(
            session,
            [
                {
                    "sme_id": sme_id,
                    "decision": decision,
                    "support_kind": "trade_fair" if decision == "support" else None,
                    "reason": None if decision == "support" else "Tidak ada tempat",
                    "decided_on": decided,
                    "decided_by": "Tim",
                }
                for sme_id, (decision, decided) in decisions.items()
            ],
            actor="test",
        )
        store.record_followups(
            session, [{**f, "learned_via": "phone_call"} for f in followups], actor="test"
        )
        session.commit()
    monkeypatch.setattr(outcome_pages, "today_wib", lambda: dt.date(2026, 6, 15))
    page = page_text(officer.get("/outcomes/worklist"))
    listed = re.findall(r'<a href="/smes/([^"#]+)#new-followup">', page)
    assert listed == ["W-6M", "W-12M", "W-3M"]
    rows = page.split('id="worklist"')[1].split("<tbody>")[1].split("</tr>")
    assert "6 bulan sesudahnya" in rows[0] and "45" in rows[0] and "2 Feb 2026" in rows[0]
    assert "12 bulan sesudahnya" in rows[1] and "10 Mei 2026" in rows[1]
    assert "3 bulan sesudahnya" in rows[2] and "belum ada" in rows[2]
    assert "3 tindak lanjut jatuh tempo." in page and "15 Jun 2026" in page
    english(officer)
    page = page_text(officer.get("/outcomes/worklist"))
    assert "Follow-ups due" in page and "10 May 2026" in page and "12 months after" in page
    monkeypatch.setattr(outcome_pages, "today_wib", lambda: dt.date(2025, 8, 1))
    page = page_text(officer.get("/outcomes/worklist"))
    assert re.findall(r'<a href="/smes/([^"#]+)#new-followup">', page) == []
    assert 'id="worklist-empty"' in page


# --- 5. the import and the templates --------------------------------------------------------


def _indonesian_followups() -> bytes:
    """The Indonesian template filled in: two good rows, three bad ones."""
    book = openpyxl.load_workbook(io.BytesIO(outcome_template("id", "xlsx")))
    sheet = book["followups"]
    rows = [
        ("BDG-2020-001", "14/03/2026", "Ya", "Telepon", dt.datetime(2026, 2, 1), "JP; AU",
         "1.500,50", 2, "Catatan rahasia: pembeli A"),
        ("BDG-2020-001", "kemarin", "mungkin", "Telepon", None, None, None, None, "Rahasia B"),
        ("BDG-2020-001", "2026-04-01", "Tidak", "Kunjungan", None, None, "100", None, None),
        ("BDG-2099-404", "01/04/2026", "Tidak", "Laporan mandiri UKM", None, None, None, None,
         None),
        ("BDG-2020-001", "1 Mei 2026", "Tidak", "Data kepabeanan (PEB)", None, None, None, None,
         None),
    ]  # fmt: skip
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            sheet.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def outcome_template(lang: str, format: str) -> bytes:
    from api.services.outcome_files import outcome_template as build

    return build(lang=lang, format=format)


def _upload(client, body: bytes, filename: str):
    data = {
        "file": (io.BytesIO(body), filename),
        "csrf_token": csrf_token(client, "/outcomes/import"),
    }
    return client.post("/outcomes/import", data=data, content_type="multipart/form-data")


@on_both_backends
def test_an_indonesian_xlsx_with_good_and_bad_rows_is_imported_and_explained(
    web_app, login, profile
):
    assert post_profile(login("officer"), profile).status_code == 302
    lead = login("lead")
    body = _indonesian_followups()
    response = _upload(lead, body, "tindak-lanjut.xlsx")
    assert response.status_code == 200
    page = page_text(response)
    counts = dict(re.findall(r'<dd id="count-([a-z]+)">([^<]*)</dd>', page))
    assert counts == {
        "received": "5",
        "stored": "2",
        "already": "0",
        "rejected": "3",
        "skipped": "0",
    }
    errors = page.split('id="row-errors"')[1].split("</table>")[0]
    rows = dict(re.findall(r'<tr><td class="num">(\d+)</td>(.*?)</tr>', errors, re.S))
    assert sorted(rows) == ["3", "4", "5"]
    assert "Tanggal tindak lanjut</strong> (kolom B, isian “kemarin”)" in rows["3"]
    assert "Bukan tanggal; tulis seperti 2026-03-14 atau 14/03/2026." in rows["3"]
    assert "Sudah ekspor sejak keputusan</strong> (kolom C, isian “mungkin”)" in rows["3"]
    assert "Jawab ya atau tidak." in rows["3"]
    assert "Nilai ekspor (USD)</strong> (kolom G, isian “100”)" in rows["4"]
    assert "Kosongkan bila UMKM belum ekspor." in rows["4"]
    assert "BDG-2099-404" in rows["5"] and "UMKM tidak dikenal" in rows["5"]
    assert "rahasia" not in page.lower()  # notes are never quoted
    stored = followups_of(web_app)
    assert [(f["followup_date"], f["learned_via"]) for f in stored] == [
        ("2026-03-14", "phone_call"),
        ("2026-05-01", "customs_peb"),
    ]
    assert stored[0]["export_value_usd"] == 1500.5 and stored[0]["destination_markets"] == [
        "JP",
        "AU",
    ]
    # The same file again: nothing new is stored.
    again = page_text(_upload(lead, body, "tindak-lanjut.xlsx"))
    assert '<dd id="count-already">2</dd>' in again and '<dd id="count-stored">0</dd>' in again
    assert len(followups_of(web_app)) == 2
    english(lead)
    page = page_text(_upload(lead, body, "followups.xlsx"))
    assert "Follow-up date</strong> (column B, value “kemarin”)" in page
    assert "Not a date; write it as 2026-03-14 or 14/03/2026." in page
    assert "Leave this empty when the SME has not exported." in page


def test_a_file_that_is_not_a_followup_table_is_explained(web_app, login):
    lead = login("lead")
    token = csrf_token(lead, "/outcomes/import")
    response = lead.post(
        "/outcomes/import", data={"csrf_token": token}, content_type="multipart/form-data"
    )
    assert response.status_code == 422 and "Pilih berkas terlebih dahulu." in page_text(response)
    response = _upload(lead, b"sme_id;followup_date\r\nBDG-1;2026-01-01\r\n", "x.csv")
    assert response.status_code == 422
    page = page_text(response)
    assert "tidak dapat dibaca sebagai tabel tindak lanjut" in page
    assert "kolom wajib tidak ada: exported, learned_via" in page
    response = _upload(lead, b"sme_id;colour\r\nBDG-1;red\r\n", "x.csv")
    assert "kolom tidak dikenal: colour" in page_text(response)


def test_a_file_over_the_size_limit_is_told_on_the_import_page(make_web_app):
    from web_helpers import create_user, log_in

    app = make_web_app(MAX_CONTENT_LENGTH=1024 * 1024)
    create_user(app, "lead", "lead")
    client = app.test_client()
    log_in(client, "lead")
    response = _upload(client, b"x" * 1_200_000, "big.csv")
    assert response.status_code == 413 and response.mimetype == "text/html"
    assert "Berkas lebih besar dari 1 MB" in page_text(response)


def test_the_templates_download_in_both_languages_and_formats(login):
    lead = login("lead")
    page = page_text(lead.get("/outcomes/import"))
    links = re.findall(r'href="(/outcomes/template\.[a-z]+\.[a-z]+)"', page)
    assert sorted(links) == [
        "/outcomes/template.en.csv",
        "/outcomes/template.en.xlsx",
        "/outcomes/template.id.csv",
        "/outcomes/template.id.xlsx",
    ]
    for lang, guide in (("id", "petunjuk"), ("en", "instructions")):
        response = lead.get(f"/outcomes/template.{lang}.xlsx")
        assert response.status_code == 200
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="followups-template-{lang}.xlsx"'
        )
        book = openpyxl.load_workbook(io.BytesIO(response.data))
        assert book.sheetnames == ["followups", guide]
        assert next(book["followups"].values)[:4] == (
            "sme_id",
            "followup_date",
            "exported",
            "learned_via",
        )
        csv_template = lead.get(f"/outcomes/template.{lang}.csv")
        assert csv_template.mimetype == "text/csv"
        assert csv_template.data.decode("utf-8-sig").startswith("sme_id;followup_date;exported")
    assert lead.get("/outcomes/template.fr.csv").status_code == 404


def test_every_outcome_message_is_worded_in_bahasa_indonesia(web_app):
    """Each message of the outcome contract and file reader has its own catalogue text (the
    catalogues have the same keys in both languages: English follows)."""
    from flask import session

    from api.services.outcome_files import UNKNOWN_SME
    from scoring.contract import outcomes as C

    messages = [
        C.NOT_A_DATE,
        C.IN_THE_FUTURE,
        C.TOO_EARLY,
        C.EXPORT_AFTER_FOLLOWUP,
        C.ONLY_WHEN_EXPORTED,
        C.NOT_NON_NEGATIVE,
        C.TOO_LARGE.format(max=C.MAX_CONTRACTS),
        C.NOT_WHOLE_NUMBER,
        C.NOT_NUMBER,
        C.NOT_BOOLEAN,
        C.REQUIRED_FOR_OTHER,
        C.REQUIRED_FOR_SUPPORT,
        C.REQUIRED_FOR_NO_SUPPORT,
        C.ONLY_FOR_SUPPORT,
        UNKNOWN_SME,
        C.MISSING,
        C.TOO_LONG.format(max=C.TEXT_MAX),
        C.UNKNOWN_VALUE.format(input="x", choices="a, b"),
    ]
    with web_app.test_request_context():
        session["lang"] = "id"
        worded = [outcome_pages.outcome_message(message) for message in messages]
    assert [m for m, w in zip(messages, worded, strict=True) if m == w] == []
    assert len(set(worded)) == len(worded)
