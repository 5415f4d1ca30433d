"""Backups on SQLite and PostgreSQL: written while the database is in use, restored whole
(every row of every table the same), tampered backups refused, non-empty databases kept
unless forced, verification in a scratch database, retention."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, select, text
from sqlalchemy.exc import DBAPIError

from api import store
from api.db import make_engine, make_sessionmaker, sqlite_url
from api.migrate import upgrade
from api.services import backup as B
from scoring.contract import fields as F

pytest_plugins = ["db_fixtures"]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request, tmp_path, postgres_database):
    """``new_database()``: the URL of a new, migrated, empty database of the backend."""
    made = []

    def make(migrated: bool = True) -> str:
        if request.param == "sqlite":
            url = sqlite_url(tmp_path / f"db{len(made)}.sqlite")
        else:
            context = postgres_database("sme_backup")
            url = context.__enter__().render_as_string(hide_password=False)
            request.addfinalizer(lambda: context.__exit__(None, None, None))
        if migrated:
            upgrade(url)
        made.append(url)
        return url

    return make


def _profile(sme_id: str) -> dict:
    return {
        "sme_id": sme_id,
        "name": f"CV {sme_id}",
        **{c: None for c in F.PROFILE_COLUMNS if c not in ("sme_id", "name")},
        "sector": "handicraft",
    }


def fill(url: str, sme_ids: list[str]) -> None:
    """Scores, personal data, a decision and a follow-up per SME, a key, audit events."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            for sme_id in sme_ids:
                store.save_scored(
                    session,
                    profiles=[_profile(sme_id)],
                    personal=[{"owner_name": f"Owner {sme_id}"}],
                    records=[
                        {
                            "sme_id": sme_id,
                            "score": 55.5,
                            "tier": "developing",
                            "rules_score": 50.0,
                            "ml_probability": 0.25,
                            "model_version": "m1",
                            "ruleset_version": "r1",
                            "scored_at": "2026-01-05T03:00:00Z",
                        }
                    ],
                    cohort="c1",
                    batch_id=None,
                    actor="cli",
                )
                store.record_decisions(
                    session,
                    [
                        {
                            "sme_id": sme_id,
                            "decision": "support",
                            "support_kind": "export_coaching",
                            "decided_on": dt.date(2025, 5, 1),
                        }
                    ],
                    actor="cli",
                )
                store.record_followups(
                    session,
                    [
                        {
                            "sme_id": sme_id,
                            "followup_date": dt.date(2026, 5, 2),
                            "exported": False,
                            "learned_via": "visit",
                        }
                    ],
                    actor="cli",
                )
            store.create_api_key(session, name="office", scopes=["read"])
    finally:
        engine.dispose()


def every_row(url: str) -> dict[str, list]:
    """Every row of every table, in a fixed order, as JSON-able lists."""
    engine = make_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                name: sorted(
                    json.dumps([str(v) for v in row]) for row in connection.execute(select(table))
                )
                for name, table in sorted(metadata.tables.items())
            }
    finally:
        engine.dispose()


@pytest.fixture
def models(tmp_path) -> Path:
    folder = tmp_path / "models"
    (folder / "v1").mkdir(parents=True)
    (folder / "v1" / "manifest.json").write_text('{"version": "v1"}')
    (folder / "ACTIVE").write_text("v1\n")
    return folder


def test_a_backup_restores_every_row_and_the_registries(new_database, tmp_path, models):
    source = new_database()
    fill(source, ["A-1", "B-2"])
    path = B.create_backup(tmp_path / "backups", B.Sources(source, models_dir=models))

    manifest = json.loads((path / B.MANIFEST).read_text())
    assert path.name.startswith(B.PREFIX) and not list((tmp_path / "backups").glob("*.partial"))
    assert manifest["database"]["revision"] == "0010"
    assert manifest["database"]["tables"]["scores"] == 2
    assert manifest["database"]["tables"]["support_decisions"] == 2
    assert manifest["database"]["tables"]["export_followups"] == 2
    assert set(manifest["files"]) == {
        manifest["database"]["file"],
        "models/ACTIVE",
        "models/v1/manifest.json",
    }

    target, restored_models = new_database(migrated=False), tmp_path / "restored-models"
    result = B.restore_backup(path, B.Sources(target, models_dir=restored_models))
    assert result["folders"] == ["models"]
    assert every_row(target) == every_row(source)
    assert (restored_models / "ACTIVE").read_text() == "v1\n"


def test_verify_restores_into_a_scratch_database(new_database, tmp_path):
    source = new_database()
    fill(source, ["A-1"])
    path = B.create_backup(tmp_path / "backups", B.Sources(source))
    checked = B.verify_backup(path, like=source)
    assert checked["tables"] == json.loads((path / B.MANIFEST).read_text())["database"]["tables"]
    assert checked["revision"] == "0010"


@pytest.mark.parametrize("damage", ["changed", "missing", "added"])
def test_a_tampered_backup_is_refused_and_nothing_is_restored(
    new_database, tmp_path, models, damage
):
    source = new_database()
    fill(source, ["A-1"])
    path = B.create_backup(tmp_path / "backups", B.Sources(source, models_dir=models))
    if damage == "changed":
        (path / "models" / "ACTIVE").write_text("v2\n")
    elif damage == "missing":
        (path / "models" / "v1" / "manifest.json").unlink()
    else:
        (path / "models" / "v9.joblib").write_bytes(b"not ours")
    target = new_database(migrated=False)
    with pytest.raises(B.BackupError, match=r"changed or damaged.*use another backup"):
        B.restore_backup(path, B.Sources(target))
    with pytest.raises(B.BackupError, match="changed or damaged"):
        B.verify_backup(path, like=source)
    assert not B.holds_rows(target)


def test_a_database_that_holds_rows_is_replaced_only_when_forced(new_database, tmp_path):
    source = new_database()
    fill(source, ["A-1"])
    path = B.create_backup(tmp_path / "backups", B.Sources(source))
    fill(source, ["LATER-9"])  # written after the backup
    with pytest.raises(B.BackupError, match=r"is not empty.*--force"):
        B.restore_backup(path, B.Sources(source))
    assert "LATER-9" in json.dumps(every_row(source)["smes"])
    B.restore_backup(path, B.Sources(source), force=True)
    rows = every_row(source)
    assert "LATER-9" not in json.dumps(rows) and "A-1" in json.dumps(rows["smes"])


def test_a_restored_processing_log_is_still_append_only(new_database, tmp_path):
    source = new_database()
    fill(source, ["A-1"])
    path = B.create_backup(tmp_path / "backups", B.Sources(source))
    target = new_database()
    B.restore_backup(path, B.Sources(target))
    engine = make_engine(target)
    try:
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_events"))
    finally:
        engine.dispose()


def test_a_sqlite_backup_is_consistent_while_writes_go_on(tmp_path):
    url = sqlite_url(tmp_path / "busy.sqlite")
    upgrade(url)
    fill(url, ["A-0"])
    stop = threading.Event()

    def write() -> None:
        n = 1
        while not stop.is_set():
            fill(url, [f"W-{n}"])
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        paths = [B.create_backup(tmp_path / "backups", B.Sources(url)) for _ in range(3)]
    finally:
        stop.set()
        writer.join()
    for path in paths:
        tables = json.loads((path / B.MANIFEST).read_text())["database"]["tables"]
        # Each SME was written whole in one transaction: the copy holds whole SMEs only.
        assert tables["smes"] == tables["scores"] == tables["support_decisions"]
        assert tables["export_followups"] == tables["smes"]
        B.verify_backup(path, like=url)


def test_prune_keeps_the_retention_and_always_the_newest(tmp_path):
    url = sqlite_url(tmp_path / "db.sqlite")
    upgrade(url)
    root = tmp_path / "backups"
    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    old = B.create_backup(root, B.Sources(url), now=now - dt.timedelta(days=40))
    recent = B.create_backup(root, B.Sources(url), now=now - dt.timedelta(days=3))
    (root / f"{B.PREFIX}20200101T000000Z{B.PARTIAL}").mkdir()
    assert B.prune_backups(root, keep_days=35, now=now) == [old]
    assert B.list_backups(root) == [recent]
    # Even past the retention, the newest backup stays.
    assert B.prune_backups(root, keep_days=1, now=now) == []


def test_an_unfinished_or_foreign_folder_is_no_backup(tmp_path):
    partial = tmp_path / f"{B.PREFIX}20260101T000000Z{B.PARTIAL}"
    partial.mkdir()
    with pytest.raises(B.BackupError, match="unfinished backup"):
        B.check_backup(partial)
    with pytest.raises(B.BackupError, match=r"has no manifest\.json"):
        B.check_backup(tmp_path)


def _cli(*args: str):
    from api.cli import main

    return CliRunner().invoke(main, list(args))


def test_the_commands(tmp_path, models):
    url = sqlite_url(tmp_path / "db.sqlite")
    upgrade(url)
    fill(url, ["A-1"])
    root = tmp_path / "backups"
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "batch-7.csv").write_text("sme_id;name\n")
    common = ["--database-url", url, "--models-dir", str(models), "--staging-dir", str(staging)]
    inside = _cli("backup", "--to", str(staging / "backups"), *common)
    assert inside.exit_code == 1
    assert "is inside the staging folder" in inside.output
    result = _cli("backup", "--to", str(root), *common)
    assert result.exit_code == 0, result.output
    [path] = B.list_backups(root)
    assert f"written to {path}: revision 0010" in result.output
    assert (path / "staging" / "batch-7.csv").read_text() == "sme_id;name\n"

    result = _cli("backup", "--verify", str(path), "--database-url", url)
    assert result.exit_code == 0, result.output
    assert "is sound" in result.output

    result = _cli("restore", str(path), *common)
    assert result.exit_code == 1
    assert "is not empty" in result.output and "--force" in result.output

    target = sqlite_url(tmp_path / "restored.sqlite")
    result = _cli(
        "restore", str(path), "--database-url", target, "--models-dir", str(tmp_path / "m")
    )
    assert result.exit_code == 0, result.output
    assert every_row(target) == every_row(url)

    shutil.copy(models / "ACTIVE", path / "database.sqlite")
    result = _cli("restore", str(path), "--database-url", sqlite_url(tmp_path / "x.sqlite"))
    assert result.exit_code == 1
    assert "does not match its SHA-256" in result.output
    assert _cli("backup", *common).exit_code == 2  # neither --to nor --verify
