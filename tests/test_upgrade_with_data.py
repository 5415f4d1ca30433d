"""Upgrades with data, on SQLite and PostgreSQL: a database at each revision, filled with
realistic rows in every table it has, migrated to the newest revision, keeps every row and
every value; new columns get their defaults; and going back down to that revision gives
the same rows again (what each downgrade gives up is in docs/operations.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, insert, select

from api.db import make_engine, sqlite_url
from api.migrate import alembic_config, downgrade, head_revision, upgrade

pytest_plugins = ["db_fixtures"]

AT = dt.datetime(2026, 11, 28, 3, 15, 42, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 28)
RECORD = {
    "sme_id": "BDG-2020-001",
    "score": 71.4,
    "tier": "near_ready",
    "rules_score": 68.0,
    "ml_probability": 0.43,
    "category_scores": {"legal": 100.0, "product": 55.0},
    "knockouts": [],
    "assumed": ["has_website"],
    "model_version": "20261128-e6cd7dbfb4",
    "ruleset_version": "2026.11.2",
    "scored_at": "2026-11-28T03:15:42Z",
}
#: One or two realistic rows per table, with every column of the newest schema; a table or
#: column a revision does not have yet is left out when filling a database at it.
ROWS: dict[str, list[dict]] = {
    "smes": [
        {
            "id": 1,
            "sme_id": "BDG-2020-001",
            "name": "CV Batik Sekar Arum",
            "sector": "apparel",
            "profile": {"sme_id": "BDG-2020-001", "employees": 14, "certifications": ["SNI"]},
            "created_at": AT,
            "updated_at": AT,
        },
        {
            "id": 2,
            "sme_id": "BDG-2020-002",
            "name": "UD Kopi Malabar",
            "sector": "food_beverage",
            "profile": {"sme_id": "BDG-2020-002", "employees": 6, "certifications": []},
            "created_at": AT,
            "updated_at": AT,
        },
    ],
    "personal_data": [
        {
            "sme_id": "BDG-2020-001",
            "owner_gender": "female",
            "owner_name": "Siti Rahayu",
            "contact_phone": "+62 812 2000 0001",
            "contact_email": "siti@example.id",
            "district": "Coblong",
        }
    ],
    "cohort_members": [{"cohort": "Go Export Bandung 2020", "sme_id": "BDG-2020-001"}],
    "batches": [
        {
            "id": 1,
            "status": "complete",
            "cohort": "Go Export Bandung 2020",
            "filename": "kohort 2020.xlsx",
            "received": 3,
            "scored": 2,
            "rejected": 1,
            "row_errors": [
                {
                    "row": 4,
                    "sme_id": "BDG-2020-003",
                    "errors": [{"field": "employees", "message": "Not a valid integer."}],
                }
            ],
            "skipped_rows": [{"row": 6, "reason": "total row"}],
            "actor": "key:a1b2c3d4e5f6",
            "created_at": AT,
            "finished_at": AT,
            "failure_reason": None,
            "rows_done": 3,
            "rows_total": 3,
            "source": None,
            "staging_path": None,
            "lang": "id",
            "attempts": 1,
            "worker": None,
            "lease_expires_at": None,
            "idempotency_key": "upload-7",
            "request_sha256": "c" * 64,
        }
    ],
    "scores": [
        {
            "id": 1,
            "sme_id": "BDG-2020-001",
            "batch_id": 1,
            "sector": "apparel",
            "score": 71.4,
            "tier": "near_ready",
            "rules_score": 68.0,
            "ml_probability": 0.43,
            "model_version": "20261128-e6cd7dbfb4",
            "ruleset_version": "2026.11.2",
            "scored_at": AT,
            "record": RECORD,
            "category_scores": RECORD["category_scores"],
        }
    ],
    "score_aggregates": [
        {
            "day": DAY,
            "sector": "furniture_wood",
            "tier": "developing",
            "model_version": "20261128-e6cd7dbfb4",
            "ruleset_version": "2026.11.2",
            "count": 3,
            "score_sum": 151.5,
        }
    ],
    "api_keys": [
        {
            "id": 1,
            "key_id": "a1b2c3d4e5f6",
            "name": "sistem perizinan",
            "secret_sha256": "d" * 64,
            "scopes": ["score", "read"],
            "created_at": AT,
            "revoked_at": None,
            "last_used_at": AT,
        }
    ],
    "audit_events": [
        {
            "id": 1,
            "at": AT,
            "actor": "key:a1b2c3d4e5f6",
            "action": "score",
            "subject": "BDG-2020-001",
            "details": {"count": 1},
        },
        {
            "id": 2,
            "at": AT,
            "actor": "user:lead1",
            "action": "erase",
            "subject": "BDG-2019-077",
            "details": None,
        },
    ],
    "users": [
        {
            "id": 1,
            "username": "lead1",
            "password_hash": "scrypt:32768:8:1$salt$" + "e" * 64,
            "role": "lead",
            "language": "id",
            "failed_logins": 0,
            "locked_until": None,
            "created_at": AT,
            "disabled_at": None,
            "session_generation": 3,
        }
    ],
    "login_failures": [
        {
            "username": "lead1",
            "address_hmac": "f" * 64,
            "failures": 2,
            "locked_until": None,
            "last_failed_at": AT,
        }
    ],
    "support_decisions": [
        {
            "id": 1,
            "sme_id": "BDG-2020-001",
            "decision": "support",
            "support_kind": "trade_fair",
            "support_other": None,
            "target_market": "JP",
            "decided_on": dt.date(2025, 6, 16),
            "decided_by": "Kepala Bidang",
            "reason": None,
            "shortlist": {"cohort": "Go Export Bandung 2020", "capacity": 25, "position": 3},
            "cohort": "Go Export Bandung 2020",
            "score_id": 1,
            "sector": "apparel",
            "score": 71.4,
            "tier": "near_ready",
            "ml_probability": 0.43,
            "model_version": "20261128-e6cd7dbfb4",
            "ruleset_version": "2026.11.2",
            "scored_at": AT,
            "profile": {"sme_id": "BDG-2020-001", "employees": 14},
            "recorded_by": "user:lead1",
            "recorded_at": AT,
            "updated_at": AT,
        }
    ],
    "export_followups": [
        {
            "id": 1,
            "sme_id": "BDG-2020-001",
            "followup_date": dt.date(2026, 6, 20),
            "exported": True,
            "first_export_date": dt.date(2026, 2, 1),
            "destination_markets": ["JP"],
            "export_value_usd": 12500.5,
            "contracts": 2,
            "learned_via": "customs_peb",
            "note": "PEB diterima",
            "recorded_by": "user:officer1",
            "recorded_at": AT,
            "updated_at": AT,
        }
    ],
    "outcome_aggregates": [
        {
            "month": dt.date(2025, 6, 1),
            "decision": "support",
            "support_kind": "visit",
            "tier": "ready",
            "label": "1",
            "count": 2,
        }
    ],
    "events": [
        {
            "id": 1,
            "type": "score.created",
            "sme_id": "BDG-2020-001",
            "payload": {
                "version": 1,
                "sme_id": "BDG-2020-001",
                "score_id": 1,
                "score": 71.4,
                "tier": "near_ready",
                "rules_score": 68.0,
                "ml_probability": 0.43,
                "model_version": "20261128-e6cd7dbfb4",
                "ruleset_version": "2026.11.2",
                "scored_at": "2026-11-28T03:15:42Z",
                "batch_id": 1,
            },
            "occurred_at": AT,
            "commit_seq": 1,
        },
        {
            "id": 2,
            "type": "sme.erased",
            "sme_id": "BDG-2019-077",
            "payload": {"version": 1, "sme_id": "BDG-2019-077"},
            "occurred_at": AT,
            "commit_seq": 2,
        },
    ],
    "webhook_subscriptions": [
        {
            "id": 1,
            "url": "https://perizinan.example.go.id/hooks/sme-export",
            "description": "Sistem perizinan",
            "types": ["score.created", "sme.erased"],
            "secret": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" + "AAAAAAAAAAA=",
            "active": True,
            "disabled_reason": None,
            "disabled_at": None,
            "consecutive_failures": 0,
            "cursor": 2,
            "created_by": "key:a1b2c3d4e5f6",
            "created_at": AT,
            "updated_at": AT,
        }
    ],
    "webhook_deliveries": [
        {
            "id": 1,
            "subscription_id": 1,
            "event_id": 1,
            "status": "delivered",
            "attempts": 2,
            "next_attempt_at": None,
            "worker": None,
            "lease_expires_at": None,
            "last_attempt_at": AT,
            "status_code": 204,
            "duration_ms": 38,
            "error": None,
            "created_at": AT,
            "delivered_at": AT,
        },
        {
            "id": 2,
            "subscription_id": 1,
            "event_id": 2,
            "status": "pending",
            "attempts": 1,
            "next_attempt_at": AT,
            "worker": None,
            "lease_expires_at": None,
            "last_attempt_at": AT,
            "status_code": 503,
            "duration_ms": 120,
            "error": "HTTP 503",
            "created_at": AT,
            "delivered_at": None,
        },
    ],
    "invitations": [
        {
            "id": 1,
            "token_sha256": "a" * 64,
            "kind": "cohort",
            "sme_id": "BDG-2027-001",
            "cohort": "Go Export Bandung 2027",
            "language": "id",
            "show_result": True,
            "max_uses": 1,
            "uses": 1,
            "expires_at": AT,
            "created_by": "user:officer1",
            "created_at": AT,
            "revoked_at": None,
            "revoked_by": None,
            "purge_after": AT,
        },
        {
            "id": 2,
            "token_sha256": "b" * 64,
            "kind": "sme",
            "sme_id": "BDG-2020-001",
            "cohort": None,
            "language": "en",
            "show_result": False,
            "max_uses": 2,
            "uses": 0,
            "expires_at": AT,
            "created_by": "key:a1b2c3d4e5f6",
            "created_at": AT,
            "revoked_at": AT,
            "revoked_by": "user:lead1",
            "purge_after": AT,
        },
    ],
    "self_assessments": [
        {
            "id": 1,
            "invitation_id": 1,
            "status": "accepted",
            "answers": {"name": "CV Anyaman Ciwidey", "sector": "handicraft", "employees": 4},
            "personal": {"owner_name": "Dewi Lestari", "contact_phone": "+62 813 2000 0002"},
            "language": "id",
            "created_at": AT,
            "saved_at": AT,
            "submitted_at": AT,
            "consent_version": "2026-12-1",
            "consent_sha256": "c" * 64,
            "consent_language": "id",
            "consented_at": AT,
            "reviewed_by": "user:officer1",
            "reviewed_at": AT,
            "reject_reason": None,
            "score_id": 1,
        },
        {
            "id": 2,
            "invitation_id": 2,
            "status": "draft",
            "answers": {"name": "CV Batik Sekar Arum", "employees": "14 orang"},
            "personal": {},
            "language": "en",
            "created_at": AT,
            "saved_at": None,
            "submitted_at": None,
            "consent_version": None,
            "consent_sha256": None,
            "consent_language": None,
            "consented_at": None,
            "reviewed_by": None,
            "reviewed_at": None,
            "reject_reason": None,
            "score_id": None,
        },
    ],
}
#: Columns a revision added, and the value rows stored before it get.
DEFAULTS = {
    ("batches", "skipped_rows"): [],
    ("batches", "rows_done"): 0,
    ("batches", "rows_total"): None,
    ("batches", "source"): None,
    ("batches", "staging_path"): None,
    ("batches", "lang"): None,
    ("batches", "attempts"): 0,
    ("batches", "worker"): None,
    ("batches", "lease_expires_at"): None,
    ("batches", "idempotency_key"): None,
    ("batches", "request_sha256"): None,
    ("users", "session_generation"): 0,
    ("scores", "category_scores"): RECORD["category_scores"],  # copied from the record
}


def revisions() -> list[str]:
    scripts = ScriptDirectory.from_config(alembic_config())
    return [s.revision for s in reversed(list(scripts.walk_revisions()))]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path, postgres_database):
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "upgrade.sqlite")
        return
    with postgres_database("sme_upgrade") as url:
        yield url.render_as_string(hide_password=False)


def fill(url: str) -> dict[str, list[dict]]:
    """Insert ``ROWS`` into the tables the database has (columns it has); what was written."""
    engine = make_engine(url)
    written = {}
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.begin() as connection:
            for name, rows in ROWS.items():
                if name not in metadata.tables:
                    continue
                table = metadata.tables[name]
                rows = [{k: v for k, v in row.items() if k in table.c} for row in rows]
                connection.execute(insert(table), rows)
                written[name] = rows
    finally:
        engine.dispose()
    return written


def read(url: str) -> dict[str, list[dict]]:
    """Every row of every application table, in primary-key order."""
    engine = make_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                name: [
                    dict(row._mapping)
                    for row in connection.execute(
                        select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for name, table in metadata.tables.items()
                if name != "alembic_version"
            }
    finally:
        engine.dispose()


def comparable(value):
    """Values as both databases give them back: aware times in UTC."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


def same(rows: list[dict], expected: list[dict]) -> None:
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert {k: comparable(row[k]) for k in want} == {k: comparable(v) for k, v in want.items()}


@pytest.mark.parametrize("start", revisions()[:-1])
def test_an_upgrade_keeps_every_row_and_value_and_a_downgrade_gives_them_back(
    empty_database, start
):
    url = empty_database
    upgrade(url, revision=start)
    written = fill(url)
    assert set(written) >= {"smes", "scores", "batches", "api_keys", "audit_events"}

    upgrade(url)
    after = read(url)
    for name, rows in written.items():
        same(after[name], rows)
        for (table, column), default in DEFAULTS.items():
            if table == name and column not in rows[0]:
                assert [comparable(r[column]) for r in after[name]] == [default] * len(rows), column

    downgrade(url, revision=start)
    back = read(url)
    assert set(back) == set(written) | (set(back) - set(ROWS))  # the revision's own tables
    for name, rows in written.items():
        same(back[name], rows)


def test_the_newest_revision_holds_every_table_filled_here(empty_database):
    upgrade(empty_database)
    assert set(fill(empty_database)) == set(ROWS)
    assert revisions()[-1] == head_revision()
    downgrade(empty_database, revision="base")
    assert read(empty_database) == {}
