"""Events for other systems: written in the transaction of the change they tell of, numbered
in commit order, read through a feed whose cursor never skips or repeats an event (also
when a later id commits first on PostgreSQL), with payloads that hold no personal field."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api import store
from api.db import get_database, make_sessionmaker
from api.http.event_schemas import (
    BatchEndedDataSchema,
    DecisionRecordedDataSchema,
    ModelPromotedDataSchema,
    OutcomeRecordedDataSchema,
    RulesetActivatedDataSchema,
    ScoreCreatedDataSchema,
    ShortlistCreatedDataSchema,
    SmeErasedDataSchema,
    TierChangedDataSchema,
)
from api.services import governance
from api.store.events import number_events
from api.tables import Event, Sme
from scoring.contract import fields as F

pytest_plugins = ["api_fixtures", "db_fixtures"]

SCHEMAS = {
    "score.created": ScoreCreatedDataSchema,
    "tier.changed": TierChangedDataSchema,
    "batch.completed": BatchEndedDataSchema,
    "batch.failed": BatchEndedDataSchema,
    "shortlist.created": ShortlistCreatedDataSchema,
    "model.promoted": ModelPromotedDataSchema,
    "ruleset.activated": RulesetActivatedDataSchema,
    "sme.erased": SmeErasedDataSchema,
    "decision.recorded": DecisionRecordedDataSchema,
    "outcome.recorded": OutcomeRecordedDataSchema,
}


def feed(client, headers, **query) -> dict:
    response = client.get("/api/v1/events", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def all_events(session: Session) -> list[tuple[int, str, int | None]]:
    """``(id, type, commit_seq)`` of every event, in commit order (unnumbered last)."""
    rows = session.execute(
        select(Event.id, Event.type, Event.commit_seq).order_by(Event.commit_seq, Event.id)
    )
    return [tuple(row) for row in rows]


def read_to_the_end(session: Session, cursor: int, *, limit: int) -> tuple[list[dict], int]:
    items: list[dict] = []
    while True:
        page, cursor = store.read_events(session, after=cursor, limit=limit)
        session.rollback()  # a new snapshot for the next page
        items += page
        if len(page) < limit:
            return items, cursor


# --- an event commits with its change, or not at all --------------------------------------------


def test_an_erasure_and_its_event_commit_together_and_a_rollback_leaves_neither(db_engine):
    sessions = make_sessionmaker(db_engine)
    with sessions() as setup:
        setup.add(Sme(sme_id="E-1", name="CV Uji", sector="apparel", profile={}))
        setup.commit()
    with sessions() as writer, sessions() as reader:
        assert store.erase_sme(writer, "E-1", actor="test")
        writer.flush()
        assert store.read_events(reader, after=0) == ([], 0)  # neither is visible yet
        assert reader.scalar(select(func.count()).select_from(Sme)) == 1
        reader.rollback()
        writer.rollback()
        assert all_events(writer) == []
        assert writer.scalar(select(func.count()).select_from(Sme)) == 1

        assert store.erase_sme(writer, "E-1", actor="test")
        writer.commit()
        items, cursor = store.read_events(reader, after=0)
        assert [(e["type"], e["data"]) for e in items] == [
            ("sme.erased", {"version": 1, "sme_id": "E-1"})
        ]
        assert cursor == 1 and items[0]["cursor"] == "1"
        assert reader.scalar(select(func.count()).select_from(Sme)) == 0


def test_a_batch_that_breaks_while_storing_emits_only_its_failure(
    make_app, make_key, monkeypatch, profile, tmp_path
):
    app = make_app(BATCH_BACKGROUND_ROWS=1, BATCH_STAGING_DIR=str(tmp_path / "staging"))
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read", "personal")}
    rows = [{**profile, "sme_id": f"B-{i}"} for i in range(3)]
    batch_id = client.post("/api/v1/batches", json=rows, headers=headers).get_json()["id"]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "finish_batch", broken)
    from api.services.batch_jobs import Worker

    assert Worker(app).run_once() == batch_id
    items = feed(client, headers)["items"]
    assert [(e["type"], e["data"]["batch_id"], e["data"]["reason"]) for e in items] == [
        ("batch.failed", batch_id, "RuntimeError")
    ]


# --- the feed: commit order, a cursor that never skips nor repeats ------------------------------


def emit_in_transactions(sessions, count: int, *, per_transaction: int, pause: float = 0.0):
    """``count`` events in transactions of ``per_transaction``, as another writer would."""
    with sessions() as session:
        for start in range(0, count, per_transaction):
            size = min(per_transaction, count - start)
            store.emit_many(
                session, [("sme.erased", {"sme_id": f"F-{start + i}"}) for i in range(size)]
            )
            session.commit()
            time.sleep(pause)


def test_the_feed_pages_while_events_are_added_without_missing_or_repeating_one(db_engine):
    sessions = make_sessionmaker(db_engine)
    emit_in_transactions(sessions, 25, per_transaction=5)
    writers = [
        threading.Thread(
            target=emit_in_transactions,
            args=(sessions, 60),
            kwargs={"per_transaction": n, "pause": 0.005},
        )
        for n in (1, 7)
    ]
    seen: list[dict] = []
    with sessions() as reader:
        cursor = 0
        for writer in writers:
            writer.start()
        while any(w.is_alive() for w in writers):
            page, cursor = store.read_events(reader, after=cursor, limit=9)
            reader.rollback()
            seen += page
        for writer in writers:
            writer.join()
        rest, cursor = read_to_the_end(reader, cursor, limit=9)
        seen += rest
        everything = all_events(reader)
    assert len(everything) == 145
    assert [e["id"] for e in seen] == [event_id for event_id, _, _ in everything]
    assert [int(e["cursor"]) for e in seen] == list(range(1, 146))
    assert cursor == 145


def test_the_feed_endpoint_pages_by_cursor_and_filters_by_type(app, client, auth, profile):
    headers = auth("admin")
    for i in range(4):
        assert (
            client.post(
                "/api/v1/scores", json={**profile, "sme_id": f"P-{i}"}, headers=headers
            ).status_code
            == 201
        )
    reader = auth("read")
    first = feed(client, reader, limit=3)
    assert [e["data"]["sme_id"] for e in first["items"]] == ["P-0", "P-1", "P-2"]
    assert first["has_more"] and first["next_cursor"] == "3"
    answer = client.get("/api/v1/events?limit=3&types=score.created", headers=reader)
    assert answer.headers["Link"] == (
        '</api/v1/events?types=score.created&after=3&limit=3>; rel="next"'
    )
    last = client.get("/api/v1/events?limit=3&after=3", headers=reader)
    assert "Link" not in last.headers  # no page after the last
    rest = feed(client, reader, limit=3, after=first["next_cursor"])
    assert [e["data"]["sme_id"] for e in rest["items"]] == ["P-3"]
    assert (rest["next_cursor"], rest["has_more"]) == ("4", False)
    assert feed(client, reader, after="4") == {"items": [], "next_cursor": "4", "has_more": False}

    assert client.delete("/api/v1/smes/P-1", headers=auth("admin")).status_code == 204
    erased = feed(client, reader, after="4", types=["sme.erased", "tier.changed"])
    assert [(e["type"], e["data"]) for e in erased["items"]] == [
        ("sme.erased", {"version": 1, "sme_id": "P-1"})
    ]
    # Filtered, the cursor still moves past the events of other types.
    nothing = feed(client, reader, after=erased["next_cursor"], types=["batch.failed"])
    assert nothing["items"] == [] and nothing["next_cursor"] == erased["next_cursor"]


def test_the_feed_refuses_a_malformed_cursor_a_large_page_and_an_unknown_type(client, auth):
    reader = auth("read")
    for query in ({"after": "abc"}, {"limit": 10_000}, {"types": "score.deleted"}):
        assert client.get("/api/v1/events", query_string=query, headers=reader).status_code == 422
    assert client.get("/api/v1/events", headers=auth("score")).status_code == 403
    assert client.get("/api/v1/events").status_code == 401


@pytest.fixture
def pg_sessions(postgres_empty_engine):
    return make_sessionmaker(postgres_empty_engine)


def test_a_later_id_that_commits_first_is_read_first_and_the_earlier_one_is_not_skipped(
    pg_sessions,
):
    with pg_sessions() as early, pg_sessions() as late, pg_sessions() as reader:
        store.emit(early, "sme.erased", {"sme_id": "EARLY"})
        early.flush()
        store.emit(late, "sme.erased", {"sme_id": "LATE"})
        late.commit()
        (early_id,) = early.scalars(select(Event.id).where(Event.sme_id == "EARLY"))
        (late_id,) = reader.scalars(select(Event.id).where(Event.sme_id == "LATE"))
        assert early_id < late_id  # ids in the order they were taken ...

        first, cursor = store.read_events(reader, after=0)
        reader.rollback()
        assert [e["id"] for e in first] == [late_id]  # ... commits in the other order

        early.commit()
        second, cursor = store.read_events(reader, after=cursor)
        assert [e["id"] for e in second] == [early_id]  # not skipped by the cursor
        assert [e["cursor"] for e in first + second] == ["1", "2"]


def test_a_transaction_numbering_its_events_makes_the_next_one_wait_for_its_commit(pg_sessions):
    """While one transaction holds the numbering lock (between numbering and commit), the
    next waits: nobody can see number 2 before number 1 is committed."""
    with pg_sessions() as first, pg_sessions() as reader:
        store.emit(first, "sme.erased", {"sme_id": "FIRST"})
        number_events(first)  # what its commit does first: now it holds the lock
        committed = threading.Event()

        def second_writer() -> None:
            with pg_sessions() as second:
                store.emit(second, "sme.erased", {"sme_id": "SECOND"})
                second.commit()
                committed.set()

        thread = threading.Thread(target=second_writer)
        thread.start()
        assert not committed.wait(1.0)  # waits for the first transaction's lock
        assert store.read_events(reader, after=0) == ([], 0)
        reader.rollback()
        first.commit()
        thread.join(30)
        assert committed.is_set()
        items, _ = store.read_events(reader, after=0)
        assert [(e["data"]["sme_id"], e["cursor"]) for e in items] == [
            ("FIRST", "1"),
            ("SECOND", "2"),
        ]


def test_events_committed_without_a_session_hook_are_numbered_by_the_next_commit(pg_sessions):
    """A row inserted outside a session (a manual repair) cannot hide among numbered ones:
    the next transaction that numbers its events numbers it too."""
    with pg_sessions() as session:
        session.execute(
            text(
                "INSERT INTO events (type, payload, occurred_at) VALUES ('sme.erased', '{}', now())"
            )
        )
        session.commit()
        assert store.read_events(session, after=0) == ([], 0)
        store.emit(session, "sme.erased", {"sme_id": "NEXT"})
        session.commit()
        items, _ = store.read_events(session, after=0)
        assert [e["cursor"] for e in items] == ["1", "2"]


# --- every event type, and no personal field in any payload -------------------------------------


def test_every_change_emits_its_event_and_no_payload_holds_personal_data(
    app, client, auth, profile
):
    admin = auth("admin")
    personal = {name: profile[name] for name in F.PERSONAL_COLUMNS if profile.get(name)}
    assert personal, "the example profile should carry personal fields"
    assert client.post("/api/v1/scores?cohort=c", json=profile, headers=admin).status_code == 201
    worse = {**profile, "has_nib": False, "employees": 1, "certifications": []}
    assert client.post("/api/v1/scores?cohort=c", json=worse, headers=admin).status_code == 201
    other = {**profile, "sme_id": "OTHER-1"}
    assert client.post("/api/v1/batches?cohort=c", json=[other], headers=admin).status_code == 201
    shortlist = client.post(
        "/api/v1/shortlists", json={"cohort": "c", "capacity": 1}, headers=admin
    )
    assert shortlist.status_code == 200
    decision = {
        "sme_id": "OTHER-1",
        "decision": "support",
        "support_kind": "trade_fair",
        "decided_on": "2026-01-05",
    }
    assert client.post("/api/v1/decisions", json=decision, headers=admin).status_code == 201
    followup = {
        "sme_id": "OTHER-1",
        "followup_date": "2026-06-05",
        "exported": False,
        "learned_via": "phone_call",
    }
    response = client.post("/api/v1/outcomes", json=followup, headers=admin)
    assert response.status_code == 201, response.get_json()
    with get_database(app).sessions() as session:
        governance.record_model_event(
            session,
            {
                "action": "promote",
                "version": "v2",
                "previous": "v1",
                "actor": "key:x",
                "forced": False,
                "at": "2026-12-01T00:00:00Z",
            },
            "promote",
        )
    assert client.delete(f"/api/v1/smes/{profile['sme_id']}", headers=admin).status_code == 204

    items = feed(client, auth("read"), limit=100)["items"]
    types = [e["type"] for e in items]
    assert types == [
        "score.created",
        "score.created",
        "tier.changed",
        "score.created",
        "batch.completed",
        "shortlist.created",
        "decision.recorded",
        "outcome.recorded",
        "model.promoted",
        "sme.erased",
    ]
    by_type = {e["type"]: e["data"] for e in items}
    assert by_type["batch.completed"]["scored"] == 1
    assert by_type["shortlist.created"]["selected"] == ["OTHER-1"]  # the first SME's knock-out
    assert by_type["model.promoted"]["model_version"] == "v2"
    for event in items:
        data = event["data"]
        assert data["version"] == 1
        if data.get("erased"):
            assert data == {"version": 1, "sme_id": profile["sme_id"], "erased": True}
            continue
        assert SCHEMAS[event["type"]]().validate(data) == {}, event
        missing = {
            name for name, field in SCHEMAS[event["type"]]().fields.items() if field.required
        } - set(data)
        assert not missing, (event["type"], missing)
        assert not set(data) & {*F.PERSONAL_COLUMNS, "name"}, event
        dumped = json.dumps(data, ensure_ascii=False)
        for value in (*personal.values(), profile["name"]):
            assert str(value) not in dumped, (event["type"], value)


def test_an_erased_smes_events_keep_only_its_sme_id(app, client, auth, profile):
    admin = auth("admin")
    client.post("/api/v1/scores", json=profile, headers=admin)
    client.post("/api/v1/scores", json={**profile, "sme_id": "KEEP-1"}, headers=admin)
    client.delete(f"/api/v1/smes/{profile['sme_id']}", headers=admin)
    items = feed(client, auth("read"))["items"]
    erased = [e for e in items if e["data"]["sme_id"] == profile["sme_id"]]
    assert [(e["type"], e["data"]) for e in erased] == [
        ("score.created", {"version": 1, "sme_id": profile["sme_id"], "erased": True}),
        ("sme.erased", {"version": 1, "sme_id": profile["sme_id"]}),
    ]
    (kept,) = [e for e in items if e["data"]["sme_id"] == "KEEP-1"]
    assert kept["data"]["score"] > 0
