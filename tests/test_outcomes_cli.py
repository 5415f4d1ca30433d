"""``sme-export decisions record|list`` and ``sme-export outcomes import|template|worklist|
evaluate`` on a temporary SQLite database holding a scored synthetic cohort: output, exit
codes, one-line errors and both languages.

The helpers that store a scored cohort, its decisions and follow-ups are shared with
``test_train_from_outcomes.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import store
from api.cli import main
from api.cli.common import EXIT_INPUT, EXIT_REJECTED_ROWS
from api.db import make_engine, make_sessionmaker, sqlite_url
from api.services import ingest
from api.tables import ExportFollowUp, SupportDecision
from scoring.contract import fields as F
from scoring.contract.outcomes import OUTCOME_COLUMNS, SUPPORT_KINDS
from scoring.contract.validate import validate_records
from scoring.model import synth

pytest_plugins = ["web_fixtures"]

COHORT = "bandung-2024"
FIRST_DECISION = dt.date(2024, 1, 8)
#: Values of personal fields stored with each SME; none may reach a training row.
PERSONAL = {
    "owner_name": "Ibu Rahasia {i}",
    "contact_email": "rahasia{i}@contoh.id",
    "contact_phone": "0812-555-{i:04d}",
    "district": "Coblong",
}


# --- shared helpers ----------------------------------------------------------------------


@contextmanager
def database(url: str) -> Iterator[Session]:
    """A session on the database at ``url``, committed when the block succeeds."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def store_cohort(url: str, frame: pd.DataFrame, *, scorer, cohort: str = COHORT) -> None:
    """Score the profiles of ``frame`` (its label left out) and store them, each with
    personal fields, as an upload of the cohort would."""
    records = [
        {**row, **{name: value.format(i=i) for name, value in PERSONAL.items()}}
        for i, row in enumerate(frame.drop(columns=[F.LABEL]).to_dict("records"))
    ]
    batch = validate_records(records)
    assert batch.errors == []
    scored = ingest.score(batch, scorer, lang="en")
    with database(url) as session:
        ingest.store_scored(session, scored, cohort=cohort, batch_id=None, actor="test")


def outcome_plan(frame: pd.DataFrame, *, cohort: str = COHORT) -> tuple[list, list, dict]:
    """Decisions about every SME of ``frame`` (one a day from ``FIRST_DECISION``; every
    fifth not supported) and follow-ups that give each its label, except that every eighth
    SME is never followed up and every eighth from the fifth was asked only after three
    months (both censored). Returns (decisions, follow-up file rows, ``{sme_id: (label,
    decided_on)}`` of the known ones)."""
    decisions, followups, known = [], [], {}
    for i, (sme_id, label) in enumerate(zip(frame["sme_id"], frame[F.LABEL], strict=True)):
        day = FIRST_DECISION + dt.timedelta(days=i)
        supported = i % 5 != 0
        decisions.append(
            {
                "sme_id": sme_id,
                "decision": "support" if supported else "no_support",
                "support_kind": SUPPORT_KINDS[i % 5] if supported else None,
                "reason": None if supported else "Capacity too small for now",
                "decided_on": day,
                "decided_by": "Komite ekspor",
                "cohort": cohort,
            }
        )
        if i % 8 == 0:
            continue
        if i % 8 == 4:
            followups.append(_followup(sme_id, day + dt.timedelta(days=90), exported=False))
            continue
        first = day + dt.timedelta(days=60) if label else None
        followups.append(
            _followup(sme_id, day + dt.timedelta(days=370), exported=bool(label), first=first)
        )
        known[sme_id] = (int(label), day)
    return decisions, followups, known


def _followup(sme_id: str, day: dt.date, *, exported: bool, first: dt.date | None = None):
    return {
        "sme_id": sme_id,
        "followup_date": day.isoformat(),
        "exported": "Ya" if exported else "Tidak",
        "learned_via": "phone_call",
        "first_export_date": first.isoformat() if first else "",
    }


def record_decisions(url: str, decisions: list[dict]) -> None:
    with database(url) as session:
        store.record_decisions(session, decisions, actor="test")


def write_followups(path: Path, rows: list[dict]) -> Path:
    """An outcome file as an office's spreadsheet exports it (``;``, a BOM)."""
    pd.DataFrame(rows).to_csv(path, sep=";", index=False, encoding="utf-8-sig")
    return path


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def url(tmp_path, migrated_sqlite) -> str:
    shutil.copyfile(migrated_sqlite, tmp_path / "cli.db")
    return sqlite_url(tmp_path / "cli.db")


@pytest.fixture
def run(url):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], env={"DATABASE_URL": url})

    return invoke


@pytest.fixture(scope="module")
def cohort_frame() -> pd.DataFrame:
    return synth.generate_profiles(48, seed=3)


@pytest.fixture
def cohort(url, cohort_frame, scorer) -> pd.DataFrame:
    """The database holds the 48 SMEs of ``cohort_frame``, scored, with no decision yet."""
    store_cohort(url, cohort_frame, scorer=scorer)
    return cohort_frame


@pytest.fixture
def followed_up(url, cohort, tmp_path) -> dict:
    """Decisions about every SME of the cohort and follow-ups giving most of them a label."""
    decisions, rows, known = outcome_plan(cohort)
    record_decisions(url, decisions)
    with database(url) as session:
        stored, _ = store.record_followups(session, [_as_record(row) for row in rows], actor="test")
    assert len(stored) == len(rows)
    return known


def _as_record(row: dict) -> dict:
    record = dict.fromkeys(OUTCOME_COLUMNS)
    record.update(
        sme_id=row["sme_id"],
        followup_date=dt.date.fromisoformat(row["followup_date"]),
        exported=row["exported"] == "Ya",
        learned_via=row["learned_via"],
        first_export_date=(
            dt.date.fromisoformat(row["first_export_date"]) if row["first_export_date"] else None
        ),
        destination_markets=[],
    )
    return record


def _rows(url: str, table) -> list:
    with database(url) as session:
        rows = list(session.scalars(select(table).order_by(table.id)))
        session.expunge_all()
    return rows


# --- decisions record ----------------------------------------------------------------------


def test_record_ties_the_decision_to_the_latest_score(run, url, cohort):
    sme_id = cohort["sme_id"][0]
    result = run(
        *("decisions", "record", sme_id, "--support", "trade_fair", "--market", "jp"),
        *("--date", "2024-03-01", "--by", "Komite ekspor", "--cohort", COHORT),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"recorded decision 1: {sme_id} supported (trade_fair) on ")
    (row,) = _rows(url, SupportDecision)
    assert (row.sme_id, row.decision, row.support_kind, row.target_market) == (
        sme_id,
        "support",
        "trade_fair",
        "JP",
    )
    assert row.decided_on == dt.date(2024, 3, 1) and row.decided_by == "Komite ekspor"
    assert row.recorded_by == "cli" and row.cohort == COHORT
    assert set(row.profile) == set(F.PROFILE_COLUMNS)  # the snapshot holds no personal field


def test_record_without_support_needs_a_reason(run, url, cohort):
    sme_id = cohort["sme_id"][1]
    refused = run("decisions", "record", sme_id, "--no-support")
    assert refused.exit_code == EXIT_INPUT
    assert refused.stderr.strip() == (
        "error: reason: Required when decision is no_support: say why."
    )
    result = run("decisions", "record", sme_id, "--no-support", "--reason", "No NIB yet", "--json")
    assert result.exit_code == 0, result.output
    stored = json.loads(result.stdout)
    assert stored["decision"] == "no_support" and stored["reason"] == "No NIB yet"
    assert stored["decided_on"] == dt.date.today().isoformat()


@pytest.mark.parametrize(
    "flags",
    [(), ("--support", "trade_fair", "--no-support", "--reason", "both")],
    ids=["neither", "both"],
)
def test_record_needs_exactly_one_of_support_and_no_support(run, cohort, flags):
    result = run("decisions", "record", cohort["sme_id"][0], *flags)
    assert result.exit_code == 2
    assert "give either --support KIND or --no-support" in result.stderr


def test_record_refuses_other_support_without_saying_what(run, cohort):
    result = run("decisions", "record", cohort["sme_id"][0], "--support", "other")
    assert result.exit_code == EXIT_INPUT
    assert "support_other: Required when support_kind is other." in result.stderr


def test_record_refuses_a_future_date_and_an_unscored_sme(run, url, cohort):
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    future = run(
        "decisions", "record", cohort["sme_id"][0], "--support", "trade_fair", "--date", tomorrow
    )
    assert future.exit_code == EXIT_INPUT
    assert future.stderr.strip() == "error: decided_on: Must not be in the future."
    unknown = run("decisions", "record", "NOPE-1", "--support", "trade_fair")
    assert unknown.exit_code == EXIT_INPUT
    assert unknown.stderr.startswith("error: No stored score for 1 SME(s): NOPE-1.")
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert _rows(url, SupportDecision) == []


def test_record_speaks_indonesian_with_lang_id(run, cohort):
    result = run(
        *("decisions", "record", cohort["sme_id"][0], "--support", "export_coaching"),
        *("--lang", "id"),
    )
    assert result.exit_code == 0, result.output
    assert "keputusan 1 dicatat" in result.stdout and "didukung (export_coaching)" in result.stdout
    refused = run("decisions", "record", cohort["sme_id"][0], "--no-support", "--lang", "id")
    assert refused.stderr.startswith("galat: reason: ")


# --- decisions list ------------------------------------------------------------------------


def test_list_shows_each_decision_with_the_outcome_known_so_far(run, url, followed_up, cohort):
    result = run("decisions", "list", "--cohort", COHORT)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = ["id", "sme_id", "decided", "on", "decision", "score", "tier", "outcome"]
    assert lines[0].split() == header
    assert len(lines) == 1 + len(cohort)
    assert f"{len(cohort)} of {len(cohort)} decision(s)" in result.stderr
    newest = lines[1]  # newest decision first: the last SME's
    sme_id = cohort["sme_id"].iloc[-1]
    label, _ = followed_up[sme_id]
    assert sme_id in newest
    assert newest.endswith("not exported" if label == 0 else "exported")
    censored = cohort["sme_id"][0]  # never followed up
    assert next(line for line in lines if censored in line).endswith("not known yet")


def test_list_json_and_a_cohort_with_no_decisions(run, followed_up, cohort):
    result = run("decisions", "list", "--json")
    decisions = json.loads(result.stdout)
    assert len(decisions) == len(cohort)
    by_sme = {d["sme_id"]: d for d in decisions}
    for sme_id, (label, day) in followed_up.items():
        assert by_sme[sme_id]["exported_within_12m"] == label
        assert by_sme[sme_id]["decided_on"] == day.isoformat()
    assert by_sme[cohort["sme_id"][0]]["exported_within_12m"] is None
    assert by_sme[cohort["sme_id"][0]]["label_basis"] == "no_followup"
    empty = run("decisions", "list", "--cohort", "nobody")
    assert empty.exit_code == 0 and empty.stdout.strip() == "no decisions"


# --- outcomes import -----------------------------------------------------------------------


def _mixed_file(tmp_path: Path, cohort: pd.DataFrame) -> Path:
    a, b, c = cohort["sme_id"][:3]
    future = (dt.date.today() + dt.timedelta(days=30)).strftime("%d/%m/%Y")
    rows = [
        _followup(a, dt.date(2025, 2, 1), exported=True, first=dt.date(2024, 11, 3)),  # row 2
        _followup(b, dt.date(2025, 2, 1), exported=False),  # row 3
        {**_followup(c, dt.date(2025, 2, 1), exported=False), "followup_date": future},  # 4
        _followup("NOPE-1", dt.date(2025, 2, 1), exported=False),  # row 5
        {**_followup(c, dt.date(2025, 2, 1), exported=True), "exported": "maybe"},  # row 6
        _followup(c, dt.date(2025, 3, 1), exported=False, first=dt.date(2025, 1, 1)),  # row 7
        _followup(c, dt.date(2025, 3, 2), exported=True, first=dt.date(2025, 1, 9)),  # row 8
    ]
    for row in rows:  # dates written day first, as an Indonesian spreadsheet does
        if row["first_export_date"]:
            first = dt.date.fromisoformat(row["first_export_date"])
            row["first_export_date"] = first.strftime("%d/%m/%Y")
    return write_followups(tmp_path / "followups.csv", rows)


def test_import_stores_valid_rows_and_names_each_rejected_row(run, url, cohort, tmp_path):
    path = _mixed_file(tmp_path, cohort)
    result = run("outcomes", "import", path)
    assert result.exit_code == EXIT_REJECTED_ROWS, result.output
    assert result.stdout.strip() == ("received 7, stored 3, already recorded 0, rejected 4")
    a, b, c = cohort["sme_id"][:3]
    rejected = [line for line in result.stderr.splitlines() if line.startswith("row ")]
    assert rejected == [
        f"row 4 ({c}): followup_date [B]: Must not be in the future.",
        "row 5 (NOPE-1): sme_id: Unknown SME: score it (or upload its profile) before "
        "recording follow-ups.",
        f"row 6 ({c}): exported [C]: Not a valid boolean.",
        f"row 7 ({c}): first_export_date [E]: Must be empty when exported is no.",
    ]
    assert "the 3 valid row(s) were stored; fix the 4 rejected row(s)" in result.stderr
    stored = _rows(url, ExportFollowUp)
    assert [(f.sme_id, f.exported, f.first_export_date) for f in stored] == [
        (a, True, dt.date(2024, 11, 3)),
        (b, False, None),
        (c, True, dt.date(2025, 1, 9)),
    ]
    again = run("outcomes", "import", path, "--json")
    assert again.exit_code == EXIT_REJECTED_ROWS
    summary = json.loads(again.stdout)
    assert (summary["stored"], summary["already_recorded"], summary["rejected"]) == (0, 3, 4)
    assert [e["row"] for e in summary["errors"]] == [4, 5, 6, 7]
    assert len(_rows(url, ExportFollowUp)) == 3


def test_import_of_a_clean_file_exits_0(run, url, cohort, tmp_path):
    path = write_followups(
        tmp_path / "ok.csv",
        [_followup(cohort["sme_id"][0], dt.date(2025, 1, 5), exported=False)],
    )
    result = run("outcomes", "import", path, "--lang", "id")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "diterima 1, disimpan 1, sudah tercatat 0, ditolak 0"
    assert result.stderr == ""


def test_import_refuses_a_file_that_is_no_follow_up_table(run, url, cohort, tmp_path):
    path = tmp_path / "profiles.csv"
    cohort.head(3).to_csv(path, index=False)
    result = run("outcomes", "import", path)
    assert result.exit_code == EXIT_INPUT
    assert result.stderr.startswith(f"error: {path}: ")
    assert "unknown column(s)" in result.stderr and len(result.stderr.splitlines()) == 1
    assert _rows(url, ExportFollowUp) == []


# --- outcomes template ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["id", "en"])
def test_template_csv_is_the_header_row(run, tmp_path, lang):
    out = tmp_path / f"template-{lang}.csv"
    result = run("outcomes", "template", "--lang", lang, "--format", "csv", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == ("\ufeff" + ";".join(OUTCOME_COLUMNS) + "\r\n").encode("utf-8")


@pytest.mark.parametrize(
    ("lang", "sheet", "yes_no", "said"),
    [
        ("id", "petunjuk", '"Ya,Tidak"', "templat ditulis ke"),
        ("en", "instructions", '"Yes,No"', "template written to"),
    ],
)
def test_template_xlsx_has_drop_downs_and_instructions_in_the_language(
    run, tmp_path, lang, sheet, yes_no, said
):
    out = tmp_path / "followups.xlsx"
    result = run("outcomes", "template", "--lang", lang, "--out", out)  # format from suffix
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{said} {out}"
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["followups", sheet]
    header = [cell.value for cell in book["followups"][1]]
    assert header == list(OUTCOME_COLUMNS)
    formulas = [v.formula1 for v in book["followups"].data_validations.dataValidation]
    assert yes_no in formulas
    assert [row[0] for row in book[sheet].iter_rows(min_row=4, values_only=True)] == list(
        OUTCOME_COLUMNS
    )


def test_template_needs_a_format(run, tmp_path):
    result = run("outcomes", "template", "--out", tmp_path / "followups.txt")
    assert result.exit_code == 2
    assert "give --format csv|xlsx" in result.stderr


# --- outcomes worklist ---------------------------------------------------------------------


def test_worklist_lists_supported_smes_due_a_follow_up(run, followed_up, cohort):
    result = run("outcomes", "worklist", "--json")
    assert result.exit_code == 0, result.output
    due = json.loads(result.stdout)
    # Supported SMEs never followed up, and those asked after 3 months only: each is due
    # its 12-month follow-up (the not supported are never on the list).
    expected = {
        sme_id for i, sme_id in enumerate(cohort["sme_id"]) if i % 8 in (0, 4) and i % 5 != 0
    }
    assert {item["sme_id"] for item in due} == expected
    assert {item["months"] for item in due} == {12}
    days = [item["days_overdue"] for item in due]
    assert days == sorted(days, reverse=True)
    table = run("outcomes", "worklist")
    assert table.stdout.splitlines()[0].split()[:2] == ["sme_id", "name"]
    assert len(table.stdout.splitlines()) == 1 + len(expected)
    assert f"{len(expected)} follow-up(s) due" in table.stderr


def test_worklist_with_nothing_due(run, url):
    result = run("outcomes", "worklist", "--lang", "id")
    assert result.exit_code == 0 and result.stdout.strip() == (
        "tidak ada tindak lanjut yang jatuh tempo"
    )


# --- outcomes evaluate ---------------------------------------------------------------------


def test_evaluate_with_too_few_outcomes_gives_the_counts_only(run, url, cohort):
    decisions, rows, known = outcome_plan(cohort.head(12))
    record_decisions(url, decisions)
    with database(url) as session:
        store.record_followups(session, [_as_record(r) for r in rows], actor="test")
    supported = [d for d in decisions if d["decision"] == "support"]
    known_supported = [d for d in supported if d["sme_id"] in known]
    result = run("outcomes", "evaluate")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Evaluation of the decisions to support"
    assert lines[1].startswith(
        f"chosen: {len(supported)} decision(s), outcome known for {len(known_supported)} ("
    )
    assert lines[-1] == (
        f"too few outcomes to judge: {len(known_supported)} known outcome(s), at least 30 "
        f"needed; {len(supported) - len(known_supported)} decision(s) still without a known "
        "outcome"
    )
    assert "ROC AUC" not in result.stdout
    indonesian = run("outcomes", "evaluate", "--lang", "id")
    assert indonesian.stdout.splitlines()[-1].startswith("hasil terlalu sedikit untuk dinilai: ")


def test_evaluate_with_enough_outcomes_reports_every_figure_with_its_interval(
    run, followed_up, cohort
):
    result = run("outcomes", "evaluate", "--decision", "all", "--cohort", COHORT)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.splitlines()[0] == "Evaluation of all decisions"
    assert f"filters: cohort={COHORT}" in text
    assert f"chosen: {len(cohort)} decision(s), outcome known for {len(followed_up)} (" in text
    assert "Export rate within 12 months by tier (95% Wilson interval):" in text
    assert "Discrimination (ROC AUC, 95% bootstrap interval): score 0." in text
    assert "Calibration of the model probability: Brier 0." in text
    assert "(difference in export rate, 95% Newcombe interval):" in text
    assert text.splitlines()[-1].startswith("note: an association, not the effect of support")
    report = json.loads(run("outcomes", "evaluate", "--decision", "all", "--json").stdout)
    assert report["enough"] is True
    assert report["counts"]["all"]["known"] == len(followed_up)
    exported = sum(label for label, _ in followed_up.values())
    assert report["counts"]["all"]["exported"] == exported
    for row in report["by_tier"]:
        if row["n"]:
            line = f"{row['exported']} of {row['n']} exported, {row['rate'] * 100:.1f}% ["
            assert line in text


def test_evaluate_filters_by_period_and_refuses_a_reversed_one(run, followed_up):
    report = json.loads(
        run(
            *("outcomes", "evaluate", "--decision", "all", "--json"),
            *("--from", "2024-01-10", "--until", "2024-01-20"),
        ).stdout
    )
    assert report["counts"]["all"]["decisions"] == 11
    assert report["filters"]["decided_from"] == "2024-01-10"
    reversed_ = run("outcomes", "evaluate", "--from", "2024-02-01", "--until", "2024-01-01")
    assert reversed_.exit_code == 2 and "--from is after --until" in reversed_.stderr


def test_train_from_too_few_outcomes_says_what_is_missing(run, url, cohort, tmp_path):
    decisions, rows, known = outcome_plan(cohort.head(12))
    record_decisions(url, decisions)
    with database(url) as session:
        store.record_followups(session, [_as_record(r) for r in rows], actor="test")
    models = tmp_path / "models"
    result = run("train", "--from-outcomes", "--models-dir", models)
    assert result.exit_code == EXIT_INPUT
    positives = sum(label for label, _ in known.values())
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert message.startswith(
        "error: need at least 10 SMEs that exported and 10 that did not; got "
        f"{positives} and {len(known) - positives}: the stored decisions give {len(known)} "
        f"known outcome(s)"
    )
    assert f"{len(decisions) - len(known)} decision(s) are still censored" in message
    assert not models.exists() or not any(models.iterdir())


def test_train_needs_data_or_outcomes(run):
    result = run("train")
    assert result.exit_code == 2
    assert "give --data FILE, --from-outcomes, or both" in result.stderr
