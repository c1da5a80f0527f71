"""Fill a SQLite ledger with served forecasts through the ledger's public functions and time
what the API does with it: the accuracy report, a 1,000-row actuals post, retention, size.

Two shapes of traffic: dashboards asking for the same series again and again (one origin per
series, the API benchmark's load) and a nightly batch (every series forecast once a night from
a new origin, its actuals posted the next day). Run it as a script for the figures:

    python tests/serving/ledger_scale.py [points]
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from serving import ledger
from serving.db import make_engine, migrate

DAY0 = pd.Timestamp("2024-01-01")
#: Requests per `log_served_many` call (the server's writer commits a batch at a time).
BATCH = 500


@dataclass(frozen=True)
class Panel:
    """History and backtest windows of `n` series (their level: every tenth is a store)."""

    ids: list[str]
    levels: list[str]
    history: pd.DataFrame
    expected: pd.DataFrame

    @classmethod
    def make(cls, n: int, days: int, seed: int = 0) -> Panel:
        rng = np.random.default_rng(seed)
        ids = [f"s{i:04d}" for i in range(n)]
        levels = ["store" if i % 10 == 0 else "series" for i in range(n)]
        y = rng.poisson(20, size=(n, days)).astype("float64")
        history = pd.DataFrame(
            {
                "unique_id": np.repeat(ids, days),
                "ds": np.tile(pd.date_range(DAY0, periods=days, freq="D"), n),
                "y": y.ravel(),
            }
        )
        cutoffs = pd.date_range(DAY0 + pd.Timedelta(days=days - 60), periods=5, freq="7D")
        expected = pd.DataFrame(
            {
                "unique_id": np.repeat(ids, 5),
                "level": np.repeat(levels, 5),
                "cutoff": np.tile(cutoffs, n),
                "mase": rng.uniform(0.5, 1.5, 5 * n),
                "wape": 0.2,
                "bias": 0.0,
                "coverage_80": 0.8,
                "coverage_95": 0.95,
                "direction_hit_rate": 0.6,
            }
        )
        return cls(ids, levels, history, expected)


def served(
    panel: Panel,
    stats: ledger.HistoryStats,
    i: int,
    origin: pd.Timestamp,
    h: int,
    rng: np.random.Generator | None = None,
) -> ledger.ServedRows:
    """One series' forecast from `origin`: a flat 20 (or noisy with `rng`), 80/95 bounds."""
    yhat = np.full(h, 20.0) if rng is None else rng.uniform(15, 25, h).round(3)
    first = np.datetime64(origin.to_pydatetime(), "D") + 1
    return ledger.ServedRows(
        unique_ids=[panel.ids[i]],
        hierarchy_levels=[panel.levels[i]],
        origins=[origin.to_pydatetime()],
        horizon=h,
        ds=np.arange(first, first + h).astype("datetime64[us]"),
        yhat=yhat,
        bounds={80: (yhat - 4, yhat + 4), 95: (yhat - 8, yhat + 8)},
        history_stats=stats,
    )


def item(rows: ledger.ServedRows) -> dict[str, Any]:
    return {"request_id": uuid.uuid4().hex, "model_name": "m", "model_version": "1", "served": rows}


def fill_repeated(engine: Engine, panel: Panel, points: int, h: int = 14) -> int:
    """Single-series requests cycling over every series from its one origin; returns requests."""
    origin = panel.history["ds"].max()
    stats = ledger.HistoryStats(panel.history, 7)
    forecasts = [served(panel, stats, i, origin, h) for i in range(len(panel.ids))]
    n = points // h
    for start in range(0, n, BATCH):
        batch = [item(forecasts[k % len(forecasts)]) for k in range(start, min(n, start + BATCH))]
        ledger.log_served_many(engine, batch)
    return n


def fill_nightly(engine: Engine, panel: Panel, points: int, h: int = 14) -> int:
    """Each night every series is forecast once from a new origin, then its actual arrives."""
    rng = np.random.default_rng(1)
    full = panel.history
    nights = max(1, points // (h * len(panel.ids)))
    start = full["ds"].max() - pd.Timedelta(days=nights)
    stats = ledger.HistoryStats(full, 7)  # each origin's stats use the history up to it
    requests = 0
    for night in range(nights):
        origin = start + pd.Timedelta(days=night)
        batch = [item(served(panel, stats, i, origin, h, rng)) for i in range(len(panel.ids))]
        for part in range(0, len(batch), BATCH):
            ledger.log_served_many(engine, batch[part : part + BATCH])
        requests += len(batch)
        ledger.upsert_actuals(engine, full[full["ds"] == origin + pd.Timedelta(days=1)])
    return requests


def request_bytes(folder: Path, requests: int, *, distinct: bool, h: int = 28) -> float:
    """Bytes per single-series request of `h` days with 80/95 bounds, before any actual:
    every forecast different (`distinct`, a new origin or values each time) or all the same."""
    path = folder / f"bytes-{distinct}.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    panel = Panel.make(1, 60)
    stats = ledger.HistoryStats(panel.history, 7)
    origin = panel.history["ds"].max()
    rng = np.random.default_rng(2) if distinct else None
    base = size_of(path, engine)
    for start in range(0, requests, BATCH):
        count = min(BATCH, requests - start)
        ledger.log_served_many(
            engine, [item(served(panel, stats, 0, origin, h, rng)) for _ in range(count)]
        )
    out = (size_of(path, engine) - base) / requests
    engine.dispose()
    return out


def size_of(path: Path, engine: Engine) -> int:
    """Bytes of the SQLite file after a checkpoint (the WAL folded in)."""
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path)


def timed(action: Any, repeat: int = 5) -> float:
    """The best of `repeat` runs of `action()`, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def measure(folder: Path, points: int, shape: str, n_series: int = 700) -> dict[str, float]:
    """Fill a ledger of `shape` ("repeated" or "nightly") and time the operations on it."""
    path = folder / f"{shape}.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    panel = Panel.make(n_series, 400)
    base = size_of(path, engine)
    started = time.perf_counter()
    fill = fill_repeated if shape == "repeated" else fill_nightly
    requests = fill(engine, panel, points)
    out: dict[str, float] = {"fill_s": time.perf_counter() - started, "requests": requests}
    out["bytes_per_request"] = (size_of(path, engine) - base) / requests
    counts = ledger.ledger_counts(engine)
    out["served_points"] = counts["served_points"]
    last = panel.history["ds"].max()
    days = [last + pd.Timedelta(days=k) for k in (1, 2)]
    post = pd.DataFrame(
        {
            "unique_id": np.repeat(panel.ids[:500], 2),
            "ds": days * 500,
            "y": np.arange(1000, dtype="float64"),
        }
    )
    started = time.perf_counter()
    result = ledger.upsert_actuals(engine, post)
    out["upsert_1000_s"] = time.perf_counter() - started
    out["upsert_scored_points"] = result.scored_points
    backtest = ledger.Backtest(panel.expected)
    out["accuracy_report_s"] = timed(lambda: ledger.accuracy_report(engine, expected=backtest))
    out["accuracy_report_frame_s"] = timed(
        lambda: ledger.accuracy_report(engine, expected=panel.expected), repeat=3
    )
    one = panel.ids[:1]
    out["series_anticipation_s"] = timed(
        lambda: ledger.series_anticipation(engine, one, expected=backtest)
    )
    before = ledger.accuracy_report(engine, expected=backtest)
    cutoff = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    started = time.perf_counter()
    out["pruned_points"] = ledger.prune_served(engine, older_than=cutoff)
    out["prune_s"] = time.perf_counter() - started
    after = ledger.accuracy_report(engine, expected=backtest)
    pd.testing.assert_frame_equal(before.by_series.realized, after.by_series.realized)
    engine.dispose()
    return out


if __name__ == "__main__":
    import tempfile

    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as scratch:
        for distinct in (False, True):
            kind = "all different" if distinct else "the same forecast"
            size = request_bytes(Path(scratch), 5000, distinct=distinct)
            print(f"bytes per request (28 days, 80/95, one series, {kind}): {size:.0f}")
        for kind in ("repeated", "nightly"):
            figures = measure(Path(scratch), total, kind)
            print(kind, {k: round(v, 4) for k, v in figures.items()})
