"""Autoregressive features of the target: lags, rolling statistics and exponential averages.

Every feature for a row forecast `h` periods ahead uses y up to h periods before that row (the
forecast origin) and never crosses into another series. Rows are periods of a regular grid, so
shifting by k rows is shifting by k periods; the panel must be sorted by (unique_id, ds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.errors import MAX_LISTED, DataError
from features.schema import ID, TARGET, TIME

ROLLING_STATS = ("mean", "std", "min", "max")
_KNOWN_STATS = frozenset({"mean", "std", "var", "min", "max", "sum", "median"})


def series_codes(panel: pd.DataFrame) -> np.ndarray:
    """Integer code of each row's series (0, 1, ... in row order), checking the panel's order.

    Each series' rows must be contiguous and strictly increasing in ds, as the canonical panel is.
    """
    missing = [c for c in (ID, TIME) if c not in panel.columns]
    if missing:
        raise DataError(f"The panel lacks column(s) {missing}; it needs {ID} and {TIME}.")
    ids = panel[ID].to_numpy()
    new_series = ids[1:] != ids[:-1]
    codes = np.concatenate(([0], np.cumsum(new_series))).astype(np.int64)[: len(ids)]
    if len(ids) and codes[-1] + 1 != pd.unique(ids).size:
        raise DataError(f"The panel's rows are not grouped by {ID}: sort it by ({ID}, {TIME}).")
    ds = panel[TIME].to_numpy()
    unsorted = ~new_series & (ds[1:] <= ds[:-1])
    if unsorted.any():
        bad = pd.unique(ids[1:][unsorted])[:MAX_LISTED]
        raise DataError(
            f"Dates are not strictly increasing within series {', '.join(map(repr, bad))}: "
            f"sort the panel by ({ID}, {TIME}) and drop duplicate dates."
        )
    return codes


def shift_within(values: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """`values` moved k rows later within each series (NaN where that reaches before its start)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    if 0 < k < len(values):
        out[k:] = values[:-k]
        out[k:][codes[k:] != codes[:-k]] = np.nan
    elif k == 0:
        out[:] = values
    return out


def _target(panel: pd.DataFrame) -> np.ndarray:
    """The target as a float array (missing values as NaN)."""
    if TARGET not in panel.columns:
        raise DataError(f"The panel lacks the target column {TARGET!r}.")
    return panel[TARGET].to_numpy(dtype=np.float64, na_value=np.nan)


def check_horizon(h: int) -> None:
    """Refuse a horizon that is not a positive integer."""
    if isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1:
        raise ValueError(f"h must be a positive integer number of periods, got {h!r}.")


def _positive_ints(values: Sequence[int], what: str) -> list[int]:
    """Distinct positive integers in the order given, or a ValueError naming the bad ones."""
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1]
    if bad:
        raise ValueError(f"{what} must be positive integers, got {bad}.")
    return list(dict.fromkeys(int(v) for v in values))


def check_lags(lags: Sequence[int], h: int) -> list[int]:
    """Validated lags: a lag below the horizon h would read y after the forecast origin."""
    check_horizon(h)
    lags = _positive_ints(lags, "lags")
    early = [k for k in lags if k < h]
    if early:
        raise ValueError(
            f"Lags {early} are smaller than the horizon h={h}: they would use the future (y after "
            f"the forecast origin). Use lags >= {h}."
        )
    return lags


def lag_features(panel: pd.DataFrame, lags: Sequence[int], *, h: int = 1) -> pd.DataFrame:
    """Columns y_lag_{k}: y k periods earlier in the same series; every k must be >= h."""
    lags = check_lags(lags, h)
    codes = series_codes(panel)
    y = _target(panel)
    return pd.DataFrame({f"y_lag_{k}": shift_within(y, codes, k) for k in lags}, index=panel.index)


def rolling_features(
    panel: pd.DataFrame,
    windows: Sequence[int],
    *,
    h: int = 1,
    stats: Sequence[str] = ROLLING_STATS,
    min_periods: int | None = None,
) -> pd.DataFrame:
    """Columns y_roll_{stat}_{w}: statistics of y over the w periods ending h before the row.

    Windows need `min_periods` observed values (default: all w) or give NaN; std has ddof=1.
    """
    check_horizon(h)
    windows = _positive_ints(windows, "windows")
    unknown = [s for s in stats if s not in _KNOWN_STATS]
    if unknown:
        raise ValueError(f"Unknown rolling stats {unknown}: use some of {sorted(_KNOWN_STATS)}.")
    codes = series_codes(panel)
    past = pd.Series(shift_within(_target(panel), codes, h))
    columns: dict[str, np.ndarray] = {}
    for w in windows:
        periods = w if min_periods is None else min(min_periods, w)
        rolling = past.groupby(codes, sort=True).rolling(w, min_periods=periods)
        for stat in stats:
            # codes increase with the row order, so the grouped result is already in row order
            columns[f"y_roll_{stat}_{w}"] = getattr(rolling, stat)().to_numpy()
    return pd.DataFrame(columns, index=panel.index)


def ewm_features(panel: pd.DataFrame, alphas: Sequence[float], *, h: int = 1) -> pd.DataFrame:
    """Columns y_ewm_{alpha}: exponentially weighted mean of y up to h periods before the row."""
    check_horizon(h)
    bad = [a for a in alphas if not 0.0 < a <= 1.0]
    if bad:
        raise ValueError(f"EWM alphas must lie in (0, 1], got {bad}.")
    codes = series_codes(panel)
    past = pd.Series(shift_within(_target(panel), codes, h))
    columns = {
        f"y_ewm_{alpha:g}": past.groupby(codes, sort=True).ewm(alpha=alpha).mean().to_numpy()
        for alpha in dict.fromkeys(alphas)
    }
    return pd.DataFrame(columns, index=panel.index)
