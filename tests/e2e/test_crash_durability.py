"""Crash durability: `kill -9` of a real `anticipate serve` while writers post actuals, 5 times.

Every row whose post was answered 200 must be in the SQLite ledger after the kill with the value
acknowledged last (or the value of a post of it in flight at the kill), and the ledger must pass
`PRAGMA integrity_check`. `make soak` runs the same with 50 cycles (benchmarks/reliability.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.reliability import KillReport, Store, kill_cycles, prepare_store

pytestmark = pytest.mark.slow
CYCLES = 5


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The small demo model (10 series, 150 days), trained once for the module."""
    return prepare_store(tmp_path_factory.mktemp("crash") / "store")


@pytest.fixture(scope="module")
def report(store: Store) -> KillReport:
    """Five kills; cycles 2-5 start on the ledger the kill before left (no extra restart)."""
    logs = store.root / "logs"
    return kill_cycles(
        store, CYCLES, logs=logs, seed=7, kill_window=(0.5, 2.0), final_restart=False, log=print
    )


def test_no_acknowledged_row_is_lost_across_kill_9(report: KillReport) -> None:
    assert len(report.cycles) == CYCLES
    assert all(c.posts_acked > 0 for c in report.cycles), [c.posts_acked for c in report.cycles]
    assert report.lost == {}, report.lost
    assert report.integrity_ok, [c.integrity for c in report.cycles]


def test_no_5xx_and_no_connection_error_before_a_kill(report: KillReport) -> None:
    answers = [a for c in report.cycles for a in c.answers]
    assert report.total("status_5xx") == 0, answers
    assert report.total("status_4xx") == 0, answers
    assert report.total("errors_before_kill") == 0, answers


def test_every_restart_after_a_kill_got_ready_without_an_error(report: KillReport) -> None:
    assert all(c.ready_s > 0 for c in report.cycles)
    assert report.log_problems == [], report.log_problems[:10]


def test_every_group_was_gone_before_the_next_start(report: KillReport, store: Store) -> None:
    """No child outlived a kill (kill_cycles raises if one survives 30 s); logs are kept."""
    assert all(c.gone_s < 30 for c in report.cycles)
    assert len(list(Path(store.root / "logs").glob("kill-*.log"))) == CYCLES
