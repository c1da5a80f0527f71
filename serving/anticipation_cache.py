"""Each series' anticipation as JSON-ready dicts, recomputed in the background when it changes.

Realized accuracy of a series changes only when its actuals (or its members') change. A post of
actuals marks those series stale: they keep their last answer until a background thread has
recomputed them from the ledger (well under a second later), so no forecast request waits for a
ledger read, and a post that touches the total or a store (every post does) does not slow the
forecasts of those series. Only a series never computed (none, once a model has loaded) is
read from the ledger in the request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import Engine

from serving.accuracy import compute_anticipation, expected_by_series
from serving.schemas import Accuracy
from serving.state import LiveModel

log = logging.getLogger("anticipate.serving")


class AnticipationCache:
    """Answers per series of one snapshot's model; stale ones refreshed by `start()`'s thread."""

    #: After a failed refresh (the ledger unavailable) the thread retries this much later.
    RETRY_S = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._found: dict[str, dict] = {}
        self._expected: dict[str, Accuracy] = {}
        #: Stale series and the invalidation that made them so (a newer one keeps them stale).
        self._stale: dict[str, int] = {}
        self._generation = 0
        self._wake = threading.Event()
        self._fresh = threading.Event()
        self._fresh.set()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._engine: Engine | None = None
        self._current: Callable[[], LiveModel | None] = lambda: None

    # ------------------------------------------------------------------ the refresher

    def start(self, engine: Engine, current: Callable[[], LiveModel | None]) -> None:
        """Refresh stale answers in a background thread, for the model `current()` returns."""
        self._engine, self._current = engine, current
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="anticipation", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (stale answers stay stale)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def wait_fresh(self, timeout: float = 30.0) -> bool:
        """Block until no answer is stale (tests; True when fresh)."""
        return self._fresh.wait(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping:
                return
            self._wake.clear()
            try:
                self._refresh()
            except Exception:  # the ledger may be away for a moment; the answers stay stale
                log.exception("refreshing the anticipation of changed series failed")
                time.sleep(self.RETRY_S)
                self._wake.set()

    def _refresh(self) -> None:
        live = self._current()
        with self._lock:
            if live is None or not self._stale or self._engine is None:
                self._stale.clear()
                self._fresh.set()
                return
            self._for(live)
            taken = dict(self._stale)
            expected = self._expected
        computed = compute_anticipation(self._engine, live, list(taken), expected)
        with self._lock:
            if self._key == _key_of(live):
                self._found.update(computed)
            for uid, generation in taken.items():
                if self._stale.get(uid) == generation:
                    del self._stale[uid]
            if not self._stale:
                self._fresh.set()

    # ------------------------------------------------------------------ reads

    def _for(self, live: LiveModel) -> None:
        key = _key_of(live)
        if key != self._key:
            self._key, self._found, self._stale = key, {}, {}
            self._expected = expected_by_series(live)
            self._fresh.set()

    def cached(self, live: LiveModel, ids: Iterable[str]) -> dict[str, dict] | None:
        """The answers of `ids` when all are known, stale or not (no I/O: safe on the loop)."""
        with self._lock:
            self._for(live)
            found = self._found
            try:
                return {uid: found[uid] for uid in ids}
            except KeyError:
                return None

    def get(self, engine: Engine, live: LiveModel, ids: list[str]) -> dict[str, dict]:
        """The answers of `ids`, computing the ones never computed from the ledger."""
        with self._lock:
            self._for(live)
            missing = [uid for uid in ids if uid not in self._found]
            expected = self._expected
        if missing:
            computed = compute_anticipation(engine, live, missing, expected)
            with self._lock:
                if self._key == _key_of(live):
                    self._found.update(computed)
            found = {**self._found, **computed}
        else:
            found = self._found
        return {uid: found[uid] for uid in ids}

    # ------------------------------------------------------------------ changes

    def invalidate(self, ids: Iterable[str]) -> None:
        """The actuals of `ids` changed: recompute them soon (at once without a thread)."""
        with self._lock:
            if self._thread is None:
                for uid in ids:
                    self._found.pop(uid, None)
                return
            self._generation += 1
            for uid in ids:
                if uid in self._found:
                    self._stale[uid] = self._generation
            if self._stale:
                self._fresh.clear()
                self._wake.set()

    def clear(self) -> None:
        """Forget everything (a new model)."""
        with self._lock:
            self._key, self._found, self._stale = None, {}, {}
            self._fresh.set()


def _key_of(live: LiveModel) -> tuple:
    return (live.name, live.version, id(live.bundle))
