"""Small served-forecast frames and histories with hand-checkable numbers, shared by the
anticipation tests and the ledger tests that hold the ledger to the same numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY0 = pd.Timestamp("2024-01-01")
#: History of series "a" up to its origin (day 6). Season 1: the MASE scale is the mean absolute
#: one-step change: |2| + |-1| + |2| + |-1| + |2| + |-1| = 9 over 6 changes = 1.5.
BASE = [10.0, 12.0, 11.0, 13.0, 12.0, 14.0, 13.0]
SCALE = 1.5
ORIGIN = 6
REALIZED_COLUMNS = [
    "n_forecasts",
    "n_points",
    "mase",
    "wape",
    "bias",
    "coverage_80",
    "coverage_95",
    "direction_hit_rate",
]

# One forecast from day 6 over days 7..9: yhat 14, 15, 18 against actuals 15, 13, 17.
YHAT = [14.0, 15.0, 18.0]
Y = [15.0, 13.0, 17.0]


def day(i: int) -> pd.Timestamp:
    """The i-th day after DAY0."""
    return DAY0 + pd.Timedelta(days=i)


def history_of(series: dict[str, list[float]]) -> pd.DataFrame:
    """A daily panel from DAY0, one list of actuals per series."""
    return pd.DataFrame(
        {
            "unique_id": [uid for uid, values in series.items() for _ in values],
            "ds": [day(i) for values in series.values() for i in range(len(values))],
            "y": [float(v) for values in series.values() for v in values],
        }
    )


def served_points(
    uid: str,
    request: str,
    yhat: list[float],
    y: list[float],
    *,
    origin: int = ORIGIN,
    level: str = "item",
    version: str = "1",
    w80: float = 1.0,
    w95: float = 3.0,
) -> pd.DataFrame:
    """The served points of one forecast from day `origin`, bounds yhat -/+ w80 and w95."""
    f = np.asarray(yhat, dtype="float64")
    steps = np.arange(1, len(f) + 1)
    return pd.DataFrame(
        {
            "unique_id": uid,
            "level": level,
            "model_version": version,
            "request_id": request,
            "cutoff": day(origin),
            "served_at": day(origin) + pd.Timedelta(hours=9),
            "step": steps,
            "ds": [day(origin + s) for s in steps],
            "yhat": f,
            "yhat_lo_80": f - w80,
            "yhat_hi_80": f + w80,
            "yhat_lo_95": f - w95,
            "yhat_hi_95": f + w95,
            "y": np.asarray(y, dtype="float64"),
        }
    )


def row_of(frame: pd.DataFrame, **where: object) -> pd.Series:
    """The single row of `frame` matching `where`."""
    mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
    assert mask.sum() == 1, frame
    return frame.loc[mask].iloc[0]


def label(mean: float, reference: float, band: float = 0.05) -> str:
    """DESIGN.md's direction label of a mean against a positive reference mean."""
    if mean / reference > 1 + band:
        return "up"
    if mean / reference < 1 - band:
        return "down"
    return "flat"


def panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Series a (item, v1), b (item, v2) and t (total, v1), one 3-step forecast each."""
    b_base = [20.0, 24.0, 22.0, 26.0, 24.0, 28.0, 26.0]  # twice a: scale 3, reference 26
    points = pd.concat(
        [
            served_points("a", "r1", YHAT, Y),
            served_points("b", "r2", [26.0, 26.0, 26.0], [30.0, 32.0, 34.0], version="2"),
            served_points("t", "r1", [30.0, 30.0, 30.0], [30.0, 31.0, 29.0], level="total"),
        ],
        ignore_index=True,
    )
    history = history_of(
        {"a": BASE + Y, "b": [*b_base, 30.0, 32.0, 34.0], "t": [*BASE, 30.0, 31.0, 29.0]}
    )
    return points, history


def windows(uid: str, mases: list[float], level: str = "item") -> pd.DataFrame:
    """Backtest windows of one series with the given MASE values (other metrics filler)."""
    return pd.DataFrame(
        {
            "unique_id": uid,
            "level": level,
            "cutoff": [day(-30 + 3 * i) for i in range(len(mases))],
            "mase": mases,
            "wape": 0.1,
            "bias": 0.0,
            "coverage_80": 0.8,
            "coverage_95": 0.95,
            "direction_hit_rate": 1.0,
        }
    )


def served(
    errors: list[float], y: float = 10.0, uid: str = "a", **kw: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One forecast of len(errors) steps from day 6 with actuals y and yhat = y + error."""
    actuals = [y] * len(errors)
    points = served_points(uid, "r1", [y + e for e in errors], actuals, **kw)
    return points, history_of({uid: BASE + actuals})
