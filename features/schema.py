"""The data contract, spelled once: column names, supported frequencies and frame shapes.

panel:    unique_id (str) | ds (datetime64, tz-naive) | y (float64) | exogenous...
          sorted by (unique_id, ds)
static:   unique_id (str) | attribute columns (str), one row per series
forecast: unique_id | ds | model | yhat | yhat_lo_80 | yhat_hi_80 | yhat_lo_95 | yhat_hi_95
"""

from __future__ import annotations

import pandas as pd

ID = "unique_id"
TIME = "ds"
TARGET = "y"
PANEL_COLUMNS = (ID, TIME, TARGET)

#: Column holding each series' hierarchy level (total, store, ..., series); the stored name stays
#: "level" because datasets on disk and registered bundles carry it.
HIERARCHY_LEVEL = "level"
BOTTOM_LEVEL = "series"
TOTAL_LEVEL = "total"

#: Frequencies a demand dataset can have, coarsest last, mapped to the pandas offset that labels
#: each period by its first day (weeks start on Monday, as ISO 8601 has it).
FREQUENCIES: dict[str, str] = {
    "D": "D",
    "W": "W-MON",
    "M": "MS",
    "Q": "QS-JAN",
    "Y": "YS-JAN",
}
FREQUENCY_ORDER = ("D", "W", "M", "Q", "Y")

#: Seasonal period of each frequency (the one that MASE uses to scale errors).
SEASON_LENGTH: dict[str, int] = {"D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1}


def period_start(ds: pd.Series, freq: str) -> pd.Series:
    """Label each timestamp with the first day of its period at frequency `freq` (D, W, M, Q, Y)."""
    if freq == "D":
        return ds.dt.normalize()
    period = {"W": "W-SUN", "M": "M", "Q": "Q", "Y": "Y"}[freq]
    return ds.dt.to_period(period).dt.start_time.astype(ds.dtype)


def forecast_columns(interval_levels: tuple[int, ...] | list[int]) -> list[str]:
    """Columns of a forecast frame with the bounds of each interval level (percent), in order."""
    bounds = [f"yhat_{side}_{lv}" for lv in sorted(interval_levels) for side in ("lo", "hi")]
    return [ID, TIME, "model", "yhat", *bounds]
