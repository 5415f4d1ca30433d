"""Statements run on the driver's cursor (``api.store.direct``) send what SQLAlchemy sends.

Every statement a single stored score and the API key check run this way is executed
both ways on the same database, SQLite and PostgreSQL: the SQL text and the parameter
values the driver gets must be the same, and so must the rows read back.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import event, select

from api.store import audit_log, events, keys, scores, smes
from api.store.common import built_upsert
from api.store.direct import Direct, direct, execute
from api.tables import AuditEvent, CohortMember, Event, PersonalData, Score, Sme

pytest_plugins = ["db_fixtures"]

NOW = dt.datetime(2026, 12, 5, 8, 30, 15, 123456, tzinfo=dt.UTC)
PROFILE = {"sme_id": "SME-D1", "legal_form": "cv", "nib": True, "employees": 12}


def _sme_row(sme_id: str = "SME-D1") -> dict:
    return {
        "sme_id": sme_id,
        "name": "Batik Sari",
        "sector": "textiles",
        "profile": PROFILE,
        "created_at": NOW,
        "updated_at": NOW,
    }


def _score_row(sme_id: str = "SME-D1") -> dict:
    return {
        "sme_id": sme_id,
        "batch_id": None,
        "sector": "textiles",
        "score": 61.5,
        "tier": "developing",
        "rules_score": 58.0,
        "ml_probability": 0.4125,
        "model_version": "m1",
        "ruleset_version": "r1",
        "scored_at": NOW,
        "record": {"sme_id": sme_id, "score": 61.5, "nested": [1, 2.5, None, "é"]},
        "category_scores": {"legal": 100.0, "digital": None},
    }


def _comparable(parameters):
    """The parameters with psycopg's JSON wrappers (which compare by identity) opened."""

    def open_value(value):
        if type(value).__name__ in {"Json", "Jsonb"}:
            return (type(value), value.obj, value.dumps)
        return value

    if isinstance(parameters, dict):
        return {key: open_value(value) for key, value in parameters.items()}
    return tuple(open_value(value) for value in parameters)


class _Sent:
    """What the driver was sent, statement by statement, through SQLAlchemy."""

    def __init__(self, engine):
        self.sent: list[tuple[str, object]] = []
        event.listen(engine, "before_cursor_execute", self._record)
        self.engine = engine

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.sent.append((statement, parameters))

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._record)


def _both_ways(db_session, statement, params: dict, prepare=None):
    """(sql, parameters) SQLAlchemy sends and those ``Direct`` sends for the same call,
    each on a fresh transaction that is then rolled back."""
    connection = db_session.connection()
    sent = _Sent(connection.engine)
    try:
        if prepare:
            prepare(connection)
        sent.sent.clear()
        connection.execute(statement, params)
        ours = sent.sent[-1]
    finally:
        sent.close()
    db_session.rollback()
    connection = db_session.connection()
    if prepare:
        prepare(connection)
    compiled = Direct(statement).compiled(connection.dialect, params)
    mine = (compiled.sql, compiled.parameters(params))
    db_session.rollback()
    return ours, mine


def _statements(db_session):
    """Each statement run directly, with parameters, and what it needs in place first."""

    def with_sme(connection):
        execute(
            connection,
            built_upsert(db_session, Sme.__table__, "profile", smes._sme_upsert),
            [_sme_row()],
        )

    person_fields = ("owner_name", "contact_email")
    return {
        "sme upsert": (
            built_upsert(db_session, Sme.__table__, "profile", smes._sme_upsert),
            _sme_row(),
            None,
        ),
        "personal upsert": (
            built_upsert(
                db_session,
                PersonalData.__table__,
                person_fields,
                smes._personal_upsert(person_fields),
            ),
            {"sme_id": "SME-D1", "owner_name": "Sari", "contact_email": None},
            with_sme,
        ),
        "personal row only": (
            built_upsert(db_session, PersonalData.__table__, (), smes._personal_upsert(())),
            {"sme_id": "SME-D1"},
            with_sme,
        ),
        "cohort member": (
            built_upsert(db_session, CohortMember.__table__, "member", smes._member_upsert),
            {"cohort": "batch-7", "sme_id": "SME-D1"},
            with_sme,
        ),
        "score insert": (scores._INSERT_SCORES, _score_row(), with_sme),
        "latest tier": (scores._LATEST_TIER, {"sme_id": "SME-D1"}, None),
        "event insert": (
            events._INSERT,
            {
                "type": "score.created",
                "sme_id": "SME-D1",
                "payload": {"version": 1, "score": 61.5},
                "occurred_at": NOW,
            },
            None,
        ),
        "event numbering": (events._NUMBER, {}, None),
        "api key": (keys._FIND, {"key_id": "abc123"}, None),
    }


STATEMENTS = [
    "sme upsert",
    "personal upsert",
    "personal row only",
    "cohort member",
    "score insert",
    "latest tier",
    "event insert",
    "event numbering",
    "api key",
]


@pytest.mark.parametrize("name", STATEMENTS)
def test_direct_statement_sends_what_sqlalchemy_sends(db_session, name):
    statement, params, prepare = _statements(db_session)[name]
    (our_sql, our_params), (sql, parameters) = _both_ways(db_session, statement, params, prepare)
    assert sql == our_sql
    assert _comparable(parameters) == _comparable(our_params)


def test_direct_audit_insert_fills_in_the_time_as_sqlalchemy_does(db_session):
    params = {"actor": "key:abc", "action": "score", "subject": "SME-D1", "details": {"n": 1}}
    (our_sql, our_params), (sql, parameters) = _both_ways(db_session, audit_log._INSERT, params)
    assert sql == our_sql
    # every value but the insert time (each way's own "now") is the same
    if isinstance(parameters, dict):
        names = list(parameters)
        assert names == list(our_params)
        mine, theirs = parameters, our_params
    else:
        names = list(
            Direct(audit_log._INSERT).compiled(db_session.get_bind().dialect, params).names
        )
        mine, theirs = (
            dict(zip(names, parameters, strict=True)),
            dict(zip(names, our_params, strict=True)),
        )
    assert "at" in names
    assert _comparable({k: v for k, v in mine.items() if k != "at"}) == _comparable(
        {k: v for k, v in theirs.items() if k != "at"}
    )
    assert type(mine["at"]) is type(theirs["at"])
    assert mine["at"] is not None


def test_direct_rows_read_back_like_sqlalchemy_rows(db_session):
    connection = db_session.connection()
    execute(
        connection,
        built_upsert(db_session, Sme.__table__, "profile", smes._sme_upsert),
        [_sme_row()],
    )
    ids = direct(scores._INSERT_SCORES).rows(connection, _score_row())
    assert [tuple(row) for row in ids] == [(connection.execute(select(Score.id)).scalar_one(),)]
    direct(audit_log._INSERT).run(
        connection, {"actor": "cli", "action": "score", "subject": None, "details": {"n": 1}}
    )
    stored = connection.execute(select(AuditEvent)).one()
    assert stored.details == {"n": 1}
    assert stored.at.tzinfo is not None
    assert abs(stored.at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    # a query's typed columns: JSON and times read back as SQLAlchemy reads them
    keys_id, _ = keys.create_api_key(db_session, name="direct", scopes=["score", "read"])
    found = direct(keys._FIND).rows(db_session.connection(), {"key_id": keys_id})
    expected = db_session.connection().execute(keys._FIND, {"key_id": keys_id}).one()
    assert len(found) == 1
    assert tuple(found[0]) == tuple(expected)
    assert found[0].scopes == ["score", "read"]
    assert found[0].created_at == expected.created_at
    assert direct(keys._FIND).rows(db_session.connection(), {"key_id": "nobody"}) == []
    assert direct(scores._LATEST_TIER).rows(db_session.connection(), {"sme_id": "SME-D1"})[
        0
    ].tier == ("developing")


def test_one_score_stored_directly_matches_one_stored_with_others(db_session):
    """The store's single-row path and its many-row path write the same rows."""
    from api.store import save_scored

    def record(sme_id, tier):
        return {
            "sme_id": sme_id,
            "score": 61.5,
            "tier": tier,
            "rules_score": 58.0,
            "ml_probability": 0.4125,
            "model_version": "m1",
            "ruleset_version": "r1",
            "scored_at": "2026-12-05T08:30:15Z",
            "category_scores": {"legal": 100.0},
        }

    def profile(sme_id):
        return {"sme_id": sme_id, "name": "Batik", "sector": "textiles", "owner_name": "Sari"}

    for tier in ("developing", "ready"):  # the second score changes the tier
        save_scored(
            db_session,
            profiles=[profile("ONE")],
            personal=[{}],
            records=[record("ONE", tier)],
            cohort="c1",
            batch_id=None,
            actor="cli",
        )
        save_scored(
            db_session,
            profiles=[profile("MANY"), profile("OTHER")],
            personal=[{}, {}],
            records=[record("MANY", tier), record("OTHER", tier)],
            cohort="c1",
            batch_id=None,
            actor="cli",
        )
    db_session.commit()

    def stored(sme_id):
        score_rows = db_session.execute(
            select(Score.sector, Score.score, Score.tier, Score.record, Score.category_scores)
            .where(Score.sme_id == sme_id)
            .order_by(Score.id)
        ).all()
        event_rows = db_session.execute(
            select(Event.type, Event.payload).where(Event.sme_id == sme_id).order_by(Event.id)
        ).all()
        person = db_session.execute(
            select(PersonalData.owner_name).where(PersonalData.sme_id == sme_id)
        ).one()
        cohort = db_session.execute(
            select(CohortMember.cohort).where(CohortMember.sme_id == sme_id)
        ).all()
        sme = db_session.execute(select(Sme.name, Sme.sector).where(Sme.sme_id == sme_id)).one()
        events_seen = [
            (kind, {k: v for k, v in payload.items() if k not in {"sme_id", "score_id"}})
            for kind, payload in event_rows
        ]
        records = [
            (sector, score, tier, {k: v for k, v in rec.items() if k != "sme_id"}, cats)
            for sector, score, tier, rec, cats in score_rows
        ]
        return records, events_seen, tuple(person), [tuple(c) for c in cohort], tuple(sme)

    one, many = stored("ONE"), stored("MANY")
    assert one == many
    assert [kind for kind, _ in one[1]] == ["score.created", "score.created", "tier.changed"]
    numbers = db_session.scalars(select(Event.commit_seq).order_by(Event.id)).all()
    assert numbers == list(range(1, len(numbers) + 1))


def test_statements_with_expanding_parameters_are_refused(db_session):
    with pytest.raises(ValueError, match="expanding"):
        Direct(scores._LATEST_TIERS).compiled(db_session.get_bind().dialect, {"sme_ids": ["a"]})


def test_driver_errors_come_out_as_sqlalchemy_raises_them(db_session):
    from sqlalchemy.exc import IntegrityError

    statement = built_upsert(db_session, Sme.__table__, "profile", smes._sme_upsert)
    row = {**_sme_row(), "name": None}  # NOT NULL
    raised = {}
    for way, run in (
        ("sqlalchemy", lambda connection: connection.execute(statement, row)),
        ("direct", lambda connection: execute(connection, statement, [row])),
    ):
        with pytest.raises(IntegrityError) as error:
            run(db_session.connection())
        raised[way] = error.value
        db_session.rollback()
    # (PostgreSQL's message shows the failing row, with the id each try took)
    texts = {way: re.sub(r"contains \(\d+,", "contains (id,", str(e)) for way, e in raised.items()}
    assert texts["direct"] == texts["sqlalchemy"]
    assert "[SQL parameters hidden" in str(raised["direct"])
    assert type(raised["direct"].orig) is type(raised["sqlalchemy"].orig)
