"""Personal data: who may see it, subject access, erasure everywhere, retention purge,
the processing log (queryable, append-only in the database), and no personal value in
logs or model inputs."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, select, text, update
from sqlalchemy.exc import DBAPIError

from api import store
from api.db import get_database, get_session
from api.tables import Event, Sme
from scoring import engine as scoring_engine
from scoring.contract import fields as F
from scoring.model.features import FEATURE_NAMES, FIELD_COLUMNS

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

WULAN = {
    "sme_id": "W-1",
    "name": "Kopi Sinar Pagi Bu Wulan",
    "owner_name": "Wulandari Pratiwi",
    "contact_phone": "+62 811 2233 4455",
    "contact_email": "wulan.pratiwi@example.id",
    "district": "Coblong",
    "owner_gender": "female",
}
#: Values that identify Wulan; none may survive her erasure or appear in a log.
IDENTIFYING = [WULAN[k] for k in ("name", "owner_name", "contact_phone", "contact_email")]
IDENTIFYING += [WULAN["district"], "Pratiwi-rejected"]


@pytest.fixture
def wulan(profile) -> dict:
    return {**profile, **WULAN}


@pytest.fixture
def other(profile) -> dict:
    return {**profile, "sme_id": "A-1", "name": "CV Lain", "owner_name": "Budi Santoso"}


def _cli(*args: str):
    """Run ``sme-export ARGS``."""
    from api.cli import main

    return CliRunner().invoke(main, list(args))


def _key(app, make_key, *scopes) -> dict:
    return {"X-API-Key": make_key(app, *scopes)}


def _store_wulan(client, headers, wulan, other) -> int:
    """Wulan scored alone and in a batch (beside a rejected row about her); her batch id."""
    assert client.post("/api/v1/scores?cohort=kopi", json=wulan, headers=headers).status_code == 201
    # A personal value that landed in another column is quoted in the row error until erasure.
    rejected = {**wulan, "sector": "Pratiwi-rejected"}
    response = client.post(
        "/api/v1/batches?cohort=kopi", json=[wulan, other, rejected], headers=headers
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    batch = response.get_json()
    assert batch["status"] == "complete"
    assert (batch["scored"], batch["rejected"]) == (2, 1)
    return batch["batch_id"] if "batch_id" in batch else batch["id"]


def _decide_and_follow_up(app) -> None:
    """Wulan supported at a trade fair, and a follow-up whose note names her."""
    with app.app_context():
        session = get_session()
        store.record_decisions(
            session,
            [
                {
                    "sme_id": "W-1",
                    "decision": "support",
                    "support_kind": "trade_fair",
                    "decided_on": dt.date(2025, 6, 16),
                }
            ],
            actor="web:lead",
        )
        store.record_followups(
            session,
            [
                {
                    "sme_id": "W-1",
                    "followup_date": dt.date(2026, 6, 20),
                    "exported": True,
                    "first_export_date": dt.date(2026, 2, 1),
                    "destination_markets": ["JP"],
                    "learned_via": "phone_call",
                    "note": f"{WULAN['owner_name']} ({WULAN['contact_phone']}) confirmed",
                }
            ],
            actor="web:officer",
        )
        session.commit()


# --- who sees personal data ------------------------------------------------------------------


def test_personal_fields_only_for_the_personal_or_admin_scope(app, make_key, wulan):
    client = app.test_client()
    client.post("/api/v1/scores", json=wulan, headers=_key(app, make_key, "score", "personal"))
    read = client.get("/api/v1/smes/W-1", headers=_key(app, make_key, "read")).get_json()
    assert not set(F.PERSONAL_COLUMNS) & set(read["profile"])
    assert read["profile"]["name"] == WULAN["name"]
    for scopes in (("read", "personal"), ("admin",)):
        full = client.get("/api/v1/smes/W-1", headers=_key(app, make_key, *scopes)).get_json()
        assert {k: full["profile"][k] for k in F.PERSONAL_COLUMNS} == {
            k: WULAN[k] for k in F.PERSONAL_COLUMNS
        }
    only_personal = _key(app, make_key, "personal")
    assert client.get("/api/v1/smes/W-1", headers=only_personal).status_code == 403


def test_viewing_one_sme_is_in_the_processing_log(app, make_key, wulan):
    client = app.test_client()
    client.post("/api/v1/scores", json=wulan, headers=_key(app, make_key, "score", "personal"))
    headers = _key(app, make_key, "read")
    client.get("/api/v1/smes/W-1", headers=headers)
    with app.app_context():
        event = store.audit_events(get_session(), limit=1)[0]
    key_id = headers["X-API-Key"].split("_")[1]
    assert (event["actor"], event["action"], event["subject"], event["details"]) == (
        f"key:{key_id}",
        "view",
        "W-1",
        {"personal": False},
    )


def test_keys_can_be_created_with_the_personal_scope(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    assert _cli("db", "upgrade", "--database-url", url).exit_code == 0
    result = _cli("keys", "create", "--name", "dpo", "--scope", "personal", "--database-url", url)
    assert result.exit_code == 0, result.output
    listed = _cli("keys", "list", "--database-url", url).output
    assert "personal" in listed


# --- subject access --------------------------------------------------------------------------


def test_subject_access_exports_everything_held_and_is_logged(app, make_key, wulan, other):
    client = app.test_client()
    batch_id = _store_wulan(client, _key(app, make_key, "score", "personal"), wulan, other)
    _decide_and_follow_up(app)
    headers = _key(app, make_key, "personal")

    response = client.get("/api/v1/smes/W-1/export", headers=headers)
    assert response.status_code == 200
    held = response.get_json()
    assert held["sme_id"] == "W-1"
    assert held["name"] == WULAN["name"]
    assert held["personal_data"] == {k: WULAN[k] for k in F.PERSONAL_COLUMNS}
    assert held["profile"]["sector"] == wulan["sector"]
    assert held["cohorts"] == ["kopi"]
    assert [s["batch_id"] for s in held["scores"]] == [None, batch_id]
    assert all(s["sme_id"] == "W-1" for s in held["scores"])
    [batch] = held["batches"]
    assert batch["batch_id"] == batch_id
    assert [e["row"] for e in batch["row_errors"]] == [3]
    [decision] = held["decisions"]
    assert (decision["support_kind"], decision["exported_within_12m"]) == ("trade_fair", 1)
    assert decision["profile"]["sector"] == wulan["sector"]
    [followup] = held["followups"]
    assert followup["note"].startswith(WULAN["owner_name"])
    actions = [e["action"] for e in held["processing_log"]]
    assert actions[0] == "score" and "batch.created" in actions
    assert "decision.record" in actions and "followup.record" in actions
    last = dt.datetime.fromisoformat(held["last_activity_at"].replace("Z", "+00:00"))
    until = dt.datetime.fromisoformat(held["personal_data_kept_until"].replace("Z", "+00:00"))
    assert until - last == dt.timedelta(days=1826)

    with app.app_context():
        event = store.audit_events(get_session(), limit=1)[0]
    assert (event["action"], event["subject"], event["details"]) == ("subject_access", "W-1", None)


def test_subject_access_needs_the_personal_scope_and_a_known_sme(app, make_key, wulan):
    client = app.test_client()
    client.post("/api/v1/scores", json=wulan, headers=_key(app, make_key, "score", "personal"))
    read = client.get("/api/v1/smes/W-1/export", headers=_key(app, make_key, "read", "score"))
    assert read.status_code == 403
    admin = _key(app, make_key, "admin")
    assert client.get("/api/v1/smes/W-1/export", headers=admin).status_code == 200
    assert client.get("/api/v1/smes/NOPE/export", headers=admin).status_code == 404


# --- erasure, end to end -----------------------------------------------------------------------


def _every_table_as_text(app) -> dict[str, str]:
    """Every row of every table in the database (ORM-mapped or not), as text."""
    engine = get_database(app).engine
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return {
            name: json.dumps([list(row) for row in connection.execute(select(table))], default=str)
            for name, table in metadata.tables.items()
        }


def _downloads(client, headers, batch_id) -> str:
    """The batch's results as JSON, CSV and every XLSX cell, as one text."""
    path = f"/api/v1/batches/{batch_id}/results?format="
    texts = [
        client.get(path + fmt, headers=headers).get_data(as_text=True) for fmt in ("json", "csv")
    ]
    workbook = openpyxl.load_workbook(io.BytesIO(client.get(path + "xlsx", headers=headers).data))
    for sheet in workbook.worksheets:
        texts.extend(str(cell) for row in sheet.iter_rows(values_only=True) for cell in row)
    return "\n".join(texts)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_app(request, make_app, db_engine):
    """An app on SQLite or on the session's PostgreSQL database (emptied around the test)."""
    if request.param == "sqlite":
        return make_app()
    return make_app(DATABASE_URL=db_engine.url.render_as_string(hide_password=False))


def test_erasure_removes_the_smes_personal_data_everywhere(backend_app, make_key, wulan, other):
    app = backend_app
    client = app.test_client()
    batch_id = _store_wulan(client, _key(app, make_key, "score", "personal"), wulan, other)
    _decide_and_follow_up(app)
    admin = _key(app, make_key, "admin")
    before = _every_table_as_text(app)
    assert '"W-1"' in before["support_decisions"] and '"W-1"' in before["export_followups"]
    assert all(any(v in t for t in before.values()) for v in IDENTIFYING)
    assert WULAN["name"] in _downloads(client, admin, batch_id)

    assert client.delete("/api/v1/smes/W-1", headers=admin).status_code == 204

    after = _every_table_as_text(app)
    for value in IDENTIFYING:
        assert [name for name, t in after.items() if value in t] == [], value
    # What is left names the SME only by its pseudonymous id, in the processing log and in
    # the events other systems read (each left with nothing but the sme_id, the last one
    # ``sme.erased`` telling them to erase it too); its decision is an anonymous count.
    assert sorted(name for name, t in after.items() if '"W-1"' in t) == ["audit_events", "events"]
    with get_database(app).engine.connect() as connection:
        payloads = connection.scalars(select(Event.payload).where(Event.sme_id == "W-1"))
        kept = {json.dumps(payload, sort_keys=True) for payload in payloads}
    assert kept == {
        '{"erased": true, "sme_id": "W-1", "version": 1}',
        '{"sme_id": "W-1", "version": 1}',
    }
    assert after["support_decisions"] == after["export_followups"] == "[]"
    assert '"trade_fair"' in after["outcome_aggregates"]
    exported = _downloads(client, admin, batch_id)
    assert not [value for value in IDENTIFYING if value in exported]
    assert "W-1" not in exported
    assert "A-1" in exported  # the other SME is untouched
    assert client.get("/api/v1/smes/W-1/export", headers=admin).status_code == 404
    assert client.get("/api/v1/smes/W-1", headers=admin).status_code == 404
    if get_database(app).engine.dialect.name == "sqlite":
        # Not even the file's free pages or the write-ahead log keep the erased values.
        path = Path(get_database(app).engine.url.database)
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert [v for v in IDENTIFYING if v.encode() in raw] == []


# --- retention ---------------------------------------------------------------------------------


def _profile_row(sme_id: str, name: str) -> dict:
    return {
        "sme_id": sme_id,
        "name": name,
        **{column: None for column in F.PROFILE_COLUMNS if column not in ("sme_id", "name")},
        "sector": "apparel",
    }


def _record(sme_id: str) -> dict:
    return {
        "sme_id": sme_id,
        "score": 50.0,
        "tier": "developing",
        "rules_score": 50.0,
        "ml_probability": 0.5,
        "model_version": "m1",
        "ruleset_version": "r1",
        "scored_at": "2026-11-01T08:00:00Z",
    }


def _stored(session, sme_id: str, name: str, *, owner: str, days_ago: int) -> None:
    store.save_scored(
        session,
        profiles=[_profile_row(sme_id, name)],
        personal=[{"owner_name": owner}],
        records=[_record(sme_id)],
        cohort="c",
        batch_id=None,
        actor="key:x",
    )
    session.flush()
    stamp = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    session.execute(update(Sme).where(Sme.sme_id == sme_id).values(updated_at=stamp))


def test_purge_erases_smes_past_retention_and_is_logged(db_session, db_url):
    _stored(db_session, "OLD-1", "Usaha Lama", owner="Siti Lama", days_ago=2000)
    _stored(db_session, "NEW-1", "Usaha Baru", owner="Dewi Baru", days_ago=10)
    batch_id = store.create_batch(db_session, cohort=None, filename="old.csv", actor="key:x")
    error = {"row": 2, "sme_id": "GONE-1", "errors": [{"field": "owner_name", "message": "Ani"}]}
    store.finish_batch(db_session, batch_id, received=1, scored=0, rejected=1, row_errors=[error])
    db_session.commit()

    dry = _cli("purge", "--dry-run", "--database-url", db_url)
    assert dry.exit_code == 0, dry.output
    assert dry.stdout == "would erase OLD-1\n"
    db_session.expire_all()
    assert store.get_sme(db_session, "OLD-1") is not None

    done = _cli("purge", "--database-url", db_url, "--retention-days", "1826")
    assert done.exit_code == 0, done.output
    assert done.stdout == "erased OLD-1\n"
    db_session.expire_all()
    assert store.get_sme(db_session, "OLD-1") is None
    assert store.get_sme(db_session, "NEW-1")["profile"]["owner_name"] == "Dewi Baru"
    assert store.get_batch(db_session, batch_id)["row_errors"] == [error]  # recent: kept
    events = store.processing_log(db_session, actor="cli:purge")[0]
    assert [(e["action"], e["subject"]) for e in events] == [("purge", None), ("erase", "OLD-1")]
    assert events[0]["details"]["smes_erased"] == 1


def test_purge_redacts_row_errors_of_batches_past_retention(db_session):
    batch_id = store.create_batch(db_session, cohort=None, filename="old.csv", actor="key:x")
    error = {"row": 2, "sme_id": "GONE-1", "errors": [{"field": "owner_name", "message": "Ani"}]}
    store.finish_batch(db_session, batch_id, received=1, scored=0, rejected=1, row_errors=[error])
    db_session.commit()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    summary = store.purge_expired(db_session, before=later, actor="cli:purge")
    db_session.commit()
    assert summary["batches_redacted"] == [batch_id]
    assert store.get_batch(db_session, batch_id)["row_errors"] == [
        {"row": 2, "sme_id": None, "errors": [{"field": "owner_name", "message": "(erased)"}]}
    ]
    again = store.purge_expired(db_session, before=later, actor="cli:purge", dry_run=True)
    assert again["batches_redacted"] == []


# --- the processing log ------------------------------------------------------------------------


def test_the_processing_log_is_filtered_and_paged_for_admins(app, make_key, wulan, other):
    client = app.test_client()
    score = _key(app, make_key, "score", "personal")
    client.post("/api/v1/scores", json=wulan, headers=score)
    client.post("/api/v1/scores", json=other, headers=score)
    read = _key(app, make_key, "read")
    client.get("/api/v1/smes/W-1", headers=read)
    admin = _key(app, make_key, "admin")
    log = "/api/v1/processing-log"

    everything = client.get(log, headers=admin).get_json()
    assert [(e["action"], e["subject"]) for e in everything["items"]] == [
        ("view", "W-1"),
        ("score", "A-1"),
        ("score", "W-1"),
    ]
    assert everything["total"] == 3
    subject = client.get(f"{log}?subject=W-1", headers=admin).get_json()
    assert [e["action"] for e in subject["items"]] == ["view", "score"]
    reader = f"key:{read['X-API-Key'].split('_')[1]}"
    by_actor = client.get(log, query_string={"actor": reader}, headers=admin).get_json()
    assert [e["action"] for e in by_actor["items"]] == ["view"]
    scores = client.get(f"{log}?action=score&per_page=1&page=2", headers=admin).get_json()
    assert [e["subject"] for e in scores["items"]] == ["W-1"]
    assert (scores["total"], scores["page"], scores["per_page"]) == (2, 2, 1)
    at = everything["items"][0]["at"]
    since = client.get(log, query_string={"since": at}, headers=admin).get_json()
    assert "view" in [e["action"] for e in since["items"]]
    until = client.get(log, query_string={"until": "2000-01-01T00:00:00Z"}, headers=admin)
    assert until.get_json()["items"] == []

    assert client.get(log, headers=read).status_code == 403
    bad = client.get(f"{log}?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", headers=admin)
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == [{"field": "until", "message": "Must be later than since."}]


def test_processing_log_queries_on_both_databases(db_session):
    for actor, action, subject in [
        ("key:a", "score", "S-1"),
        ("key:b", "view", "S-1"),
        ("key:a", "score", "S-2"),
        ("user:ani", "erase", "S-1"),
    ]:
        store.audit(db_session, actor=actor, action=action, subject=subject)
        db_session.flush()
    db_session.commit()

    def subjects(**filters) -> list:
        items, total = store.processing_log(db_session, **filters)
        assert total == len(items)
        return [(e["action"], e["subject"]) for e in items]

    assert subjects(subject="S-1") == [("erase", "S-1"), ("view", "S-1"), ("score", "S-1")]
    assert subjects(actor="key:a", action="score") == [("score", "S-2"), ("score", "S-1")]
    now = dt.datetime.now(dt.UTC)
    assert len(subjects(since=now - dt.timedelta(minutes=5), until=now + dt.timedelta(1))) == 4
    assert subjects(since=now + dt.timedelta(minutes=5)) == []
    page, total = store.processing_log(db_session, page=2, per_page=3)
    assert ([e["action"] for e in page], total) == (["score"], 4)


def test_the_processing_log_is_in_the_openapi_document(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    operation = document["paths"]["/api/v1/processing-log"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "actor",
        "action",
        "subject",
        "since",
        "until",
        "page",
    }
    assert "/api/v1/smes/{sme_id}/export" in document["paths"]


def test_admins_read_the_processing_log_on_a_web_page(web_app, login, make_key, wulan):
    client = web_app.test_client()
    client.post("/api/v1/scores", json=wulan, headers=_key(web_app, make_key, "score", "personal"))
    admin = login("admin")
    page = admin.get("/admin/processing-log?action=score&since=2000-01-01")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "W-1" in html and ">score<" in html
    assert WULAN["owner_name"] not in html
    assert ">login<" not in html  # filtered out
    assert "W-1" not in admin.get("/admin/processing-log?subject=NOPE").get_data(as_text=True)
    assert admin.get("/admin/processing-log?since=yesterday").status_code == 422
    assert login("lead").get("/admin/processing-log").status_code == 403
    assert client.get("/admin/processing-log").status_code == 302


def test_the_database_refuses_to_change_or_delete_audit_events(db_engine):
    with db_engine.begin() as connection:
        connection.execute(
            text("INSERT INTO audit_events (at, actor, action) VALUES (:at, 'a', 'x')"),
            {"at": dt.datetime.now(dt.UTC)},
        )
    for statement in ("UPDATE audit_events SET actor = 'b'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), db_engine.begin() as connection:
            connection.execute(text(statement))
    with db_engine.connect() as connection:
        assert connection.execute(text("SELECT actor FROM audit_events")).scalars().all() == ["a"]


# --- logs and model inputs -------------------------------------------------------------------


def test_no_personal_value_reaches_the_logs(app, make_key, wulan, other, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement
    client = app.test_client()
    batch_id = _store_wulan(client, _key(app, make_key, "score", "personal"), wulan, other)
    admin = _key(app, make_key, "admin")
    client.get("/api/v1/smes/W-1", headers=admin)
    client.get("/api/v1/smes/W-1/export", headers=admin)
    _downloads(client, admin, batch_id)
    client.post(
        "/api/v1/shortlists",
        json={"cohort": "kopi", "capacity": 1},
        headers=_key(app, make_key, "score", "personal"),
    )
    client.delete("/api/v1/smes/W-1", headers=admin)

    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert caplog.records  # the SQL statements at least
    assert [value for value in IDENTIFYING if value in logged] == []


def test_a_crash_logs_no_personal_value(app, make_key, wulan, caplog, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError(f"cannot store {wulan['owner_name']}")

    monkeypatch.setattr(store, "save_scored", crash)
    response = app.test_client().post(
        "/api/v1/scores", json=wulan, headers=_key(app, make_key, "score", "personal")
    )
    assert response.status_code == 500
    assert WULAN["owner_name"] not in caplog.text + response.get_data(as_text=True)


def test_personal_fields_are_never_model_inputs(app, make_key, wulan, other, monkeypatch):
    assert not {name for name in FIELD_COLUMNS} & set(F.PERSONAL_COLUMNS)
    assert not [f for f in FEATURE_NAMES if any(p in f for p in F.PERSONAL_COLUMNS)]
    seen = []
    original = scoring_engine.score_frame

    def spy(profiles, **kwargs):
        seen.append(copy.deepcopy(profiles))
        return original(profiles, **kwargs)

    monkeypatch.setattr(scoring_engine, "score_frame", spy)
    _store_wulan(app.test_client(), _key(app, make_key, "score", "personal"), wulan, other)

    assert seen
    for frame in seen:
        assert not set(frame.columns) & set(F.PERSONAL_COLUMNS)
        # A DataFrame or the engine's ProfileColumns: every value of every column, as text.
        text_of_frame = repr({name: list(frame[name]) for name in frame.columns})
        assert [value for value in IDENTIFYING[1:] if value in text_of_frame] == []
