"""SQLite writers queue on one lock file beside the database (``api.sqlite_writers``)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress

import pytest
from sqlalchemy import text

from api import db
from api.sqlite_writers import LOCK_SUFFIX, WriterQueueConnection


@contextmanager
def holding_the_queue(database: str):
    """Hold the writers' lock as another process's writer would."""
    descriptor = os.open(database + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


@pytest.fixture
def engine(tmp_path):
    engine = db.make_engine(db.sqlite_url(tmp_path / "queue.db"))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine
    engine.dispose()


def _insert_in_thread(engine, finished: list[float], errors: list[BaseException]):
    def insert() -> None:
        try:
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (1)"))
            finished.append(time.monotonic())
        except BaseException as error:  # handed to the test
            errors.append(error)

    thread = threading.Thread(target=insert)
    thread.start()
    return thread


def test_a_write_waits_for_the_queue_and_starts_as_soon_as_it_is_free(engine, tmp_path):
    database = str(tmp_path / "queue.db")
    finished: list[float] = []
    errors: list[BaseException] = []
    with holding_the_queue(database):
        thread = _insert_in_thread(engine, finished, errors)
        time.sleep(0.3)
        assert finished == [] and errors == []
        released = time.monotonic()
    thread.join(5)
    assert errors == []
    assert len(finished) == 1
    # the writer polls at most every millisecond; SQLite's own handler sleeps up to 100 ms
    assert finished[0] - released < 0.05
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 1


def test_reads_do_not_wait_for_the_writers_queue(engine, tmp_path):
    with holding_the_queue(str(tmp_path / "queue.db")):
        started = time.monotonic()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        assert time.monotonic() - started < 1


def test_a_writer_that_cannot_have_its_turn_fails_as_a_locked_database(tmp_path):
    database = str(tmp_path / "queue.db")
    connection = sqlite3.connect(database, timeout=0.2, factory=WriterQueueConnection)
    connection.execute("CREATE TABLE t (n INTEGER)")
    with holding_the_queue(database):
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            connection.execute("INSERT INTO t VALUES (1)")
        assert 0.2 <= time.monotonic() - started < 2
    assert not connection.in_transaction
    connection.execute("INSERT INTO t VALUES (2)")  # its turn comes once the lock is free
    connection.commit()
    assert connection.execute("SELECT n FROM t").fetchall() == [(2,)]
    connection.close()


def test_the_queue_is_held_from_the_first_write_to_the_end_of_the_transaction(tmp_path):
    database = str(tmp_path / "queue.db")
    first = sqlite3.connect(database, timeout=5, factory=WriterQueueConnection)
    second = sqlite3.connect(database, timeout=0.1, factory=WriterQueueConnection)
    first.execute("CREATE TABLE t (n INTEGER)")
    first.execute("SELECT * FROM t")  # a read takes no turn
    second.execute("INSERT INTO t VALUES (1)")
    second.rollback()
    first.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        second.execute("INSERT INTO t VALUES (2)")
    first.commit()
    second.execute("INSERT INTO t VALUES (2)")
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        first.execute("UPDATE t SET n = 3")
    second.rollback()  # a rollback gives the turn back as well
    first.execute("UPDATE t SET n = 3")
    first.commit()
    assert second.execute("SELECT n FROM t").fetchall() == [(3,)]
    first.close()
    second.close()


def test_writers_in_other_processes_take_turns_with_this_one(engine, tmp_path):
    """A writer in another process holds its turn for its whole transaction."""
    database = str(tmp_path / "queue.db")
    script = (
        "import sys, time\n"
        "from sqlalchemy import text\n"
        "from api import db\n"
        "engine = db.make_engine(db.sqlite_url(sys.argv[1]))\n"
        "with engine.begin() as connection:\n"
        "    connection.execute(text('INSERT INTO t VALUES (7)'))\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(0.5)\n"
    )
    other = subprocess.Popen(
        [sys.executable, "-c", script, database], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout.readline().strip() == "writing"
        finished: list[float] = []
        errors: list[BaseException] = []
        thread = _insert_in_thread(engine, finished, errors)
        assert other.wait(10) == 0
        ended = time.monotonic()
        thread.join(5)
    finally:
        other.kill()
    assert errors == []
    assert len(finished) == 1 and finished[0] - ended < 0.1
    with engine.connect() as connection:
        assert sorted(connection.execute(text("SELECT n FROM t")).scalars()) == [1, 7]


def _main_file_pages(database: str) -> int:
    return os.path.getsize(database) // 4096


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_commit_leaves_the_log_to_the_background_checkpointer(engine, tmp_path):
    """A commit that takes the log past SQLite's 1,000 pages does not copy it into the
    database itself; the background thread does, within a second or so."""
    database = str(tmp_path / "queue.db")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE blobs (b BLOB)"))
    assert _wait_for(lambda: _main_file_pages(database) >= 2, 5)
    before = _main_file_pages(database)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO blobs VALUES (:b)"), [{"b": os.urandom(3000)} for _ in range(2000)]
        )
    assert os.path.getsize(database + "-wal") > 1500 * 4096
    assert _main_file_pages(database) == before  # not copied by the commit
    assert _wait_for(lambda: _main_file_pages(database) > before + 1400, 5)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM blobs")).scalar_one() == 2000


def test_a_small_commit_is_checkpointed_too(engine, tmp_path):
    database = str(tmp_path / "queue.db")
    assert _wait_for(lambda: _main_file_pages(database) >= 2, 5)
    before = _main_file_pages(database)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE blobs (b BLOB)"))
        connection.execute(
            text("INSERT INTO blobs VALUES (:b)"), [{"b": os.urandom(3000)} for _ in range(50)]
        )
    assert _wait_for(lambda: _main_file_pages(database) > before + 40, 5)


def test_the_checkpointer_stops_when_idle_and_starts_again_on_the_next_commit(engine, monkeypatch):
    from api import sqlite_writers

    monkeypatch.setattr(sqlite_writers, "CHECKPOINT_INTERVAL_SECONDS", 0.05)
    monkeypatch.setattr(sqlite_writers, "CHECKPOINTER_IDLE_SECONDS", 0.2)

    def running() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "sqlite-checkpoints"]

    assert _wait_for(lambda: running() == [], 15)  # the fixture's own commit's thread ends
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
    assert len(running()) == 1
    assert _wait_for(lambda: running() == [], 5)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (2)"))
    assert len(running()) == 1


@contextmanager
def _log_database(path, rows: int = 2000):
    """A database in WAL mode whose log holds ``rows`` rows of 3,000 bytes (about 1,500
    pages for 2,000), and its writer, kept open (closing the last connection would empty
    the log), written without the engine's background checkpointer."""
    database = str(path)
    connection = sqlite3.connect(database, factory=WriterQueueConnection, timeout=5)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        _add_blobs(connection, rows)
        yield database, connection
    finally:
        connection.close()


def _add_blobs(connection: sqlite3.Connection, rows: int) -> None:
    connection.execute("CREATE TABLE IF NOT EXISTS blobs (b BLOB)")
    connection.executemany("INSERT INTO blobs VALUES (?)", [(os.urandom(3000),)] * rows)
    connection.commit()


def _log_bytes(database: str) -> int:
    return os.path.getsize(database + "-wal")


def _log_frames_after_a_write(writer: sqlite3.Connection) -> int:
    """How many frames the log holds once one more row is written: a handful when the
    log was started again, the whole log and more otherwise (read by a passive
    checkpoint, which copies what it can and leaves the log as it is)."""
    _add_blobs(writer, 1)
    _, frames, _ = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return frames


@pytest.fixture
def small_log_limit(monkeypatch):
    from api import sqlite_writers

    monkeypatch.setattr(sqlite_writers, "WAL_LIMIT_BYTES", 1024 * 1024)
    return sqlite_writers


def test_a_log_grown_past_its_limit_is_started_again(small_log_limit, tmp_path):
    """Checkpoints copy pages but never shorten the log; past the limit it is copied in
    and the next writer writes it from its beginning again, over the file as it is (not
    truncated: writing over a file is cheaper than lengthening it again)."""
    with _log_database(tmp_path / "log.db") as (database, writer):
        size = _log_bytes(database)
        assert size > 1500 * 4096
        assert small_log_limit.Checkpointer(database).checkpoint() is True
        assert _main_file_pages(database) > 1500
        assert _log_frames_after_a_write(writer) <= 5
        assert _log_bytes(database) == size
        assert writer.execute("SELECT count(*) FROM blobs").fetchone() == (2001,)


def test_the_log_starts_again_only_once_its_readers_are_done(
    small_log_limit, tmp_path, monkeypatch
):
    """What emptying the log is for: a reader using the log when a writer begins keeps
    the log growing (a passive checkpoint copies it in but does not wait for readers);
    emptying waits for that reader, so the next writer starts the log again."""

    def reading(database: str) -> sqlite3.Connection:
        reader = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM blobs").fetchone()  # a snapshot of it all
        return reader

    with _log_database(tmp_path / "log.db") as (database, writer):
        reader = reading(database)
        _, frames, copied = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames == copied > 1500  # all copied in, and yet:
        assert _log_frames_after_a_write(writer) > 1500
        reader.execute("COMMIT")

        # (a wait long enough for the reader's end however slow the machine)
        monkeypatch.setattr(small_log_limit, "_EMPTYING_WAIT_SECONDS", 5.0)
        reader = reading(database)
        threading.Timer(0.05, reader.execute, ["COMMIT"]).start()
        began = time.monotonic()
        assert small_log_limit.Checkpointer(database).checkpoint() is True
        assert 0.04 <= time.monotonic() - began < 5.0  # waited for the reader
        assert _log_frames_after_a_write(writer) <= 5
        reader.close()


def test_an_idle_checkpointer_empties_the_log_file(tmp_path):
    with _log_database(tmp_path / "log.db") as (database, writer):
        from api.sqlite_writers import Checkpointer

        Checkpointer(database).empty_file()
        assert _log_bytes(database) == 0
        assert _main_file_pages(database) > 1500
        _add_blobs(writer, 1)
        assert writer.execute("SELECT count(*) FROM blobs").fetchone() == (2001,)


def test_the_services_connections_cut_a_long_log_file_back_when_it_starts_again(engine):
    from api.sqlite_writers import WAL_FILE_LIMIT_BYTES

    with engine.connect() as connection:
        limit = connection.exec_driver_sql("PRAGMA journal_size_limit").scalar_one()
    assert limit == WAL_FILE_LIMIT_BYTES == 64 * 1024 * 1024


def test_a_log_within_its_limit_is_checkpointed_and_kept(small_log_limit, tmp_path):
    with _log_database(tmp_path / "log.db", rows=100) as (database, _):
        size = _log_bytes(database)
        assert 0 < size < 1024 * 1024
        assert small_log_limit.Checkpointer(database).checkpoint() is True
        assert _log_bytes(database) == size  # copied in, not truncated
        assert _main_file_pages(database) > 70


def test_the_log_is_not_emptied_while_a_writer_holds_its_turn(
    small_log_limit, tmp_path, monkeypatch
):
    """Emptying the log waits a tenth of a second for the writers' turn, then gives up and
    does not try again for a while; once the turn is free it is done."""
    tries: list[bool] = []
    empty_log = small_log_limit.Checkpointer._empty_log

    def counted(self, connection) -> bool:
        tries.append(empty_log(self, connection))
        return tries[-1]

    monkeypatch.setattr(small_log_limit.Checkpointer, "_empty_log", counted)
    with _log_database(tmp_path / "log.db") as (database, writer):
        checkpointer = small_log_limit.Checkpointer(database)
        with holding_the_queue(database):
            began = time.monotonic()
            assert checkpointer.checkpoint() is True
            assert 0.1 <= time.monotonic() - began < 2.0
            assert tries == [False]
            assert _log_bytes(database) > 1500 * 4096
        assert checkpointer.checkpoint() is True
        assert tries == [False]  # backing off: not tried again yet
        assert _log_bytes(database) > 1500 * 4096
        monkeypatch.setattr(small_log_limit, "_EMPTYING_BACKOFF_SECONDS", 0.0)
        checkpointer._emptying_after = 0.0
        assert checkpointer.checkpoint() is True
        assert tries == [False, True]
        assert _log_frames_after_a_write(writer) <= 5


def test_the_log_is_emptied_once_a_long_read_has_ended(small_log_limit, tmp_path, monkeypatch):
    """A reader still using the log keeps it: emptying gives up after a tenth of a second,
    writers go on meanwhile, and the next try after the read has ended empties it."""
    monkeypatch.setattr(small_log_limit, "_EMPTYING_BACKOFF_SECONDS", 0.0)
    with _log_database(tmp_path / "log.db", rows=10) as (database, writer):
        reader = sqlite3.connect(database, isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM blobs").fetchone() == (10,)  # a snapshot
        _add_blobs(writer, 2000)
        checkpointer = small_log_limit.Checkpointer(database)
        began = time.monotonic()
        assert checkpointer.checkpoint() is True
        assert time.monotonic() - began < 2.0
        assert _log_bytes(database) > 1500 * 4096
        _add_blobs(writer, 1)  # the writers' turn was given back
        reader.execute("COMMIT")
        reader.close()
        assert checkpointer.checkpoint() is True
        assert _log_frames_after_a_write(writer) <= 5
        assert writer.execute("SELECT count(*) FROM blobs").fetchone() == (2012,)


def test_the_checkpointer_gives_up_on_a_removed_database(tmp_path):
    from api.sqlite_writers import Checkpointer

    database = tmp_path / "gone.db"
    assert Checkpointer(str(database)).checkpoint() is False
    assert not database.exists()  # never created by the checkpointer


def test_a_lock_file_that_cannot_be_used_leaves_writers_to_sqlite(tmp_path, caplog):
    """The queue never refuses a write: without a usable lock file (here a folder in its
    place) writers wait in SQLite's busy handler, and the log says how to fix it."""
    database = tmp_path / "queue.db"
    (tmp_path / ("queue.db" + LOCK_SUFFIX)).mkdir()
    engine = db.make_engine(db.sqlite_url(database))
    try:
        with caplog.at_level("WARNING", logger="api.sqlite_writers"):
            for n in range(3):
                with engine.begin() as connection:
                    if n == 0:
                        connection.execute(text("CREATE TABLE t (n INTEGER)"))
                    connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 3
    finally:
        engine.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.name == "api.sqlite_writers"]
    assert len(warnings) == 1
    assert "queue.db-writers" in warnings[0] and "read and write access" in warnings[0]


def test_the_lock_file_gets_the_database_files_permissions(tmp_path):
    database = tmp_path / "queue.db"
    sqlite3.connect(database).close()
    database.chmod(0o640)
    previous = os.umask(0o022)
    try:
        connection = sqlite3.connect(str(database), factory=WriterQueueConnection)
        connection.execute("CREATE TABLE t (n INTEGER)")
        connection.close()
    finally:
        os.umask(previous)
    lock = tmp_path / ("queue.db" + LOCK_SUFFIX)
    assert lock.stat().st_mode & 0o777 == 0o640
    assert (lock.stat().st_uid, lock.stat().st_gid) == (
        database.stat().st_uid,
        database.stat().st_gid,
    )


def test_a_file_system_without_locks_leaves_writers_to_sqlite(tmp_path, monkeypatch, caplog):
    import errno

    from api import sqlite_writers

    def no_locks(descriptor, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    database = str(tmp_path / "nolocks.db")
    connection = sqlite3.connect(database, timeout=1, factory=WriterQueueConnection)
    monkeypatch.setattr(sqlite_writers.fcntl, "flock", no_locks)
    with caplog.at_level("WARNING", logger="api.sqlite_writers"):
        connection.execute("CREATE TABLE t (n INTEGER)")
        connection.execute("INSERT INTO t VALUES (1)")
        connection.commit()
    assert connection.execute("SELECT n FROM t").fetchall() == [(1,)]
    connection.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "api.sqlite_writers"]
    assert len(warnings) == 1 and "No locks available" in warnings[0]


def test_a_connection_in_a_forked_process_does_not_release_its_parents_turn(tmp_path):
    """A forked child shares the parent's open lock file (and so its lock): it must open
    its own, and giving its turn back must leave the parent's in place."""
    database = str(tmp_path / "fork.db")
    parent = sqlite3.connect(database, timeout=5, factory=WriterQueueConnection)
    parent.execute("CREATE TABLE t (n INTEGER)")
    parent.execute("INSERT INTO t VALUES (1)")  # the parent holds its turn
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            parent._release()  # what a child's connection would do on close or commit
            descriptor = os.open(database + LOCK_SUFFIX, os.O_RDWR)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                code = 3  # free: the parent's turn was released
            except BlockingIOError:
                code = 0  # still the parent's turn
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    result = os.read(read, 1)
    os.waitpid(child, 0)
    os.close(read)
    parent.commit()
    parent.close()
    assert result == bytes([0])


def test_the_log_is_emptied_after_an_erasure_even_while_another_checkpoint_runs(engine, tmp_path):
    """An erasure's commit empties the log (it holds the erased values' earlier pages); a
    checkpoint that another one runs at that moment answers busy, so it is tried again
    (here another connection checkpoints every millisecond meanwhile)."""
    database = str(tmp_path / "queue.db")
    sessions = db.make_sessionmaker(engine)
    stop = threading.Event()

    def checkpointing() -> None:
        other = sqlite3.connect(database, timeout=0, check_same_thread=False)
        while not stop.is_set():
            time.sleep(0.001)
            with suppress(sqlite3.OperationalError):
                other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        other.close()

    thread = threading.Thread(target=checkpointing)
    thread.start()
    left = []
    try:
        for k in range(100):
            session = sessions()
            session.execute(text("INSERT INTO t VALUES (:n)"), {"n": k})
            db.checkpoint_after_commit(session)
            session.commit()
            session.close()
            left.append(_log_bytes(database))
    finally:
        stop.set()
        thread.join()
    assert left == [0] * 100
