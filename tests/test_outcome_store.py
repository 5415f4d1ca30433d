"""Decisions and follow-ups in the database (SQLite and PostgreSQL): the score a decision
rested on, labels, repeats, the worklist, erasure into aggregates and subject access."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from api import store
from api.tables import AuditEvent, ExportFollowUp, SupportDecision
from scoring.contract import fields as F

pytest_plugins = ["db_fixtures"]


def profile(sme_id: str, **changes) -> dict:
    return {
        "sme_id": sme_id,
        "name": f"CV {sme_id}",
        **{c: None for c in F.PROFILE_COLUMNS if c not in ("sme_id", "name")},
        "sector": "furniture_wood",
        "employees": 12,
        **changes,
    }


def scored(session, sme_id: str, score: float, *, tier="developing", p=0.2, **changes) -> None:
    store.save_scored(
        session,
        profiles=[profile(sme_id, **changes)],
        personal=[{"owner_name": f"Owner of {sme_id}"}],
        records=[
            {
                "sme_id": sme_id,
                "score": score,
                "tier": tier,
                "rules_score": score,
                "ml_probability": p,
                "model_version": "m1",
                "ruleset_version": "r1",
                "scored_at": "2026-01-05T03:00:00Z",
            }
        ],
        cohort="go-export-2025",
        batch_id=None,
        actor="key:test",
    )


def support(sme_id: str, on: dt.date, kind: str = "trade_fair", **more) -> dict:
    return {"sme_id": sme_id, "decision": "support", "support_kind": kind, "decided_on": on, **more}


def followup(sme_id: str, on: dt.date, exported: bool, **more) -> dict:
    return {
        "sme_id": sme_id,
        "followup_date": on,
        "exported": exported,
        "learned_via": "phone_call",
        **more,
    }


def test_a_decision_keeps_the_score_it_rested_on(db_session):
    scored(db_session, "A-1", 61.5, tier="near_ready", p=0.31, employees=12)
    [decision] = store.record_decisions(
        db_session,
        [
            support(
                "A-1",
                dt.date(2025, 6, 16),
                target_market="JP",
                shortlist={"cohort": "go-export-2025", "capacity": 25, "position": 3},
            )
        ],
        actor="web:lead",
    )
    # Scored again later: the decision still shows what the office saw then.
    scored(db_session, "A-1", 80.0, tier="ready", p=0.6, employees=40)
    stored = store.get_decision(db_session, decision["id"])
    assert {k: stored[k] for k in ("score", "tier", "ml_probability", "model_version")} == {
        "score": 61.5,
        "tier": "near_ready",
        "ml_probability": 0.31,
        "model_version": "m1",
    }
    assert stored["decided_by"] == "web:lead"  # nobody named: the one who recorded it
    assert stored["shortlist"] == {"cohort": "go-export-2025", "capacity": 25, "position": 3}
    assert (stored["exported_within_12m"], stored["label_basis"]) == (None, "no_followup")
    row = db_session.get(SupportDecision, decision["id"])
    assert row.profile["employees"] == 12
    assert not set(F.PERSONAL_COLUMNS) & set(row.profile)


def test_decisions_about_unscored_smes_are_refused_all_together(db_session):
    scored(db_session, "A-1", 50.0)
    with pytest.raises(store.UnscoredError) as caught:
        store.record_decisions(
            db_session,
            [support("A-1", dt.date(2025, 6, 16)), support("NOPE", dt.date(2025, 6, 16))],
            actor="cli",
        )
    assert caught.value.sme_ids == ["NOPE"]
    assert db_session.scalars(select(SupportDecision)).all() == []


def test_labels_follow_the_follow_ups(db_session):
    scored(db_session, "A-1", 50.0)
    scored(db_session, "B-2", 40.0)
    on = dt.date(2025, 1, 1)
    store.record_decisions(db_session, [support("A-1", on), support("B-2", on)], actor="cli")
    store.record_followups(
        db_session,
        [
            followup("A-1", dt.date(2026, 2, 1), True, first_export_date=dt.date(2025, 12, 31)),
            followup("B-2", dt.date(2025, 7, 1), False),
        ],
        actor="cli",
    )
    items, total = store.list_decisions(db_session, store.DecisionFilter())
    labels = {i["sme_id"]: (i["exported_within_12m"], i["label_basis"]) for i in items}
    assert total == 2
    assert labels == {"A-1": (1, "exported_in_window"), "B-2": (None, "window_open")}
    store.record_followups(db_session, [followup("B-2", dt.date(2026, 1, 1), False)], actor="cli")
    rows = store.labelled_decisions(db_session, store.DecisionFilter(sme_id="B-2"))
    assert [r["label"] for r in rows] == [0]


def test_an_identical_follow_up_is_not_stored_twice(db_session):
    scored(db_session, "A-1", 50.0)
    first = followup("A-1", dt.date(2025, 7, 1), True, destination_markets=["JP"], contracts=2)
    stored, repeated = store.record_followups(db_session, [first], actor="cli")
    assert (len(stored), repeated) == (1, 0)
    assert stored[0]["destination_markets"] == ["JP"] and stored[0]["contracts"] == 2
    changed = {**first, "contracts": 3}
    stored, repeated = store.record_followups(db_session, [first, changed], actor="cli")
    assert (len(stored), repeated) == (1, 1)
    assert len(store.followups_of(db_session, "A-1")) == 2
    with pytest.raises(LookupError, match="NOPE"):
        store.record_followups(
            db_session, [followup("NOPE", dt.date(2025, 7, 1), False)], actor="x"
        )


def test_changes_are_in_the_processing_log_without_free_text(db_session):
    scored(db_session, "A-1", 50.0)
    [decision] = store.record_decisions(
        db_session,
        [
            {
                "sme_id": "A-1",
                "decision": "no_support",
                "reason": "Bu Wulan asked to wait",
                "decided_on": dt.date(2025, 6, 1),
            }
        ],
        actor="web:lead",
    )
    [item], _ = store.record_followups(
        db_session,
        [followup("A-1", dt.date(2025, 9, 1), False, note="Pak Budi said no")],
        actor="web:o",
    )
    store.update_decision(db_session, decision["id"], {"reason": "waiting list"}, actor="web:lead")
    store.update_followup(
        db_session, item["id"], {**followup("A-1", dt.date(2025, 9, 2), False)}, actor="web:o"
    )
    assert store.delete_followup(db_session, item["id"], actor="web:o") is True
    assert store.delete_decision(db_session, decision["id"], actor="web:lead") is True
    assert store.delete_decision(db_session, decision["id"], actor="web:lead") is False
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.subject == "A-1").order_by(AuditEvent.id)
    ).all()
    actions = [e.action for e in events if e.action.startswith(("decision", "followup"))]
    assert actions == [
        "decision.record",
        "followup.record",
        "decision.update",
        "followup.update",
        "followup.delete",
        "decision.delete",
    ]
    text = repr([e.details for e in events])
    assert "Wulan" not in text and "Budi" not in text and "waiting" not in text


def test_the_worklist_names_supported_smes_due_a_follow_up(db_session):
    for sme_id in ("A-1", "B-2", "C-3", "D-4", "E-5"):
        scored(db_session, sme_id, 50.0)
    today = dt.date(2026, 12, 3)
    store.record_decisions(
        db_session,
        [
            support("A-1", dt.date(2026, 8, 31)),  # 3 months passed on 30 Nov: due
            support("B-2", dt.date(2026, 9, 10)),  # 3 months not yet passed
            support("C-3", dt.date(2025, 11, 1)),  # 12 months passed, followed up at 6 only
            support("D-4", dt.date(2026, 5, 1)),  # 6 months passed, followed up after that
            {
                "sme_id": "E-5",
                "decision": "no_support",
                "reason": "r",
                "decided_on": dt.date(2025, 1, 1),
            },
        ],
        actor="cli",
    )
    store.record_followups(
        db_session,
        [followup("C-3", dt.date(2026, 5, 2), False), followup("D-4", dt.date(2026, 11, 2), False)],
        actor="cli",
    )
    due = store.followup_worklist(db_session, today=today)
    assert [
        (d["sme_id"], d["months"], d["due_on"], d["days_overdue"], d["last_followup_date"])
        for d in due
    ] == [
        ("C-3", 12, "2026-11-01", 32, "2026-05-02"),
        ("A-1", 3, "2026-11-30", 3, None),
    ]
    assert due[0]["name"] == "CV C-3"


def test_add_months_keeps_the_day_or_takes_the_months_last():
    assert store.add_months(dt.date(2026, 8, 31), 3) == dt.date(2026, 11, 30)
    assert store.add_months(dt.date(2027, 11, 30), 3) == dt.date(2028, 2, 29)
    assert store.add_months(dt.date(2026, 1, 15), 12) == dt.date(2027, 1, 15)


def test_erasure_leaves_only_anonymous_counts(db_session):
    scored(db_session, "A-1", 50.0, tier="developing")
    scored(db_session, "B-2", 70.0, tier="near_ready")
    on = dt.date(2025, 3, 10)
    store.record_decisions(db_session, [support("A-1", on), support("B-2", on)], actor="cli")
    store.record_followups(
        db_session,
        [
            followup("A-1", dt.date(2026, 4, 1), False, note="call Ibu Sari"),
            followup("B-2", dt.date(2026, 4, 1), True, first_export_date=dt.date(2025, 12, 1)),
        ],
        actor="cli",
    )
    held = store.subject_access(db_session, "A-1")
    assert [d["sme_id"] for d in held["decisions"]] == ["A-1"]
    assert held["decisions"][0]["exported_within_12m"] == 0
    assert held["decisions"][0]["profile"]["sme_id"] == "A-1"
    assert [f["note"] for f in held["followups"]] == ["call Ibu Sari"]

    assert store.erase_sme(db_session, "A-1", actor="admin") is True
    for table in (SupportDecision, ExportFollowUp):
        assert db_session.scalars(select(table.sme_id)).all() == ["B-2"]
    assert store.outcome_aggregates(db_session) == [
        {
            "month": "2025-03-01",
            "decision": "support",
            "support_kind": "trade_fair",
            "tier": "developing",
            "label": "0",
            "count": 1,
        }
    ]
    store.erase_sme(db_session, "B-2", actor="admin")
    assert [(a["tier"], a["label"]) for a in store.outcome_aggregates(db_session)] == [
        ("developing", "0"),
        ("near_ready", "1"),
    ]
