"""Every write to the ledger made by one child process, in arrival order.

Scoring a post of actuals (reading the served points it completes, moving the running sums) is
pandas and SQL work that holds the GIL for most of a second on a 1,000-row post. In the API's
process it competed with the refits and the forecasts for the one interpreter lock, so a post
took two to three times as long while a refit ran. In a child process it has an interpreter of
its own (the second core). Served forecasts, posted actuals and job updates all go through the
same child, one call at a time, so SQLite's writers never wait on each other's busy handlers
(which retry with sleeps and can starve a writer under steady contention).

    writes = WriteProcess(database_url)
    writes.start()
    result = writes.run(ledger.upsert_actuals, rows)   # fn(engine, *args) in the child

`enabled=False` runs the same functions in the calling thread (a single-process deployment, and
fast unit tests). A child that dies is replaced at the next call; the call that was running
raises `WriterLost`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from sqlalchemy import Engine

from serving.engine import make_engine

log = logging.getLogger("anticipate.serving")

T = TypeVar("T")

#: How much lower the write process runs than the API's process (see `os.nice`).
WRITER_NICENESS = 5
#: The child's engine (one per child process, made by `_open`).
_ENGINE: Engine | None = None


class WriterLost(RuntimeError):
    """The write process died during a call (what it was writing may or may not be stored)."""


class WriteProcess:
    """A one-worker process pool that owns the ledger's writes."""

    def __init__(self, database_url: str, *, engine: Engine | None = None, enabled: bool = True):
        self.database_url = database_url
        self.enabled = enabled
        self._engine = engine
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the child and wait until it can write (imports and engine ready)."""
        if self.enabled:
            self._ensure().submit(_ping).result()

    def stop(self) -> None:
        """Let the child finish what it was given, then end it."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(engine, *args, **kwargs)` in the write process (a module-level function)."""
        if not self.enabled:
            if self._engine is None:
                self._engine = make_engine(self.database_url)
            return fn(self._engine, *args, **kwargs)
        pool = self._ensure()
        try:
            return pool.submit(_call, fn, args, kwargs).result()
        except BrokenProcessPool as err:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            log.error("the ledger's write process died; starting another")
            raise WriterLost(
                "the ledger's write process stopped during this write; retry it"
            ) from err

    def _ensure(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = child_pool(_open, self.database_url)
            return self._pool


def _open(database_url: str) -> None:
    """In the child: leave stopping to the parent (which flushes first), open the engine."""
    global _ENGINE
    # Below the API's process: when both want a core, answering forecasts comes first (a post
    # of actuals may wait some milliseconds more; a forecast should not).
    become_child(WRITER_NICENESS)
    _ENGINE = make_engine(database_url)
    # what every call needs, imported now: the first served batch should not wait for pandas
    import serving.jobs_store
    import serving.ledger  # noqa: F401


def child_pool(initializer: Callable[..., None], *initargs: Any) -> ProcessPoolExecutor:
    """A pool of one spawned worker (spawn: a fork of a threaded server is unsafe)."""
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    )


def become_child(niceness: int) -> None:
    """In a child, first: stopping is the parent's call (it flushes first), a lower priority,
    an exit with the parent, and log lines on stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(niceness)
    end_with_parent()
    logging.basicConfig(level=logging.INFO)


def end_with_parent(every_s: float = 0.5) -> None:
    """In a child: exit as soon as the parent is gone (a `kill -9` of the server included).

    A pool's worker otherwise waits on its queue forever, an orphan holding memory and the
    ledger open. (`PR_SET_PDEATHSIG` would fire when the parent *thread* that started the
    child ends, and pool workers are started from short-lived threads.)
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ping() -> bool:
    return _ENGINE is not None


def _call(fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
    assert _ENGINE is not None, "the write process has no engine"
    return fn(_ENGINE, *args, **kwargs)
