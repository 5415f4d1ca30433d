"""One queue for every writer of a SQLite file, across threads and worker processes.

SQLite lets one connection write at a time. A writer that finds the file busy waits
in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... up to 100 ms between tries: under
concurrent writes (two gunicorn workers of four threads, say) a waiting writer often
sleeps right past the short transaction it waited for, and the tail of stored scores
grows to hundreds of milliseconds while the median stays at a few.

``WriterQueueConnection`` (the ``factory`` of ``sqlite3.connect``) makes writers wait
their turn on an exclusive ``flock`` of a lock file beside the database instead: taken
before the first writing statement of a transaction and given back once the
transaction ends (commit, rollback, or a statement that left no transaction open). Its
holder is the only connection that writes, so it does not meet SQLite's busy handler;
the others see the lock free within a fraction of a millisecond after it is given back.
Reads (``SELECT``, ``PRAGMA`` other than a checkpoint) never wait here: in WAL mode they
do not wait for writers at all.

Every process that writes the file through ``api.db.make_engine`` takes part; another
program writing the same file meets the writers in SQLite's own busy handler, as before.
A writer that cannot have the lock within the connection's busy timeout fails as SQLite
would, with ``sqlite3.OperationalError("database is locked")``, which the service
answers 503. The lock is an advisory lock of an open file, so the kernel releases it
when its holder's process dies. A lock file that cannot be opened or locked (its
permissions, a file system without locks) is logged once, and writers then wait in
SQLite's busy handler as they would without the queue: the queue never refuses a write.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from urllib.request import pathname2url

#: The lock file is the database file's name with this suffix (as SQLite's ``-wal``).
LOCK_SUFFIX = "-writers"
#: Waits between tries for a busy lock: short first, then never longer than 1 ms, so a
#: writer starts at most about a millisecond after the lock is given back.
_WAITS = (0.0001, 0.0002, 0.0005)
_LONGEST_WAIT = 0.001

_READS = ("SELECT", "EXPLAIN")

log = logging.getLogger(__name__)


def lock_path(database: str) -> str:
    return database + LOCK_SUFFIX


def _writes(statement: str) -> bool:
    """Whether ``statement`` may write: anything but a query, ``EXPLAIN`` or a ``PRAGMA``
    that is not a checkpoint."""
    head = statement.lstrip()[:16].upper()
    if head.startswith(_READS):
        return False
    if head.startswith("PRAGMA"):
        return "WAL_CHECKPOINT" in statement.upper()
    return True


def _open_lock_file(database: str) -> int:
    """Open (or create) ``database``'s lock file. A new one gets the database file's
    permissions and, made by root, its owner, as SQLite does for its ``-wal`` and ``-shm``
    files: a command run by root must not leave a lock file the service's user cannot open."""
    path = lock_path(database)
    try:
        status = os.stat(database)
    except OSError:
        status = None
    mode = status.st_mode & 0o666 if status is not None else 0o600
    flags = os.O_RDWR | os.O_CLOEXEC
    try:
        return os.open(path, flags)
    except FileNotFoundError:
        pass
    descriptor = os.open(path, flags | os.O_CREAT, mode)
    if status is not None and os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.fchown(descriptor, status.st_uid, status.st_gid)
    return descriptor


_warned: set[str] = set()


def _cannot_queue(path: str, error: OSError) -> None:
    """Say once per lock file that writers wait in SQLite's busy handler instead."""
    if path not in _warned:
        _warned.add(path)
        log.warning(
            "cannot use the SQLite writers' lock file %s (%s); writes wait in SQLite's busy "
            "handler instead: give the service's user read and write access to it",
            path,
            error.strerror or error,
        )


def _take_turn(descriptor: int, timeout: float) -> bool:
    """Lock ``descriptor`` exclusively, trying every millisecond or less for ``timeout``
    seconds; whether it was taken. ``OSError`` if the file system has no locks."""
    deadline = time.monotonic() + timeout
    tries = 0
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_WAITS[tries] if tries < len(_WAITS) else _LONGEST_WAIT)
            tries += 1


class WriterQueueConnection(sqlite3.Connection):
    """A SQLite connection whose writing transactions wait their turn on the lock file."""

    def __init__(self, database, *args, **kwargs) -> None:
        super().__init__(database, *args, **kwargs)
        timeout = kwargs.get("timeout", args[0] if args else 5.0)
        self._queue_timeout = float(timeout)
        self._database = os.fspath(database)
        self._lock_fd: int | None = None
        self._lock_pid = 0
        self._holding = False

    def cursor(self, factory=None):
        return super().cursor(factory or WriterQueueCursor)

    # sqlite3's shortcuts make their cursor without calling ``cursor()``
    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script, /):
        return self.cursor().executescript(sql_script)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_unless_in_transaction()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_unless_in_transaction()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()
            if self._lock_fd is not None and self._lock_pid == os.getpid():
                os.close(self._lock_fd)
            self._lock_fd = None

    # -- the queue -------------------------------------------------------------------

    @contextlib.contextmanager
    def _turn(self, statement: str) -> Iterator[None]:
        """Run ``statement`` in this connection's turn if it may write; the turn is given
        back after it if no transaction is left open (autocommit, or a failed statement)."""
        if not self._holding and _writes(statement):
            self._acquire()
        try:
            yield
        finally:
            self._release_unless_in_transaction()

    def _descriptor(self) -> int | None:
        """The lock file, opened once per connection and process; None if it cannot be
        used, and then writers wait in SQLite's busy handler as without the queue."""
        # a descriptor inherited through fork shares its lock with the parent: reopen
        if self._lock_pid != os.getpid():
            self._lock_fd, self._lock_pid = None, os.getpid()
            try:
                self._lock_fd = _open_lock_file(self._database)
            except OSError as error:
                _cannot_queue(lock_path(self._database), error)
        return self._lock_fd

    def _acquire(self) -> None:
        descriptor = self._descriptor()
        if descriptor is None:
            return
        try:
            taken = _take_turn(descriptor, self._queue_timeout)
        except OSError as error:  # a file system without locks
            _cannot_queue(lock_path(self._database), error)
            return
        if not taken:
            raise sqlite3.OperationalError("database is locked")
        self._holding = True

    def _release_unless_in_transaction(self) -> None:
        if self._holding and not self.in_transaction:
            self._release()

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            if self._lock_fd is not None and self._lock_pid == os.getpid():
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


class WriterQueueCursor(sqlite3.Cursor):
    """Takes the connection's place in the writers' queue before a writing statement."""

    def execute(self, sql, parameters=(), /):
        with self.connection._turn(sql):
            return super().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        with self.connection._turn(sql):
            return super().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script, /):
        with self.connection._turn("script"):  # may write: takes a turn
            return super().executescript(sql_script)


# -- checkpoints off the request path --------------------------------------------------

#: How often the checkpointer looks for new commits, and how long it waits idle before
#: it stops (the next commit starts it again).
CHECKPOINT_INTERVAL_SECONDS = 0.5
CHECKPOINTER_IDLE_SECONDS = 10.0
#: A write-ahead log that holds more than this is emptied (copied in and started again).
WAL_LIMIT_BYTES = 32 * 1024 * 1024
#: A log file larger than this is cut back to it when the log starts again (``PRAGMA
#: journal_size_limit`` of the service's connections).
WAL_FILE_LIMIT_BYTES = 2 * WAL_LIMIT_BYTES
#: How long emptying the log may wait for the writers' turn and then for readers; after a
#: try that could not finish, the next waits this many more seconds.
_EMPTYING_WAIT_SECONDS = 0.1
_EMPTYING_BACKOFF_SECONDS = 5.0


class Checkpointer:
    """Copies the write-ahead log into the database file in a background thread, and keeps
    the log from growing without end.

    By default SQLite's commit that makes the log pass 1,000 pages copies the log into
    the database and syncs the file itself: about one stored score in a hundred took
    20 ms more than the others, holding the writers' queue meanwhile. The service's
    connections turn that off (``PRAGMA wal_autocheckpoint = 0``) and this thread, one
    per process and database, checkpoints instead, at most every half second when
    something was committed. Its ``PASSIVE`` checkpoints never wait for readers or
    writers (what they cannot copy yet, the next one does), so durability is as before:
    a commit is in the log; the log is synced before its pages are copied.

    A checkpoint copies pages but does not shorten the log: SQLite starts writing it from
    the beginning again only when a writer begins while every page is copied and no
    reader needs the log, which under steady concurrent load never happens (stored scores
    from eight clients grew it by 28 MB a second, to 850 MB in a minute, and every read
    looks pages up in it). So once the log holds more than ``WAL_LIMIT_BYTES``, the thread
    takes the writers' turn and runs a ``RESTART`` checkpoint: what is left is copied, the
    readers still using the log are waited for, and the next writer writes the log from
    its beginning again. Writers wait for it in the queue, 5 to 20 ms; if it cannot finish
    within 0.1 s (a long read, an export say), it gives the turn back and tries again five
    seconds later. The log file keeps its length (at most ``WAL_FILE_LIMIT_BYTES``), so
    writers overwrite it rather than lengthen it: a ``TRUNCATE`` checkpoint here held
    writers up 40 to 50 ms, and every stored score then cost about 0.5 ms more while the
    emptied file grew again.

    The thread stops after ten idle seconds, emptying the log file first (``TRUNCATE``),
    and the next commit starts it again.
    """

    def __init__(self, database: str) -> None:
        self._database = database
        self._lock = threading.Lock()
        self._commits = 0
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._emptying_after = 0.0  # monotonic time before which the log is not emptied

    def committed(self) -> None:
        """Tell of a commit (cheap: a counter, and the thread started if it is not running)."""
        self._commits += 1
        thread = self._thread
        if thread is None or not thread.is_alive() or self._pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._lock:
            thread = self._thread
            if thread is not None and thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="sqlite-checkpoints", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        seen, idle_since = -1, time.monotonic()
        while True:
            time.sleep(CHECKPOINT_INTERVAL_SECONDS)
            commits = self._commits
            if commits == seen:
                if time.monotonic() - idle_since >= CHECKPOINTER_IDLE_SECONDS:
                    self.empty_file()
                    with self._lock:
                        if self._commits == seen:
                            self._thread = None
                            return
                continue
            seen, idle_since = commits, time.monotonic()
            if not self.checkpoint():
                with self._lock:
                    self._thread = None
                return

    def checkpoint(self) -> bool:
        """One passive checkpoint, and the log emptied if it is past ``WAL_LIMIT_BYTES``;
        False if the database file is gone or unreadable."""
        try:
            connection = sqlite3.connect(
                f"file:{pathname2url(self._database)}?mode=rw",
                uri=True,
                timeout=0,
                check_same_thread=False,
            )
        except sqlite3.Error:
            return False
        try:
            due = time.monotonic() >= self._emptying_after
            if due and _passive(connection) > WAL_LIMIT_BYTES and not self._empty_log(connection):
                self._emptying_after = time.monotonic() + _EMPTYING_BACKOFF_SECONDS
        except sqlite3.OperationalError:
            pass  # another process's checkpoint, say: the next one catches up
        except sqlite3.Error:
            return False
        finally:
            connection.close()
        return True

    def _empty_log(self, connection: sqlite3.Connection, mode: str = "RESTART") -> bool:
        """Copy the rest of the log into the database so that the next writer starts it
        again (``RESTART``; ``TRUNCATE`` also empties the file), in the writers' turn;
        whether that was done. (After another process's checkpointer has just done it,
        there is nothing left to copy.)"""
        with _writers_turn(self._database, _EMPTYING_WAIT_SECONDS) as turn:
            if not turn:
                return False
            connection.execute(f"PRAGMA busy_timeout = {int(_EMPTYING_WAIT_SECONDS * 1000)}")
            busy, _, _ = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            return busy == 0

    def empty_file(self) -> None:
        """Empty the log file (a ``TRUNCATE`` checkpoint), if the writers' turn and the
        readers allow it within a tenth of a second: an idle database keeps no log."""
        with contextlib.suppress(sqlite3.Error):
            connection = sqlite3.connect(
                f"file:{pathname2url(self._database)}?mode=rw",
                uri=True,
                timeout=0,
                check_same_thread=False,
            )
            try:
                self._empty_log(connection, "TRUNCATE")
            finally:
                connection.close()


def _passive(connection: sqlite3.Connection) -> int:
    """A ``PASSIVE`` checkpoint (copy what no reader needs); the bytes the log holds."""
    _, frames, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if frames <= 0:  # (-1: not a WAL database)
        return 0
    (page_size,) = connection.execute("PRAGMA page_size").fetchone()
    return frames * (page_size + _FRAME_HEADER_BYTES)


_FRAME_HEADER_BYTES = 24


@contextlib.contextmanager
def _writers_turn(database: str, timeout: float) -> Iterator[bool]:
    """The writers' turn of ``database`` held for the block, waiting at most ``timeout``
    seconds for it; yields whether the block may write. Without a usable lock file it
    yields True at once: writers then wait in SQLite's busy handler, as the block does."""
    try:
        descriptor = _open_lock_file(database)
    except OSError:
        yield True
        return
    try:
        try:
            taken = _take_turn(descriptor, timeout)
        except OSError:  # a file system without locks
            yield True
            return
        if not taken:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
