"""Verified keys: one database check per key however many requests wait, revocation honoured."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from sqlalchemy import event

from serving.db import make_engine, migrate
from serving.key_cache import KeyCache
from serving.keys import create_key, revoke_key


def test_many_requests_with_an_unchecked_key_share_one_check_and_revocation_ends_it(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    key_id, plaintext = create_key(engine, "viewer")
    checks: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "FROM api_keys" in statement:
            checks.append(statement)

    cache = KeyCache(engine, seconds=0.5, refresh_before=0.2)

    async def burst(n: int) -> list:
        return await asyncio.gather(*(cache.verified(plaintext) for _ in range(n)))

    async def scenario() -> None:
        found = await burst(300)
        assert all(k is not None and k.id == key_id for k in found)
        assert len(checks) == 1  # one check for 300 requests
        assert all(k is not None for k in await burst(50))
        assert len(checks) == 1  # fresh: from the cache
        await asyncio.sleep(0.35)  # in the last 0.2 s: the check is renewed in the background
        assert (await cache.verified(plaintext)) is not None
        await asyncio.sleep(0.1)
        assert len(checks) == 2
        for _ in range(20):  # refused at once, often before the check is registered as done
            assert await cache.verified("ant_not-a-key") is None
        revoke_key(engine, key_id)
        deadline = time.monotonic() + 2.0
        while await cache.verified(plaintext) is not None:
            assert time.monotonic() < deadline, "a revoked key kept working past its time"
            await asyncio.sleep(0.05)

    # in a thread of its own: a deadlock (a lock taken twice) fails the test instead of hanging it
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as err:  # reported below
            failures.append(err)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "the key cache deadlocked"
    if failures:
        raise failures[0]
    engine.dispose()
