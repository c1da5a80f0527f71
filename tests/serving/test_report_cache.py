"""Accuracy reports: one computation for simultaneous requests, reused for a moment only."""

from __future__ import annotations

import threading
import time

import pytest

from serving.report_cache import ReportCache


def test_simultaneous_requests_share_one_computation() -> None:
    cache = ReportCache(seconds=10.0)
    calls: list[int] = []
    started = threading.Event()

    def slow() -> int:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return len(calls)

    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(cache.get("all", slow))) for _ in range(8)
    ]
    threads[0].start()
    started.wait(5)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert answers == [1] * 8 and len(calls) == 1
    assert cache.get("other", slow) == 2  # another key is computed on its own


def test_a_report_is_reused_for_its_seconds_then_computed_again() -> None:
    cache = ReportCache(seconds=0.2)
    counter = iter(range(100))
    first = cache.get("k", lambda: next(counter))
    assert cache.get("k", lambda: next(counter)) == first
    time.sleep(0.3)
    assert cache.get("k", lambda: next(counter)) == first + 1


def test_a_failed_computation_is_not_kept() -> None:
    cache = ReportCache(seconds=10.0)

    def broken() -> int:
        raise RuntimeError("ledger unavailable")

    with pytest.raises(RuntimeError, match="ledger unavailable"):
        cache.get("k", broken)
    assert cache.get("k", lambda: 7) == 7
