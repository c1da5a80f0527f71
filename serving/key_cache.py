"""Verified API keys, kept a few seconds, checked against the database once per key at a time.

Every request carries a key; checking each one in the database would cost a thread hand-off and a
query. A verified key is trusted for `seconds` (a revoked key stops working within that time).
Two things keep a busy server from stalling on the check:

- single flight: requests that find a key unchecked or expired await the one check in progress
  for it, rather than each starting its own (1,000 clients whose shared key expired at once
  put 1,000 checks in flight, and admission control shed the requests behind them);
- refresh ahead: a key used in the second half of its time is checked again in the background
  while the request goes on with it, on a thread that starts at once and stores the answer
  itself, so a key in steady use never expires, however long the event loop's backlog.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Engine

from serving import keys

log = logging.getLogger("anticipate.serving")

#: At most this many verified keys are kept (the cache starts afresh beyond it).
MAX_KEYS = 10_000


class KeyCache:
    """`await cache.verified(plaintext)`: the live key, or None when unknown or revoked."""

    def __init__(self, engine: Engine, seconds: float = 5.0, refresh_before: float | None = None):
        self.engine = engine
        self.seconds = seconds
        #: Renew a key used in the last this many seconds of its time (half of it by default).
        self.refresh_before = seconds / 2 if refresh_before is None else refresh_before
        self._keys: dict[str, tuple[keys.ApiKey, float]] = {}
        self._checks: dict[str, Future[keys.ApiKey | None]] = {}
        self._lock = threading.Lock()
        # Checks run on threads of their own, handed over at once: a check handed to the event
        # loop (a task, run_in_threadpool) starts only after the loop's backlog, which under a
        # thousand clients is longer than a key's remaining time.
        self._threads: ThreadPoolExecutor | None = None

    async def verified(self, plaintext: str) -> keys.ApiKey | None:
        """The active key for `plaintext` (from the cache while it is fresh)."""
        digest = hashlib.sha256(plaintext.encode()).hexdigest()
        hit = self._keys.get(digest)
        now = time.monotonic()
        if hit is not None and now < hit[1]:
            if hit[1] - now < self.refresh_before:
                self._check(digest, plaintext)  # in the background; this request goes on
            return hit[0]
        # shielded: a client that hangs up must not cancel the check others are waiting for
        return await asyncio.shield(asyncio.wrap_future(self._check(digest, plaintext)))

    def forget(self) -> None:
        """Drop every verified key (after a key is revoked through this server)."""
        self._keys.clear()

    def close(self) -> None:
        """Stop the check threads (a later check starts new ones: the app may serve again)."""
        with self._lock:
            threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)

    def _check(self, digest: str, plaintext: str) -> Future[keys.ApiKey | None]:
        """The check in flight for `digest`, started if there is none."""
        with self._lock:
            check = self._checks.get(digest)
            started = check is None
            if check is None:
                if self._threads is None:
                    self._threads = ThreadPoolExecutor(2, thread_name_prefix="key-check")
                check = self._threads.submit(self._verify_now, digest, plaintext)
                self._checks[digest] = check
        if started:  # outside the lock: a check already done runs the callback right here
            check.add_done_callback(lambda done: self._finished(digest, done))
        return check

    def _finished(self, digest: str, check: Future[keys.ApiKey | None]) -> None:
        with self._lock:
            if self._checks.get(digest) is check:
                del self._checks[digest]
        if not check.cancelled() and check.exception() is not None:
            log.warning("checking an API key failed: %s", check.exception())

    def _verify_now(self, digest: str, plaintext: str) -> keys.ApiKey | None:
        """Check in the database and store the answer (in a check thread)."""
        key = keys.verify_key(self.engine, plaintext)
        if key is None:
            self._keys.pop(digest, None)
            return None
        if len(self._keys) >= MAX_KEYS:
            self._keys.clear()
        self._keys[digest] = (key, time.monotonic() + self.seconds)
        return key
