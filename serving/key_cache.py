"""Verified API keys, kept a few seconds, checked against the database once per key at a time.

Every request carries a key; checking each one in the database would cost a thread hand-off and a
query. A verified key is trusted for `seconds` (a revoked key stops working within that time).
Two things keep a busy server from stalling on the check:

- single flight: requests that find a key unchecked or expired await the one check in progress
  for it, rather than each starting its own (1,000 clients whose shared key expired at once
  put 1,000 checks in flight, and admission control shed the requests behind them);
- refresh ahead: a key used in the last `refresh_before` seconds of its time is checked again
  in the background while the request goes on with it, so a key in steady use never expires.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from serving import keys

log = logging.getLogger("anticipate.serving")

#: At most this many verified keys are kept (the cache starts afresh beyond it).
MAX_KEYS = 10_000


class KeyCache:
    """`await cache.verified(plaintext)`: the live key, or None when unknown or revoked."""

    def __init__(self, engine: Engine, seconds: float = 5.0, refresh_before: float = 1.0) -> None:
        self.engine = engine
        self.seconds = seconds
        self.refresh_before = min(refresh_before, seconds / 2)
        self._keys: dict[str, tuple[keys.ApiKey, float]] = {}
        self._checks: dict[str, asyncio.Task[keys.ApiKey | None]] = {}

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
        return await asyncio.shield(self._check(digest, plaintext))

    def forget(self) -> None:
        """Drop every verified key (after a key is revoked through this server)."""
        self._keys.clear()

    def _check(self, digest: str, plaintext: str) -> asyncio.Task[keys.ApiKey | None]:
        """The check in flight for `digest` on this event loop, started if there is none."""
        task = self._checks.get(digest)
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._verify(digest, plaintext))
            task.add_done_callback(_log_failure)
            self._checks[digest] = task
        return task

    async def _verify(self, digest: str, plaintext: str) -> keys.ApiKey | None:
        try:
            key = await run_in_threadpool(keys.verify_key, self.engine, plaintext)
            if key is None:
                self._keys.pop(digest, None)
                return None
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()
            self._keys[digest] = (key, time.monotonic() + self.seconds)
            return key
        finally:
            if self._checks.get(digest) is asyncio.current_task():
                del self._checks[digest]


def _log_failure(task: asyncio.Task) -> None:
    """Retrieve a failed background check's error (a waiting request gets it too)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("checking an API key failed: %s", task.exception())
