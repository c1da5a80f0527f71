"""What scoring a forecast needs from the history up to its origin, computed when it is served.

The MASE scale (in-sample seasonal naive MAE), the mean of the last h actuals and the mean
absolute one-step change (the references of the direction label) are the quantities
`training.metrics` derives from the history at each cutoff; storing them with the forecast lets
the ledger keep accuracy as running sums instead of re-reading history and points per query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.schema import ID, TARGET, TIME
from features.trend import DEFAULT_BAND, direction_labels
from serving.frame_checks import naive_utc

__all__ = ["HistoryStats", "OriginStats", "said_labels"]


@dataclass(frozen=True)
class OriginStats:
    """Per served series (in the order of the request): the history's numbers at its origin.

    NaN where undefined: no history, a constant one (scale 0), or fewer than h points.
    """

    mase_scale: np.ndarray
    recent_mean: np.ndarray
    change_scale: np.ndarray


class HistoryStats:
    """A history (unique_id, ds, y) prepared once to give `OriginStats` at any origin and h.

    Build one per served model snapshot (from its history) and pass it with each served
    forecast; `at` costs a few microseconds per series.
    """

    def __init__(self, history: pd.DataFrame, season_length: int) -> None:
        if int(season_length) < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        missing = [c for c in (ID, TIME, TARGET) if c not in history.columns]
        if missing:
            raise ValueError(f"history lacks column(s) {missing}; it has {list(history.columns)}")
        frame = history[[ID, TIME, TARGET]].sort_values([ID, TIME], kind="stable")
        code, ids = pd.factorize(frame[ID].astype("str"))
        self.season_length = int(season_length)
        self.ds = np.asarray(frame[TIME], dtype="datetime64[ns]").view("int64")
        self.y = frame[TARGET].to_numpy(dtype="float64")
        starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]]) if len(code) else code
        self.position = np.arange(len(code)) - (starts[code] if len(code) else 0)
        self.spans = {
            str(uid): (int(a), int(b))
            for uid, a, b in zip(ids, starts, [*starts[1:], len(code)], strict=True)
        }
        self.lag = max(1, self.season_length)
        self.cum1 = _cumulative_abs_change(self.y, self.position, code, 1)
        self.cum_season = _cumulative_abs_change(self.y, self.position, code, self.lag)

    def last_rows(self, k: int) -> HistoryStats:
        """The same numbers for origins among each series' last `k` rows, and forecasts of up
        to `k` steps: a compact copy (a few rows per series instead of the whole history).

        What a served snapshot needs (its forecasts start at each series' last row); small
        enough to travel with every batch of served forecasts to the ledger's write process.
        """
        k = max(int(k), 1)
        out = object.__new__(HistoryStats)
        out.season_length, out.lag = self.season_length, self.lag
        keep = np.zeros(len(self.ds), dtype=bool)
        spans: dict[str, tuple[int, int]] = {}
        kept = 0
        for uid, (start, end) in self.spans.items():
            first = max(start, end - k)
            keep[first:end] = True
            spans[uid] = (kept, kept + end - first)
            kept += end - first
        out.spans = spans
        out.ds, out.y, out.position = self.ds[keep], self.y[keep], self.position[keep]
        out.cum1, out.cum_season = self.cum1[keep], self.cum_season[keep]
        return out

    def _row(self, unique_id: str, origin: Any) -> int:
        """The last history row of the series at or before `origin`, -1 when there is none."""
        span = self.spans.get(str(unique_id))
        if span is None:
            return -1
        start, end = span
        when = np.datetime64(naive_utc(origin, f"origin of {unique_id!r}"), "ns").view("int64")
        row = start + int(np.searchsorted(self.ds[start:end], when, side="right")) - 1
        return row if row >= start else -1

    def at(self, unique_ids: Sequence[str], horizon: int, origins: Sequence[Any]) -> OriginStats:
        """The stats of each series at its origin for forecasts of `horizon` steps."""
        rows = np.array([self._row(u, o) for u, o in zip(unique_ids, origins, strict=True)])
        rows = rows.astype("int64")
        found = rows >= 0
        safe = np.maximum(rows, 0)
        n = np.where(found, self.position[safe] + 1, 0) if len(rows) else rows
        # MASE scale: seasonal naive MAE, lag 1 when the series has season_length points or fewer
        seasonal = n > self.lag
        count = n - np.where(seasonal, self.lag, 1)
        absolute = np.where(seasonal, self.cum_season[safe], self.cum1[safe]) if len(rows) else n
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(found & (count > 0) & (absolute > 0), absolute / count, np.nan)
            change = np.where(found & (n > 1), self.cum1[safe] / (n - 1), np.nan)
        recent = np.full(len(rows), np.nan)
        h = int(horizon)
        enough = found & (h >= 1) & (n >= h)
        if enough.any():
            end = safe[enough] + 1
            bounds = np.column_stack([end - h, end]).ravel()
            recent[enough] = np.add.reduceat(np.append(self.y, 0.0), bounds)[::2] / h
        return OriginStats(
            mase_scale=scale.astype("float64"),
            recent_mean=recent,
            change_scale=change.astype("float64"),
        )


def _cumulative_abs_change(
    y: np.ndarray, position: np.ndarray, code: np.ndarray, lag: int
) -> np.ndarray:
    """Per series, the running sum of |y_t - y_{t-lag}| (as training.metrics computes it)."""
    diff = np.zeros_like(y)
    if len(y) > lag:
        diff[lag:] = y[lag:] - y[:-lag]
    diff = np.where(position >= lag, diff, 0.0)
    return pd.Series(np.abs(diff)).groupby(code).cumsum().to_numpy()


def said_labels(
    mean_forecast: np.ndarray, stats: OriginStats, band: float = DEFAULT_BAND
) -> np.ndarray:
    """The direction label code (0 down, 1 flat, 2 up, -1 unknown) each forecast announced."""
    return np.asarray(
        direction_labels(mean_forecast, stats.recent_mean, stats.change_scale, band).codes,
        dtype="int64",
    )
