"""Retention: pruning old served requests keeps the accuracy they earned and every actual, on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pg_cluster import empty_engine, postgres_url
from sqlalchemy import Engine

from serving import ledger
from serving.db import make_engine, migrate

__all__ = ["postgres_url"]

HISTORY = pd.DataFrame(
    {
        "unique_id": np.repeat(["a", "b"], 10),
        "ds": np.tile(pd.date_range("2025-01-01", periods=10, freq="D"), 2),
        "y": np.r_[np.arange(10.0, 20.0), np.arange(30.0, 10.0, -2.0)],
    }
)
STATS = ledger.HistoryStats(HISTORY, 2)
EXPECTED = pd.DataFrame(
    {
        "unique_id": ["a", "a", "b", "b"],
        "level": "series",
        "cutoff": pd.to_datetime(["2024-12-01", "2024-12-08"] * 2),
        "mase": [0.5, 0.7, 1.0, 1.2],
        "wape": 0.1,
    }
)
OLD = dt.datetime(2025, 1, 10, 12)
NEW = dt.datetime(2025, 1, 20, 12)
CUTOFF = dt.datetime(2025, 1, 15)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = empty_engine(request, tmp_path)
    migrate(engine)
    yield engine
    engine.dispose()


def serve(engine: Engine, uid: str, origin_day: int, at: dt.datetime, shift: float = 0.0) -> str:
    """One 4-day forecast of `uid` from 2025-01-{origin_day}, served at `at`."""
    origin = dt.datetime(2025, 1, origin_day)
    yhat = np.array([15.0, 16.0, 17.0, 18.0]) + shift
    rows = ledger.ServedRows(
        [uid],
        ["series"],
        [origin],
        4,
        [origin + dt.timedelta(days=k) for k in range(1, 5)],
        yhat,
        {80: (yhat - 2, yhat + 2)},
        history_stats=STATS,
        served_at=at,
    )
    request_id = uuid.uuid4().hex
    ledger.log_served(engine, request_id, "m", "1", rows)
    return request_id


def post(engine: Engine, uid: str, days: range) -> None:
    values = HISTORY[HISTORY["unique_id"] == uid].set_index("ds")["y"]
    ledger.upsert_actuals(
        engine,
        pd.DataFrame(
            {
                "unique_id": uid,
                "ds": [pd.Timestamp(2025, 1, d) for d in days],
                "y": [float(values.get(pd.Timestamp(2025, 1, d), 7.0)) for d in days],
            }
        ),
    )


def history(engine: Engine) -> list[pd.DataFrame]:
    """Serve old and new requests: a forecast only old ones used, one both used, one new."""
    serve(engine, "a", 5, OLD)  # old only, fully scored below
    serve(engine, "b", 5, OLD)
    serve(engine, "b", 5, NEW)  # the same forecast again, after the cutoff
    serve(engine, "a", 6, NEW, shift=1.0)
    post(engine, "a", range(6, 10))
    post(engine, "b", range(6, 8))
    return [
        getattr(ledger.accuracy_report(engine, expected=EXPECTED), name).realized
        for name in ("overall", "by_series", "by_step")
    ]


def test_pruning_keeps_every_accuracy_answer_and_every_actual(engine: Engine) -> None:
    """Reports, drift and actuals are unchanged; the audit loses the old requests only."""
    before = history(engine)
    report = ledger.accuracy_report(engine, expected=EXPECTED)
    actuals, mark = ledger.actuals_frame(engine), ledger.actuals_mark(engine)
    assert ledger.prune_served(engine, older_than=CUTOFF, batch=1) == 2 * 4
    counts = ledger.ledger_counts(engine)
    assert (counts["requests"], counts["forecasts"], counts["served_points"]) == (2, 2, 8)
    after = ledger.accuracy_report(engine, expected=EXPECTED)
    for name in ("overall", "by_series", "by_level", "by_model_version", "by_step"):
        pd.testing.assert_frame_equal(getattr(after, name).realized, getattr(report, name).realized)
        if getattr(report, name).drift is not None:
            pd.testing.assert_frame_equal(getattr(after, name).drift, getattr(report, name).drift)
    pd.testing.assert_frame_equal(ledger.actuals_frame(engine), actuals)
    assert ledger.actuals_mark(engine) == mark
    audit = ledger.served_history(engine, "b", NEW)
    assert audit["served_at"].unique().tolist() == [pd.Timestamp(NEW)]
    assert ledger.served_history(engine, "a", OLD).empty
    assert before[0]["n_forecasts"].tolist() == [4]
    assert ledger.prune_served(engine, older_than=CUTOFF) == 0


def test_a_pruned_ledger_scores_new_actuals_like_an_unpruned_one(tmp_path: Path) -> None:
    """A forecast also served after the cutoff keeps every request's weight in later scores."""
    reports = []
    for pruned in (False, True):
        engine = make_engine(f"sqlite:///{tmp_path / f'{pruned}.db'}")
        migrate(engine)
        history(engine)
        if pruned:
            ledger.prune_served(engine, older_than=CUTOFF)
        post(engine, "b", range(8, 10))
        reports.append(ledger.accuracy_report(engine, expected=EXPECTED))
        engine.dispose()
    for name in ("overall", "by_series", "by_step"):
        pd.testing.assert_frame_equal(
            getattr(reports[0], name).realized, getattr(reports[1], name).realized
        )
    assert reports[1].by_series.realized.set_index("unique_id")["n_forecasts"]["b"] == 2


def test_prune_names_a_bad_cutoff_or_batch(engine: Engine) -> None:
    with pytest.raises(ValueError, match="older_than is missing"):
        ledger.prune_served(engine, older_than=None)
    with pytest.raises(ValueError, match="batch must be at least 1, got 0"):
        ledger.prune_served(engine, older_than=CUTOFF, batch=0)
