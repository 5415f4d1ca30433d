"""Backups that can be trusted: taken while the service runs, checked, restored, verified.

A backup is one folder ``sme-export-backup-<UTC time>`` holding:

- the database, consistent at one instant: SQLite through its online backup API (never a
  copy of a live file), PostgreSQL with ``pg_dump`` in custom format inside an exported
  snapshot, so the row counts recorded are those of the dump;
- the model registry, the ruleset registry (versions and their ``ACTIVE`` pointers) and
  the staged inputs of queued batches, as files;
- ``manifest.json``: when, the schema revision, the row count of every table and the
  SHA-256 of every file.

A backup is written under a ``.partial`` name and renamed when complete, so a folder
without the suffix is whole. Restoring checks every SHA-256 first, refuses a database
that holds rows unless forced, and compares the row counts afterwards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData, func, make_url, select, text
from sqlalchemy.engine import URL

from api.db import make_engine

FORMAT = 1
PREFIX = "sme-export-backup-"
PARTIAL = ".partial"
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_DUMP_FILE = "database.pgdump"
#: The file folders a backup holds, by their name in the backup.
FOLDERS = ("models", "rulesets", "staging")
#: Backups older than this many days are pruned (the newest one is always kept).
DEFAULT_KEEP_DAYS = 35
_CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup cannot be written, trusted or restored; the message says what to do."""


@dataclass(frozen=True)
class Sources:
    """What a backup copies, and where a restore puts it back."""

    database_url: str
    models_dir: Path | None = None
    rulesets_dir: Path | None = None
    staging_dir: Path | None = None

    def folders(self) -> dict[str, Path | None]:
        return {
            "models": self.models_dir,
            "rulesets": self.rulesets_dir,
            "staging": self.staging_dir,
        }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _utc(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _libpq_url(url: URL) -> str:
    """A URL ``pg_dump`` and ``pg_restore`` understand (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: URL) -> Path:
    if url.database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


# --- row counts -------------------------------------------------------------------------------


def _tables(connection) -> list[str]:
    metadata = MetaData()
    metadata.reflect(connection)
    return sorted(metadata.tables)


def table_counts(connection) -> dict[str, int]:
    """Rows per table (every table of the database, the migration table too)."""
    metadata = MetaData()
    metadata.reflect(connection)
    return {
        name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in sorted(metadata.tables.items())
    }


def _revision(counts: dict[str, int], connection) -> str | None:
    if "alembic_version" not in counts:
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def database_counts(url: str | URL) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return table_counts(connection)
    finally:
        engine.dispose()


# --- writing a backup -------------------------------------------------------------------------


def create_backup(root: Path, sources: Sources, *, now: dt.datetime | None = None) -> Path:
    """Write a backup of ``sources`` into a new folder under ``root``; its path."""
    moment = _utc(now)
    for name, source in sources.folders().items():
        if source is not None and Path(root).resolve().is_relative_to(Path(source).resolve()):
            raise BackupError(
                f"the backups folder {root} is inside the {name} folder {source} it would copy; "
                "write backups elsewhere (ideally on another disk)"
            )
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{_stamp(moment)}"
    if final.exists():
        final = root / f"{PREFIX}{_stamp(moment)}-{uuid.uuid4().hex[:6]}"
    work = final.with_name(final.name + PARTIAL)
    work.mkdir()
    try:
        database = _dump_database(make_url(sources.database_url), work)
        folders = {}
        for name, source in sources.folders().items():
            if source is not None and Path(source).is_dir():
                shutil.copytree(source, work / name, symlinks=False)
                folders[name] = str(source)
        manifest = {
            "format": FORMAT,
            "created_at": moment.isoformat().replace("+00:00", "Z"),
            "database": database,
            "folders": folders,
            "files": _checksums(work),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _fsync_tree(work)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def _dump_database(url: URL, work: Path) -> dict:
    if url.get_backend_name() == "sqlite":
        target = work / SQLITE_FILE
        _sqlite_copy(_sqlite_path(url), target)
        engine = make_engine(f"sqlite:///{target}")
        try:
            with engine.connect() as connection:
                counts = table_counts(connection)
                revision = _revision(counts, connection)
        finally:
            engine.dispose()
        # The copy is a plain file now: no write-ahead log beside it.
        _sqlite_delete_mode(target)
        return {"dialect": "sqlite", "file": SQLITE_FILE, "revision": revision, "tables": counts}
    if url.get_backend_name() == "postgresql":
        counts, revision = _pg_dump(url, work / PG_DUMP_FILE)
        return {
            "dialect": "postgresql",
            "file": PG_DUMP_FILE,
            "revision": revision,
            "tables": counts,
        }
    raise BackupError(f"no backup for database {url.get_backend_name()!r}")


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy a live SQLite database with its online backup API (consistent, never torn)."""
    if not source.exists():
        raise BackupError(f"no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _sqlite_delete_mode(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode = DELETE")
    finally:
        connection.close()


def _pg_dump(url: URL, target: Path) -> tuple[dict[str, int], str | None]:
    """``pg_dump`` inside a snapshot exported by a repeatable-read transaction that counts
    the rows of the same snapshot."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            counts = table_counts(connection)
            revision = _revision(counts, connection)
            _run(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    f"--dbname={_libpq_url(url)}",
                ],
                "pg_dump",
            )
            connection.rollback()
    finally:
        engine.dispose()
    return counts, revision


def _run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError as exc:
        raise BackupError(
            f"{what} is not installed; install the PostgreSQL client tools (Debian: "
            "postgresql-client) in the same major version as the server"
        ) from exc
    if result.returncode != 0:
        reason = " ".join(result.stderr.split())[:500]
        raise BackupError(f"{what} failed: {reason}")


def _checksums(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): sha256_of(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.relative_to(folder).as_posix() != MANIFEST
    }


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as stream:
                os.fsync(stream.fileno())


# --- reading and checking a backup -------------------------------------------------------------


def read_manifest(backup: Path) -> dict:
    path = backup / MANIFEST
    if backup.name.endswith(PARTIAL):
        raise BackupError(f"{backup} is an unfinished backup (its writer stopped); take a new one")
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{backup} is not a backup: it has no {MANIFEST}") from exc
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} cannot be read ({exc}); the backup is damaged") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: not a backup manifest of format {FORMAT}")
    return manifest


def check_backup(backup: Path) -> dict:
    """The manifest, once every file's SHA-256 matches it and no file is missing or added."""
    manifest = read_manifest(backup)
    expected = manifest.get("files", {})
    found = _checksums(backup)
    problems = []
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            problems.append(f"{name} is missing")
        elif name not in expected:
            problems.append(f"{name} is not in the manifest")
        elif found[name] != expected[name]:
            problems.append(f"{name} does not match its SHA-256")
    if problems:
        shown = "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
        raise BackupError(
            f"{backup} has been changed or damaged ({shown}); do not restore it, use another backup"
        )
    return manifest


# --- restoring --------------------------------------------------------------------------------


def holds_rows(url: str | URL) -> bool:
    """Whether the database has any row in any table (a missing SQLite file has none)."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite" and not _sqlite_path(url).exists():
        return False
    counts = database_counts(url)
    return any(count for name, count in counts.items() if name != "alembic_version")


def restore_backup(backup: Path, targets: Sources, *, force: bool = False) -> dict:
    """Put a checked backup back: the file folders, then the database (its row counts then
    compared with the manifest). Returns what was restored."""
    manifest = check_backup(backup)
    url = make_url(targets.database_url)
    database = manifest["database"]
    if url.get_backend_name() != database["dialect"]:
        raise BackupError(
            f"the backup holds a {database['dialect']} database; restore it into a "
            f"{database['dialect']} database, not {url.get_backend_name()}"
        )
    if not force and holds_rows(url):
        raise BackupError(
            f"the database {url.render_as_string(hide_password=True)} is not empty; restore "
            "into an empty database, or pass --force to replace what it holds"
        )
    # The files first: a worker that sees a restored queued batch must find its input.
    restored = []
    for name, target in targets.folders().items():
        source = backup / name
        if target is None or not source.is_dir():
            continue
        shutil.copytree(source, target, dirs_exist_ok=True)
        restored.append(name)
    _load_database(backup / database["file"], url)
    counts = database_counts(url)
    _compare(database["tables"], counts)
    return {"revision": database["revision"], "tables": counts, "folders": restored}


def _load_database(dump: Path, url: URL) -> None:
    if url.get_backend_name() == "sqlite":
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = WAL")
        finally:
            dst.close()
            src.close()
        return
    _drop_everything(url)
    _run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={_libpq_url(url)}",
            str(dump),
        ],
        "pg_restore",
    )


def _drop_everything(url: URL) -> None:
    """Empty a PostgreSQL database's public schema (a forced restore replaces it whole)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for name in _tables(connection):
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
            functions = connection.exec_driver_sql(
                "SELECT p.oid::regprocedure::text FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
            ).scalars()
            for signature in list(functions):
                connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {signature} CASCADE")
    finally:
        engine.dispose()


def _compare(expected: dict[str, int], found: dict[str, int]) -> None:
    differences = [
        f"{name}: {expected.get(name)} in the backup, {found.get(name)} restored"
        for name in sorted(set(expected) | set(found))
        if expected.get(name) != found.get(name)
    ]
    if differences:
        raise BackupError("the restored row counts differ: " + "; ".join(differences[:5]))


# --- verifying and pruning --------------------------------------------------------------------


@contextmanager
def scratch_database(like: URL) -> Iterator[URL]:
    """An empty database of ``like``'s kind, gone afterwards: a temporary SQLite file, or a
    new PostgreSQL database on the same server."""
    if like.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sme-export-verify-") as folder:
            yield make_url(f"sqlite:///{Path(folder) / 'verify.db'}")
        return
    name = f"sme_export_verify_{uuid.uuid4().hex[:12]}"
    admin = make_engine(like.set(database="postgres"))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield like.set(database=name)
        finally:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def verify_backup(backup: Path, *, like: str | URL) -> dict:
    """Check the sums, restore the database into a scratch database of ``like``'s kind and
    compare every table's row count with the manifest (``restore_backup``'s checks)."""
    manifest = check_backup(backup)
    with scratch_database(make_url(like)) as scratch:
        _load_database(backup / manifest["database"]["file"], scratch)
        counts = database_counts(scratch)
    _compare(manifest["database"]["tables"], counts)
    return {
        "created_at": manifest["created_at"],
        "revision": manifest["database"]["revision"],
        "tables": counts,
        "files": len(manifest["files"]),
    }


def list_backups(root: Path) -> list[Path]:
    """The whole backups under ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(PREFIX) and not p.name.endswith(PARTIAL)
    )


def prune_backups(
    root: Path,
    *,
    keep_days: int = DEFAULT_KEEP_DAYS,
    now: dt.datetime | None = None,
    remove: Callable[[Path], None] = shutil.rmtree,
) -> list[Path]:
    """Remove the backups older than ``keep_days`` (by their manifest's time), always
    keeping the newest; the removed ones."""
    moment = _utc(now)
    backups = list_backups(root)
    removed = []
    for backup in backups[:-1]:
        try:
            created = dt.datetime.fromisoformat(
                read_manifest(backup)["created_at"].replace("Z", "+00:00")
            )
        except BackupError:
            continue  # not ours to judge: left for a person to look at
        if moment - created > dt.timedelta(days=keep_days):
            remove(backup)
            removed.append(backup)
    return removed
