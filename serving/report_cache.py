"""Accuracy reports shared by the requests that ask for the same one within a second.

A report is computed from the ledger's running sums: tens of milliseconds of pandas work in the
API's process. A dashboard polling it, or many viewers opening it at once, would each pay that
and hold the interpreter lock meanwhile; here the first request of a key computes it, requests
for the same key arriving meanwhile wait for that answer, and for `seconds` after it the answer
is reused. A report is at most that much older than the ledger. (Clearing it on every post of
actuals would make it useless exactly when it is needed: with actuals arriving many times a
second.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

#: How long a computed report is reused.
REPORT_SECONDS = 1.0
#: Reports kept at most (the oldest are dropped first).
MAX_REPORTS = 256


class ReportCache:
    """Single-flight, short-lived cache of computed reports by key."""

    def __init__(self, seconds: float = REPORT_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, Future[Any]]] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The report of `key`: reused if computed less than `seconds` ago, else computed once."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            fresh = entry is not None and (not entry[1].done() or now - entry[0] < self.seconds)
            if fresh:
                future, owner = entry[1], False  # type: ignore[index]
            else:
                future, owner = Future(), True
                self._entries[key] = (now, future)
                while len(self._entries) > MAX_REPORTS:
                    self._entries.pop(next(iter(self._entries)))
        if owner:
            try:
                future.set_result(compute())
            except BaseException as err:  # the next request computes again
                future.set_exception(err)
                with self._lock:
                    if self._entries.get(key, (0, None))[1] is future:
                        del self._entries[key]
            with self._lock:  # reuse counts from when the answer was ready
                if self._entries.get(key, (0, None))[1] is future:
                    self._entries[key] = (time.monotonic(), future)
        return future.result()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
