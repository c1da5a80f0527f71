"""The ledger's engine and its transactions: SQLite pragmas, and writers that take turns.

`serving.db` re-exports these; they live apart so the table definitions stay one module.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text

__all__ = ["BUSY_TIMEOUT_MS", "WRITE_LOCK", "make_engine", "read_transaction", "write_transaction"]

#: SQLite waits this long for another writer's lock before failing with "database is locked".
BUSY_TIMEOUT_MS = 30_000
#: The PostgreSQL advisory lock that serialises ledger writers (SQLite has one writer anyway).
WRITE_LOCK = 0x616E7469


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL (readers never block the writer), enforced foreign keys, and a patient lock wait."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL is still safe against application crashes and much faster per commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")  # BUSY_TIMEOUT_MS; PRAGMA takes no parameters
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url` (SQLite file or PostgreSQL); a SQLite file's folder is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


#: One in-process lock per engine, taken before the database's own write lock.
_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock:
    """The lock this process's writers of `engine` queue on, in arrival order.

    SQLite's busy handler retries with sleeps of up to 100 ms: under steady contention a waiting
    writer can lose to newcomers for seconds (posts of actuals waited up to 24 s behind each
    other). Queued here, the writers of one process take turns; other processes still meet at
    the database's lock.
    """
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(engine)
        if lock is None:
            lock = _WRITER_LOCKS[engine] = threading.RLock()
        return lock


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the ledger's write lock from its first statement to its commit.

    Writers that read before they write (scoring adds to running sums) must not interleave:
    SQLite takes its single write lock at BEGIN IMMEDIATE (so the read-then-write never fails
    to upgrade its lock), PostgreSQL an advisory lock. Writers of this process queue on an
    in-process lock first (`_writer_lock`).
    """
    with _writer_lock(engine), engine.connect() as connection, connection.begin():
        begin_now(connection, "BEGIN IMMEDIATE")
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})
        yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction whose reads all see one state of the database (a snapshot)."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            begin_now(connection, "BEGIN")
            yield connection


def begin_now(connection: Connection, statement: str) -> None:
    """Open SQLite's transaction now: the driver would only open one at the first write."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(statement)
