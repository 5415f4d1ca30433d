"""The store: every repository function, on SQLite and on PostgreSQL (see db_fixtures)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import pytest
from conftest import random_profiles
from sqlalchemy import func, select, update

from api import store
from api.db import make_engine, make_sessionmaker
from api.migrate import upgrade
from api.tables import (
    ApiKey,
    AppendOnlyError,
    AuditEvent,
    Base,
    Event,
    PersonalData,
    Score,
    ScoreAggregate,
    Sme,
)
from scoring.contract import fields as F
from scoring.contract.frames import profiles_to_records

pytest_plugins = ["db_fixtures"]

MODEL, RULESET = "20261101-model", "2026.11.1+rules"
ACTOR = "key:tester"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_BASE_PROFILE = profiles_to_records(random_profiles(1, seed=7))[0]


def profile(sme_id: str, *, name: str | None = None, sector: str = "apparel") -> dict:
    """A valid contract dict (no personal fields)."""
    return {**_BASE_PROFILE, "sme_id": sme_id, "name": name or f"Usaha {sme_id}", "sector": sector}


def person(**given) -> dict:
    values = dict.fromkeys(F.PERSONAL_COLUMNS)
    values.update(given)
    return values


def record(
    sme_id: str,
    score: float,
    *,
    tier: str = "near_ready",
    scored_at: str = "2026-11-01T10:00:00Z",
    model: str = MODEL,
) -> dict:
    """A SPEC section 4 record with the values the store reads, and the rest abridged."""
    return {
        "sme_id": sme_id,
        "score": score,
        "tier": tier,
        "rules_score": round(score - 2, 1),
        "ml_probability": 0.5,
        "category_scores": {"legal": 100.0, "product": None},
        "criteria": [{"id": "legal.nib", "met": True, "points": 10, "max_points": 10}],
        "knockouts": [],
        "market_readiness": {"EU": {"score": score, "missing": []}},
        "reasons": [{"feature": "has_website", "effect": 0.08}],
        "action_plan": [{"criterion": "legal.npwp", "gain": 4.8, "label": "NPWP"}],
        "assumed": ["has_website"],
        "model_version": model,
        "ruleset_version": RULESET,
        "scored_at": scored_at,
    }


def save(session, rows, *, cohort=None, batch_id=None, actor=ACTOR) -> None:
    """``rows``: (profile, personal, record) triples."""
    profiles, personal, records = (list(column) for column in zip(*rows, strict=True))
    store.save_scored(
        session,
        profiles=profiles,
        personal=personal,
        records=records,
        cohort=cohort,
        batch_id=batch_id,
        actor=actor,
    )


def save_one(session, sme_id, score, *, cohort=None, batch_id=None, **record_options) -> None:
    row = (profile(sme_id), person(), record(sme_id, score, **record_options))
    save(session, [row], cohort=cohort, batch_id=batch_id)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# --- API keys ----------------------------------------------------------------------------


def test_a_created_key_is_found_by_its_text_with_name_and_scopes(db_session):
    key_id, key = store.create_api_key(db_session, name="Dinas Bandung", scopes=["score", "read"])
    db_session.commit()

    assert re.fullmatch(r"sme_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    assert key.startswith(f"sme_{key_id}_")
    info = store.find_api_key(db_session, key)
    assert (info.key_id, info.name, info.scopes) == (key_id, "Dinas Bandung", ("score", "read"))
    assert info.revoked_at is None and info.active
    assert info.created_at.tzinfo is not None
    assert info.last_used_at >= info.created_at
    assert store.list_api_keys(db_session)[0].last_used_at == info.last_used_at


def test_key_use_is_recorded_without_the_callers_commit_at_most_once_a_minute(
    db_engine, db_session
):
    _, key = store.create_api_key(db_session, name="a", scopes=["read"])
    db_session.commit()

    first = store.find_api_key(db_session, key).last_used_at
    assert store.find_api_key(db_session, key).last_used_at == first  # within the minute
    db_session.rollback()  # a read request ends without committing
    with make_sessionmaker(db_engine)() as other:
        assert store.list_api_keys(other)[0].last_used_at == first

    hour_ago = first - dt.timedelta(hours=1)
    db_session.execute(update(ApiKey).values(last_used_at=hour_ago))
    db_session.commit()
    assert store.find_api_key(db_session, key).last_used_at > first


def test_key_use_on_an_in_memory_database_is_kept_in_the_session():
    engine = make_engine("sqlite://")
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        _, key = store.create_api_key(session, name="a", scopes=["read"])
        session.commit()
        used = store.find_api_key(session, key).last_used_at
        session.commit()
        assert store.list_api_keys(session)[0].last_used_at == used


def test_only_the_sha256_of_the_secret_is_stored(db_session):
    key_id, key = store.create_api_key(db_session, name="ci", scopes=["read"])
    db_session.commit()
    secret = key.removeprefix(f"sme_{key_id}_")

    row = db_session.execute(select(ApiKey.__table__)).one()._asdict()
    assert row["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(row, default=str)


def test_wrong_unknown_malformed_and_revoked_keys_are_not_found(db_session):
    key_id, key = store.create_api_key(db_session, name="a", scopes=["admin"])
    other_id, other = store.create_api_key(db_session, name="b", scopes=["read"])
    db_session.commit()
    other_secret = other.removeprefix(f"sme_{other_id}_")

    for presented in (
        key[:-1] + ("A" if key[-1] != "A" else "B"),  # wrong secret
        f"sme_{key_id}_{other_secret}",  # another key's secret
        f"sme_000000000000_{other_secret}",  # unknown key id
        "",
        "sme_",
        f"sme_{key_id}",
        f"sme_{key_id}_",
        key.removeprefix("sme_"),
        key + "x" * 300,
        "garbage",
    ):
        assert store.find_api_key(db_session, presented) is None, presented

    assert store.revoke_api_key(db_session, key_id) is True
    db_session.commit()
    assert store.find_api_key(db_session, key) is None
    assert store.find_api_key(db_session, other).key_id == other_id


def test_revoking_an_unknown_or_revoked_key_is_false(db_session):
    key_id, _ = store.create_api_key(db_session, name="a", scopes=["read"])
    assert store.revoke_api_key(db_session, key_id) is True
    assert store.revoke_api_key(db_session, key_id) is False
    assert store.revoke_api_key(db_session, "nope") is False


def test_list_api_keys_is_oldest_first_without_secrets(db_session):
    first, key1 = store.create_api_key(db_session, name="first", scopes=["read"])
    db_session.commit()
    second, key2 = store.create_api_key(db_session, name="second", scopes=["score", "score"])
    store.revoke_api_key(db_session, second)
    db_session.commit()

    infos = store.list_api_keys(db_session)
    assert [(i.key_id, i.name, i.scopes, i.active) for i in infos] == [
        (first, "first", ("read",), True),
        (second, "second", ("score",), False),
    ]
    assert set(vars(infos[0])) == {
        "key_id",
        "name",
        "scopes",
        "created_at",
        "revoked_at",
        "last_used_at",
    }
    assert key1 not in repr(infos) and key2 not in repr(infos)


@pytest.mark.parametrize(
    ("name", "scopes"), [("x", []), ("x", ["read", "write"]), ("  ", ["read"])]
)
def test_create_api_key_refuses_bad_names_and_scopes(db_session, name, scopes):
    with pytest.raises(ValueError):
        store.create_api_key(db_session, name=name, scopes=scopes)


# --- profiles and scores -------------------------------------------------------------------


def test_saved_sme_reads_back_with_personal_fields_cohorts_and_latest_score(db_session):
    given = person(owner_name="Siti Rahma", contact_phone="+62 812 1111", owner_gender="female")
    save(db_session, [(profile("A-1"), given, record("A-1", 71.4))], cohort="bandung-2026")
    db_session.commit()

    sme = store.get_sme(db_session, "A-1")
    assert sme == {
        "sme_id": "A-1",
        "profile": {**profile("A-1"), **given},
        "cohorts": ["bandung-2026"],
        "latest_score": record("A-1", 71.4),
    }
    assert list(sme["profile"]) == list(F.ALL_COLUMNS)


def test_personal_fields_are_kept_apart_from_profiles_and_scores(db_session):
    given = person(owner_name="Siti Rahma", contact_email="siti@example.id", district="Coblong")
    # personal fields inside the profile dict are moved out of it as well
    with_personal = {**profile("A-1"), "contact_phone": "+62 812 2222"}
    save(db_session, [(with_personal, given, record("A-1", 50.0))])
    db_session.commit()

    stored_profile = db_session.scalar(select(Sme.profile))
    assert list(stored_profile) == list(F.PROFILE_COLUMNS)
    personal = db_session.execute(select(PersonalData.__table__)).one()._asdict()
    assert personal == {**given, "sme_id": "A-1", "contact_phone": "+62 812 2222"}
    score_row = json.dumps(db_session.execute(select(Score.__table__)).one()._asdict(), default=str)
    for value in ("Siti Rahma", "siti@example.id", "Coblong", "+62 812 2222"):
        assert value not in score_row


def test_scoring_again_updates_the_profile_and_keeps_the_history(db_session):
    save(db_session, [(profile("A-1"), person(owner_name="Old"), record("A-1", 40.0))])
    db_session.commit()
    renamed = profile("A-1", name="Usaha Baru", sector="textile")
    later = record("A-1", 55.5, tier="near_ready", scored_at="2026-11-02T09:30:00Z")
    save(db_session, [(renamed, person(owner_name="New"), later)], cohort="c2")
    db_session.commit()

    sme = store.get_sme(db_session, "A-1")
    assert sme["profile"]["name"] == "Usaha Baru"
    assert sme["profile"]["sector"] == "textile"
    assert sme["profile"]["owner_name"] == "New"
    assert sme["latest_score"] == later
    assert store.score_history(db_session, "A-1") == [record("A-1", 40.0), later]
    assert count(db_session, Sme) == 1
    assert count(db_session, PersonalData) == 1


def test_unknown_sme_has_no_profile_and_no_history(db_session):
    assert store.get_sme(db_session, "NOPE") is None
    assert store.score_history(db_session, "NOPE") is None


def test_save_scored_of_nothing_stores_nothing(db_session):
    store.save_scored(
        db_session, profiles=[], personal=[], records=[], cohort="c", batch_id=None, actor=ACTOR
    )
    db_session.commit()
    assert count(db_session, Sme) == 0
    assert store.audit_events(db_session) == []


def test_save_scored_refuses_misaligned_lists(db_session):
    with pytest.raises(ValueError, match="same length"):
        store.save_scored(
            db_session,
            profiles=[profile("A-1")],
            personal=[],
            records=[record("A-1", 1.0)],
            cohort=None,
            batch_id=None,
            actor=ACTOR,
        )
    with pytest.raises(ValueError, match="stands beside"):
        save(db_session, [(profile("A-1"), person(), record("A-2", 1.0))])


def test_save_scored_audits_without_personal_data(db_session):
    save(db_session, [(profile("A-1"), person(owner_name="Siti"), record("A-1", 1.0))])
    db_session.commit()
    event = store.audit_events(db_session)[0]
    assert {k: event[k] for k in ("actor", "action", "subject", "details")} == {
        "actor": ACTOR,
        "action": "score",
        "subject": "A-1",
        "details": {"count": 1, "cohort": None, "batch_id": None},
    }


def test_records_from_the_real_scorer_round_trip(db_session, scorer):
    frame = random_profiles(3, seed=11)
    records = scorer.score(frame).to_records()
    profiles = profiles_to_records(frame)
    save(db_session, zip(profiles, [person()] * 3, records, strict=True))
    db_session.commit()

    for given_profile, given_record in zip(profiles, records, strict=True):
        sme = store.get_sme(db_session, given_profile["sme_id"])
        assert sme["latest_score"] == given_record
        assert sme["profile"] == {**given_profile, **person()}


def tier_changes(session) -> list[tuple[str, str, str]]:
    """``(sme_id, previous_tier, tier)`` of every ``tier.changed`` event, in insert order."""
    rows = session.scalars(
        select(Event.payload).where(Event.type == "tier.changed").order_by(Event.id)
    )
    return [(p["sme_id"], p["previous_tier"], p["tier"]) for p in rows]


def test_a_tier_change_is_told_against_the_smes_latest_score_one_sme_or_many(db_session):
    """The previous tier is read for one SME alone (a score through the API) and for many
    at once (a batch): the same events either way."""
    save_one(db_session, "T-1", 80.0, tier="ready")  # first score: nothing to compare
    save_one(db_session, "T-1", 81.0, tier="ready")  # same tier
    save_one(db_session, "T-1", 50.0, tier="near_ready")
    assert tier_changes(db_session) == [("T-1", "ready", "near_ready")]

    save_one(db_session, "T-2", 20.0, tier="not_ready")
    batch = [
        (profile("T-1"), person(), record("T-1", 85.0, tier="ready")),
        (profile("T-2"), person(), record("T-2", 25.0, tier="not_ready")),
        (profile("T-3"), person(), record("T-3", 60.0, tier="near_ready")),
    ]
    save(db_session, batch)
    db_session.commit()
    assert tier_changes(db_session) == [
        ("T-1", "ready", "near_ready"),
        ("T-1", "near_ready", "ready"),
    ]


# --- lists ---------------------------------------------------------------------------------


@pytest.fixture
def four_smes(db_session):
    """A-1 apparel ready (c1); A-2 textile near_ready (c1, c2); A-3 apparel not_ready;
    A-4 apparel, ready then near_ready."""
    save(db_session, [(profile("A-1"), person(), record("A-1", 80.0, tier="ready"))], cohort="c1")
    save(
        db_session,
        [(profile("A-2", sector="textile"), person(), record("A-2", 60.0))],
        cohort="c2",
    )
    save(
        db_session, [(profile("A-2", sector="textile"), person(), record("A-2", 61.0))], cohort="c1"
    )
    save(db_session, [(profile("A-3"), person(), record("A-3", 20.0, tier="not_ready"))])
    save(db_session, [(profile("A-4"), person(), record("A-4", 90.0, tier="ready"))])
    later = "2026-11-05T08:00:00Z"
    save(db_session, [(profile("A-4"), person(), record("A-4", 65.0, scored_at=later))])
    db_session.commit()


def summary(score, tier, scored_at="2026-11-01T10:00:00Z") -> dict:
    return {
        "score": score,
        "tier": tier,
        "rules_score": round(score - 2, 1),
        "ml_probability": 0.5,
        "model_version": MODEL,
        "ruleset_version": RULESET,
        "scored_at": scored_at,
    }


def test_list_smes_pages_in_sme_id_order_with_latest_scores(db_session, four_smes):
    items, total = store.list_smes(db_session)
    assert total == 4
    assert items == [
        {
            "sme_id": "A-1",
            "name": "Usaha A-1",
            "sector": "apparel",
            "cohorts": ["c1"],
            "latest_score": summary(80.0, "ready"),
        },
        {
            "sme_id": "A-2",
            "name": "Usaha A-2",
            "sector": "textile",
            "cohorts": ["c1", "c2"],
            "latest_score": summary(61.0, "near_ready"),
        },
        {
            "sme_id": "A-3",
            "name": "Usaha A-3",
            "sector": "apparel",
            "cohorts": [],
            "latest_score": summary(20.0, "not_ready"),
        },
        {
            "sme_id": "A-4",
            "name": "Usaha A-4",
            "sector": "apparel",
            "cohorts": [],
            "latest_score": summary(65.0, "near_ready", "2026-11-05T08:00:00Z"),
        },
    ]
    page2, total = store.list_smes(db_session, page=2, per_page=3)
    assert ([i["sme_id"] for i in page2], total) == (["A-4"], 4)
    assert store.list_smes(db_session, page=3, per_page=3) == ([], 4)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"sector": "apparel"}, ["A-1", "A-3", "A-4"]),
        ({"tier": "ready"}, ["A-1"]),  # A-4's latest score is near_ready
        ({"tier": "near_ready"}, ["A-2", "A-4"]),
        ({"cohort": "c1"}, ["A-1", "A-2"]),
        ({"cohort": "c2", "tier": "near_ready"}, ["A-2"]),
        ({"sector": "apparel", "tier": "near_ready"}, ["A-4"]),
        ({"cohort": "unknown"}, []),
    ],
)
def test_list_smes_filters(db_session, four_smes, filters, expected):
    items, total = store.list_smes(db_session, **filters)
    assert ([i["sme_id"] for i in items], total) == (expected, len(expected))


def test_list_smes_refuses_pages_below_one(db_session):
    with pytest.raises(ValueError):
        store.list_smes(db_session, page=0)
    with pytest.raises(ValueError):
        store.list_smes(db_session, per_page=0)


def test_cohort_members_are_sorted(db_session, four_smes):
    assert store.cohort_members(db_session, "c1") == ["A-1", "A-2"]
    assert store.cohort_members(db_session, "c2") == ["A-2"]
    assert store.cohort_members(db_session, "nobody") == []


def test_latest_scores_are_the_last_stored_records(db_session, four_smes):
    latest = store.latest_scores(db_session, ["A-4", "A-2", "UNKNOWN", "A-2"])
    assert latest == {
        "A-2": record("A-2", 61.0),
        "A-4": record("A-4", 65.0, scored_at="2026-11-05T08:00:00Z"),
    }
    assert store.latest_scores(db_session, []) == {}


def test_latest_scores_handles_more_ids_than_one_query_takes(db_session):
    ids = [f"S-{i:05d}" for i in range(1100)]
    save(db_session, [(profile(i), person(), record(i, 50.0)) for i in ids])
    db_session.commit()
    latest = store.latest_scores(db_session, [*ids, "UNKNOWN"])
    assert sorted(latest) == ids


def test_latest_scores_before_a_batch_ignore_it_and_what_came_after(db_session):
    save_one(db_session, "A-1", 60.0)
    batch_id = store.create_batch(db_session, cohort=None, filename=None, actor=ACTOR)
    db_session.commit()
    # nothing of the running batch stored yet: everything so far counts as before it
    assert store.latest_scores(db_session, ["A-1"], before_batch=batch_id)["A-1"]["score"] == 60.0
    save_one(db_session, "A-1", 70.0, batch_id=batch_id)
    store.finish_batch(db_session, batch_id, received=1, scored=1, rejected=0, row_errors=[])
    db_session.commit()
    save_one(db_session, "A-1", 80.0)
    db_session.commit()

    assert store.latest_scores(db_session, ["A-1"])["A-1"]["score"] == 80.0
    assert store.latest_scores(db_session, ["A-1"], before_batch=batch_id) == {
        "A-1": record("A-1", 60.0)
    }


# --- batches -------------------------------------------------------------------------------


def test_a_new_batch_is_running_and_empty(db_session):
    batch_id = store.create_batch(db_session, cohort="c1", filename="smes.csv", actor=ACTOR)
    db_session.commit()

    batch = store.get_batch(db_session, batch_id)
    assert ISO_UTC.match(batch.pop("created_at"))
    assert batch == {
        "batch_id": batch_id,
        "status": "running",
        "cohort": "c1",
        "filename": "smes.csv",
        "received": 0,
        "scored": 0,
        "rejected": 0,
        "row_errors": [],
        "skipped": [],
        "notices": [],
        "finished_at": None,
        "failure_reason": None,
        "progress": {"rows_done": 0, "rows_total": None},
    }
    assert store.batch_results(db_session, batch_id) is None


def test_a_finished_batch_has_counts_errors_and_results_with_changes(db_session):
    save_one(db_session, "A-1", 68.2)
    db_session.commit()
    batch_id = store.create_batch(db_session, cohort="c1", filename="f.xlsx", actor=ACTOR)
    db_session.commit()
    errors = [{"row": 3, "sme_id": "A-9", "errors": [{"field": "employees", "message": "bad"}]}]
    save(
        db_session,
        [
            (profile("A-1"), person(), record("A-1", 71.4)),
            (profile("A-2"), person(), record("A-2", 50.0)),
        ],
        cohort="c1",
        batch_id=batch_id,
    )
    store.finish_batch(db_session, batch_id, received=3, scored=2, rejected=1, row_errors=errors)
    db_session.commit()

    batch = store.get_batch(db_session, batch_id)
    assert (batch["status"], batch["received"], batch["scored"], batch["rejected"]) == (
        "complete",
        3,
        2,
        1,
    )
    assert batch["row_errors"] == errors
    assert batch["progress"] == {"rows_done": 3, "rows_total": 3}
    assert ISO_UTC.match(batch["finished_at"])
    assert store.batch_results(db_session, batch_id) == [
        {**record("A-1", 71.4), "previous_score": 68.2, "change": 3.2},
        {**record("A-2", 50.0), "previous_score": None, "change": None},
    ]
    assert store.cohort_members(db_session, "c1") == ["A-1", "A-2"]


def test_batch_results_keep_their_previous_scores_after_later_batches(db_session):
    save_one(db_session, "A-1", 50.0)
    first = store.create_batch(db_session, cohort=None, filename=None, actor=ACTOR)
    save_one(db_session, "A-1", 55.0, batch_id=first)
    store.finish_batch(db_session, first, received=1, scored=1, rejected=0, row_errors=[])
    second = store.create_batch(db_session, cohort=None, filename=None, actor=ACTOR)
    save_one(db_session, "A-1", 52.5, batch_id=second)
    store.finish_batch(db_session, second, received=1, scored=1, rejected=0, row_errors=[])
    db_session.commit()

    [result] = store.batch_results(db_session, first)
    assert (result["score"], result["previous_score"], result["change"]) == (55.0, 50.0, 5.0)
    [result] = store.batch_results(db_session, second)
    assert (result["score"], result["previous_score"], result["change"]) == (52.5, 55.0, -2.5)


def test_batch_results_are_hidden_until_the_batch_is_complete(db_session):
    batch_id = store.create_batch(db_session, cohort=None, filename=None, actor=ACTOR)
    save_one(db_session, "A-1", 50.0, batch_id=batch_id)
    db_session.commit()
    assert store.batch_results(db_session, batch_id) is None
    store.finish_batch(db_session, batch_id, received=1, scored=1, rejected=0, row_errors=[])
    db_session.commit()
    assert [r["sme_id"] for r in store.batch_results(db_session, batch_id)] == ["A-1"]


def test_a_batch_that_fails_midway_leaves_no_scores(db_session):
    """The web layer's protocol: create + commit; save + finish in one transaction."""
    batch_id = store.create_batch(db_session, cohort="c1", filename="f.csv", actor=ACTOR)
    db_session.commit()
    save_one(db_session, "A-1", 50.0, batch_id=batch_id, cohort="c1")
    db_session.rollback()  # scoring or storing failed before finish_batch
    store.fail_batch(db_session, batch_id, reason="the scorer broke")
    db_session.commit()

    batch = store.get_batch(db_session, batch_id)
    assert (batch["status"], batch["failure_reason"], batch["scored"]) == (
        "failed",
        "the scorer broke",
        0,
    )
    assert ISO_UTC.match(batch["finished_at"])
    assert store.batch_results(db_session, batch_id) is None
    assert (count(db_session, Score), count(db_session, Sme)) == (0, 0)
    assert store.cohort_members(db_session, "c1") == []


def test_finish_batch_checks_its_counts_and_state(db_session):
    batch_id = store.create_batch(db_session, cohort=None, filename=None, actor=ACTOR)
    with pytest.raises(ValueError, match="received"):
        store.finish_batch(db_session, batch_id, received=3, scored=1, rejected=1, row_errors=[])
    store.finish_batch(db_session, batch_id, received=0, scored=0, rejected=0, row_errors=[])
    with pytest.raises(ValueError, match="complete"):
        store.finish_batch(db_session, batch_id, received=0, scored=0, rejected=0, row_errors=[])
    with pytest.raises(ValueError, match="complete"):
        store.fail_batch(db_session, batch_id, reason="late")
    with pytest.raises(ValueError, match="complete"):
        save_one(db_session, "A-1", 50.0, batch_id=batch_id)
    with pytest.raises(LookupError):
        store.finish_batch(db_session, 999, received=0, scored=0, rejected=0, row_errors=[])
    with pytest.raises(LookupError):
        store.fail_batch(db_session, 999, reason="x")
    with pytest.raises(LookupError):
        save_one(db_session, "A-1", 50.0, batch_id=999)


def test_unknown_batch_has_no_status_and_no_results(db_session):
    assert store.get_batch(db_session, 42) is None
    assert store.batch_results(db_session, 42) is None


def test_batch_lifecycle_is_audited_with_its_actor(db_session):
    batch_id = store.create_batch(db_session, cohort="c1", filename="f.csv", actor="key:abc")
    store.finish_batch(db_session, batch_id, received=2, scored=0, rejected=2, row_errors=[])
    failed = store.create_batch(db_session, cohort=None, filename=None, actor="key:def")
    store.fail_batch(db_session, failed, reason="secret reason")
    db_session.commit()

    events = [
        (e["actor"], e["action"], e["subject"], e["details"])
        for e in store.audit_events(db_session)
    ]
    assert events == [
        ("key:def", "batch.failed", f"batch/{failed}", None),
        ("key:def", "batch.created", f"batch/{failed}", {"cohort": None}),
        (
            "key:abc",
            "batch.completed",
            f"batch/{batch_id}",
            {"received": 2, "scored": 0, "rejected": 2},
        ),
        ("key:abc", "batch.created", f"batch/{batch_id}", {"cohort": "c1"}),
    ]


# --- erasure -------------------------------------------------------------------------------

WULAN = {
    "name": "Kopi Sinar Pagi Bu Wulan",
    "owner_name": "Wulandari Pratiwi",
    "contact_phone": "+62 811 2233 4455",
    "contact_email": "wulan.pratiwi@example.id",
}


def _everything(session) -> dict[str, str]:
    """Every table's rows, as text."""
    return {
        table.name: json.dumps(
            [row._asdict() for row in session.execute(select(table))], default=str
        )
        for table in Base.metadata.sorted_tables
    }


def test_erasure_leaves_no_personal_data_in_any_table(db_session):
    wulan = profile("W-1", name=WULAN["name"], sector="food_beverage")
    personal = person(
        owner_name=WULAN["owner_name"],
        contact_phone=WULAN["contact_phone"],
        contact_email=WULAN["contact_email"],
        owner_gender="female",
        district="Coblong",
    )
    save(db_session, [(wulan, personal, record("W-1", 40.0))], cohort="c1")
    save_one(db_session, "A-1", 70.0, cohort="c1")
    batch_id = store.create_batch(db_session, cohort="c1", filename="f.csv", actor=ACTOR)
    save(db_session, [(wulan, personal, record("W-1", 45.0))], cohort="c1", batch_id=batch_id)
    rejected = {
        "row": 3,
        "sme_id": "W-1",
        "errors": [{"field": "owner_gender", "message": "Unknown value 'perempuan'."}],
    }
    other = {"row": 4, "sme_id": "A-2", "errors": [{"field": "employees", "message": "bad"}]}
    store.finish_batch(
        db_session, batch_id, received=3, scored=1, rejected=2, row_errors=[rejected, other]
    )
    db_session.commit()
    before = _everything(db_session)
    assert all(any(v in text for text in before.values()) for v in WULAN.values())

    assert store.erase_sme(db_session, "W-1", actor="key:officer") is True
    db_session.commit()

    after = _everything(db_session)
    for value in (*WULAN.values(), "perempuan", "Coblong"):
        assert not [name for name, text in after.items() if value in text], value
    # The sme_id stays in the processing log and in the events, each left with it alone.
    assert [name for name, text in after.items() if "W-1" in text] == ["audit_events", "events"]
    left = [e["data"] for e in store.read_events(db_session)[0] if "W-1" in str(e)]
    assert left[-1] == {"version": 1, "sme_id": "W-1"}  # sme.erased
    assert left[:-1] == [{"version": 1, "sme_id": "W-1", "erased": True}] * 2  # its scores
    assert store.get_sme(db_session, "W-1") is None
    assert store.score_history(db_session, "W-1") is None
    assert store.cohort_members(db_session, "c1") == ["A-1"]
    assert store.get_batch(db_session, batch_id)["row_errors"] == [
        {"row": 3, "sme_id": None, "errors": [{"field": "owner_gender", "message": "(erased)"}]},
        other,
    ]
    assert store.get_sme(db_session, "A-1")["latest_score"] == record("A-1", 70.0)


def test_the_erasure_audit_event_holds_only_the_sme_id_and_the_actor(db_session):
    save_one(db_session, "W-1", 40.0)
    store.erase_sme(db_session, "W-1", actor="key:officer")
    db_session.commit()
    event = store.audit_events(db_session, limit=1)[0]
    assert ISO_UTC.match(event.pop("at"))
    event.pop("id")
    assert event == {
        "actor": "key:officer",
        "action": "erase",
        "subject": "W-1",
        "details": None,
    }


def test_erased_scores_survive_as_anonymous_aggregates(db_session):
    save_one(db_session, "W-1", 40.0, scored_at="2026-11-01T08:00:00Z")
    save_one(db_session, "W-1", 45.5, scored_at="2026-11-01T23:59:59Z")
    save_one(db_session, "W-1", 60.0, scored_at="2026-11-02T00:00:00Z", tier="ready")
    save_one(db_session, "W-2", 30.0, scored_at="2026-11-01T12:00:00Z")
    save_one(db_session, "A-1", 99.0)
    db_session.commit()

    assert store.erase_sme(db_session, "W-1", actor="x")
    assert store.erase_sme(db_session, "W-2", actor="x")
    db_session.commit()

    rows = db_session.execute(
        select(
            ScoreAggregate.day,
            ScoreAggregate.sector,
            ScoreAggregate.tier,
            ScoreAggregate.model_version,
            ScoreAggregate.ruleset_version,
            ScoreAggregate.count,
            ScoreAggregate.score_sum,
        ).order_by(ScoreAggregate.day)
    ).all()
    assert [tuple(row) for row in rows] == [
        (dt.date(2026, 11, 1), "apparel", "near_ready", MODEL, RULESET, 3, 115.5),
        (dt.date(2026, 11, 2), "apparel", "ready", MODEL, RULESET, 1, 60.0),
    ]
    assert count(db_session, Score) == 1


def test_erasing_an_unknown_sme_is_false_and_not_audited(db_session):
    assert store.erase_sme(db_session, "NOPE", actor="x") is False
    db_session.commit()
    assert store.audit_events(db_session) == []


def test_an_sme_known_only_from_row_errors_can_be_erased(db_session):
    batch_id = store.create_batch(db_session, cohort=None, filename=None, actor=ACTOR)
    error = {"row": 2, "sme_id": "R-1", "errors": [{"field": "sector", "message": "x 'y'"}]}
    store.finish_batch(db_session, batch_id, received=1, scored=0, rejected=1, row_errors=[error])
    db_session.commit()

    assert store.erase_sme(db_session, "R-1", actor="x") is True
    db_session.commit()
    assert store.get_batch(db_session, batch_id)["row_errors"] == [
        {"row": 2, "sme_id": None, "errors": [{"field": "sector", "message": "(erased)"}]}
    ]


# --- audit ---------------------------------------------------------------------------------


def test_audit_events_are_newest_first_and_limited(db_session):
    for i in range(5):
        store.audit(db_session, actor="a", action=f"act.{i}", subject=None, details={"i": i})
    db_session.commit()
    events = store.audit_events(db_session, limit=2)
    assert [(e["action"], e["details"]) for e in events] == [
        ("act.4", {"i": 4}),
        ("act.3", {"i": 3}),
    ]
    assert len(store.audit_events(db_session)) == 5


def test_audit_events_cannot_be_changed_or_deleted(db_session):
    store.audit(db_session, actor="a", action="x", subject="s")
    db_session.commit()
    event = db_session.scalar(select(AuditEvent))
    event.actor = "someone else"
    with pytest.raises(AppendOnlyError):
        db_session.flush()
    db_session.rollback()
    db_session.delete(db_session.scalar(select(AuditEvent)))
    with pytest.raises(AppendOnlyError):
        db_session.flush()


# --- sector averages ------------------------------------------------------------------------


def test_sector_averages_take_each_smes_latest_category_scores_only(db_session):
    def categories(sme_id, score, values):
        return (profile(sme_id), person(), {**record(sme_id, score), "category_scores": values})

    save(db_session, [categories("A-1", 50, {"legal": 100.0, "product": None})])
    save(db_session, [categories("A-1", 60, {"legal": 40.0, "product": 20.0})])  # latest
    save(db_session, [categories("A-2", 70, {"legal": 70.0, "product": None})])
    other = (profile("F-1", sector="furniture"), person(), record("F-1", 90))
    save(db_session, [other])

    assert store.sector_category_averages(db_session, "apparel") == (
        {"legal": 55.0, "product": 20.0},
        2,
    )
    assert store.sector_category_averages(db_session, "food") == ({}, 0)
