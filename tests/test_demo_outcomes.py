"""``sme-export demo load``: the example cohort, its support decisions and its follow-ups
(data/cohort_bandung_2020_*.csv) in a temporary SQLite database, enough for the
evaluation, and nothing added by a second run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from api import store
from api.cli import main
from api.cli.demo import DEMO_COHORT, read_decisions
from api.db import make_engine, make_sessionmaker, sqlite_url
from api.services.outcome_files import import_outcomes, read_outcome_file
from api.services.outcomes import evaluation
from api.tables import AuditEvent, CohortMember, ExportFollowUp, Score, SupportDecision
from scoring.engine import Scorer
from scoring.model import synth

pytest_plugins = ["web_fixtures"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
FOLLOWUPS = DATA_DIR / synth.FOLLOWUPS_CSV
DECISIONS = DATA_DIR / synth.DECISIONS_CSV
TODAY = dt.date(2026, 12, 3)
#: What the shipped files hold (data/README.md): decisions, and labels by decision.
SUPPORTED, NOT_SUPPORTED, FOLLOWUP_ROWS = 50, 35, 243
SUPPORTED_KNOWN, SUPPORTED_EXPORTED, SUPPORTED_CENSORED = 44, 21, 6
NOT_SUPPORTED_KNOWN, NOT_SUPPORTED_EXPORTED, NOT_SUPPORTED_CENSORED = 34, 7, 1
TABLES = (Score, CohortMember, SupportDecision, ExportFollowUp, AuditEvent)


def test_the_followups_file_reads_without_a_rejected_row():
    with FOLLOWUPS.open("rb") as stream:
        rows = read_outcome_file(stream, filename=FOLLOWUPS.name, today=TODAY, max_rows=1000)
    assert rows.errors == [] and rows.skipped == []
    assert len(rows.records) == FOLLOWUP_ROWS
    early = [r for r in rows.records if r["exported"] and r["followup_date"] < dt.date(2025, 10, 1)]
    assert len(early) == 3
    assert {r["learned_via"] for r in rows.records} == {
        "phone_call",
        "visit",
        "customs_peb",
        "self_report",
    }
    values = [r["export_value_usd"] for r in rows.records if r["export_value_usd"] is not None]
    assert values and any(not v.is_integer() for v in values)  # decimal commas read as such


def test_the_decisions_file_reads_as_the_generator_wrote_it():
    decisions = read_decisions(DECISIONS, today=TODAY)
    expected = synth.generate_decisions(synth.generate_cohort(seed=2020))
    assert len(decisions) == SUPPORTED + NOT_SUPPORTED
    for got, want in zip(decisions, expected.to_dict("records"), strict=True):
        assert {k: got.get(k) for k in want} == want


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, migrated_sqlite):
    """A migrated SQLite database the demo was loaded into twice: the URL and both outputs."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copyfile(migrated_sqlite, path)
    url = sqlite_url(path)
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "load"], env={"DATABASE_URL": url})
    assert first.exit_code == 0, first.output
    counts = _counts(url)
    second = runner.invoke(main, ["demo", "load", "--database-url", url])
    assert second.exit_code == 0, second.output
    return {"url": url, "first": first.output, "second": second.output, "counts": counts}


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return {
                t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in TABLES
            }
    finally:
        engine.dispose()


def _evaluate(url: str) -> dict:
    tiers = [tier.id for tier in Scorer.load().ruleset.tiers]
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return evaluation(session, store.DecisionFilter(cohort=DEMO_COHORT), tiers=tiers)
    finally:
        engine.dispose()


def test_demo_load_fills_the_evaluation(loaded):
    report = _evaluate(loaded["url"])
    assert report["enough"] is True
    counts = report["counts"]
    assert counts["supported"] == {
        "decisions": SUPPORTED,
        "known": SUPPORTED_KNOWN,
        "censored": SUPPORTED_CENSORED,
        "exported": SUPPORTED_EXPORTED,
        "not_exported": SUPPORTED_KNOWN - SUPPORTED_EXPORTED,
    }
    assert counts["not_supported"] == {
        "decisions": NOT_SUPPORTED,
        "known": NOT_SUPPORTED_KNOWN,
        "censored": NOT_SUPPORTED_CENSORED,
        "exported": NOT_SUPPORTED_EXPORTED,
        "not_exported": NOT_SUPPORTED_KNOWN - NOT_SUPPORTED_EXPORTED,
    }
    assert sum(band["n"] for band in report["by_score_band"]) == SUPPORTED_KNOWN
    assert report["discrimination"]["score"] is not None
    assert loaded["counts"]["scores"] == 85
    assert loaded["counts"]["cohort_members"] == 85
    assert loaded["counts"]["support_decisions"] == SUPPORTED + NOT_SUPPORTED
    assert loaded["counts"]["export_followups"] == FOLLOWUP_ROWS


def test_demo_load_says_what_it_did_and_where_to_look(loaded):
    out = loaded["first"]
    assert f'cohort "{DEMO_COHORT}": 85 SME(s) scored and stored, 0 already stored' in out
    assert (
        f"support decisions: 85 recorded ({SUPPORTED} supported, {NOT_SUPPORTED} not "
        "supported), 0 already recorded"
    ) in out
    assert f"follow-ups: {FOLLOWUP_ROWS} stored, 0 already recorded, 0 rejected" in out
    assert (
        f"outcomes, supported: {SUPPORTED} decision(s), {SUPPORTED_KNOWN} known "
        f"({SUPPORTED_EXPORTED} exported within 12 months), {SUPPORTED_CENSORED} censored"
    ) in out
    assert "/outcomes/evaluation?cohort=Go%20Export%20Bandung%202020" in out


def test_a_second_run_adds_nothing(loaded):
    assert _counts(loaded["url"]) == loaded["counts"]
    out = loaded["second"]
    assert "0 SME(s) scored and stored, 85 already stored" in out
    assert "support decisions: 0 recorded" in out and "85 already recorded" in out
    assert f"follow-ups: 0 stored, {FOLLOWUP_ROWS} already recorded, 0 rejected" in out


def test_importing_the_followups_again_rejects_nothing_and_stores_nothing(loaded):
    engine = make_engine(loaded["url"])
    try:
        with make_sessionmaker(engine)() as session, FOLLOWUPS.open("rb") as stream:
            result = import_outcomes(
                session,
                stream,
                filename=FOLLOWUPS.name,
                actor="test",
                today=TODAY,
                max_rows=1000,
            )
            session.rollback()
    finally:
        engine.dispose()
    assert result["rejected"] == 0 and result["errors"] == []
    assert result["received"] == result["already_recorded"] == FOLLOWUP_ROWS
    assert result["stored"] == 0


def test_demo_load_refuses_a_missing_data_folder(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "demo",
            "load",
            "--data-dir",
            str(tmp_path),
            "--database-url",
            sqlite_url(tmp_path / "x.db"),
        ],
    )
    assert result.exit_code == 1
    assert "no such file" in result.output
