"""Forecast accuracy metrics: one pure function per metric, vectorised over all series at once.

Each function takes a long frame `df` (unique_id, ds, y, yhat; optionally model, cutoff and the
bounds yhat_lo_L / yhat_hi_L) and returns one row per unique_id (x model x cutoff when present)
with a column named after the metric. Rows whose y or yhat is missing are left out.

Scaled metrics also take `train`, the history (unique_id, ds, y on a regular grid). With a
`cutoff` column only rows with ds <= cutoff count, per cutoff; without one, only rows before the
series' first forecast date, so the full history can be passed without leaking. The scale is the
in-sample error of the seasonal naive forecast (lag m = season_length): mean |y_t - y_{t-m}| for
MASE and pinball, mean (y_t - y_{t-m})^2 for RMSSE. A series with m or fewer training points uses
lag 1; with fewer than 2 points, or a scale of 0 (constant or exactly repeating training data),
the scale is undefined, so its scaled metrics are NaN and left out of averages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.schema import ID, TARGET, TIME
from features.trend import DEFAULT_BAND, direction_labels

# The forecast-frame names of training.base, repeated because metrics is a leaf module.
MODEL = "model"
YHAT = "yhat"
CUTOFF = "cutoff"
STEP = "step"
_BOUND = re.compile(r"yhat_lo_(\d+)")

Parts = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A named metric: a kernel giving per-group (numerator, denominator) and how to pool it.

    value = numerator / denominator (its square root when `root`). `pooled` metrics are
    summarised over all points (sum of numerators / sum of denominators); the others are
    averaged over series.
    """

    name: str
    kernel: Callable[[Scoring], Parts]
    pooled: bool = False
    root: bool = False
    needs_train: bool = False


def _datetimes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Timestamps as int64 nanoseconds, whatever their unit."""
    return np.asarray(values, dtype="datetime64[ns]").view("int64")


def _factorize(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Group code of each row over `columns` and the sorted key of each group."""
    codes, uniques = zip(*(pd.factorize(frame[c], sort=True) for c in columns), strict=True)
    sizes = [max(len(u), 1) for u in uniques]
    inverse, groups = pd.factorize(np.ravel_multi_index(codes, sizes), sort=True)
    parts = np.unravel_index(groups, sizes)
    keys = pd.DataFrame({c: u.take(p) for c, u, p in zip(columns, uniques, parts, strict=True)})
    return inverse, keys


class _History:
    """Training series sorted by (unique_id, ds) with per-series cumulative naive errors."""

    def __init__(self, train: pd.DataFrame, season_length: int) -> None:
        frame = train[[ID, TIME, TARGET]]
        code, ids = pd.factorize(frame[ID])
        ds = _datetimes(frame[TIME])
        same = code[1:] == code[:-1]
        if (np.diff(code) < 0).any() or (np.diff(ds)[same] <= 0).any():
            frame = frame.sort_values([ID, TIME], ignore_index=True)
            code, ids = pd.factorize(frame[ID])
            ds = _datetimes(frame[TIME])
        self.ids, self.code, self.ds = ids, code, ds
        self.y = frame[TARGET].to_numpy(dtype="float64")
        starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        self.position = np.arange(len(code)) - starts[code]
        self.lags = sorted({1, season_length})
        self.cum = {lag: self._cumulative_errors(lag) for lag in self.lags}

    def _cumulative_errors(self, lag: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-series running sums of |y_t - y_{t-lag}| and of its square."""
        valid = self.position >= lag
        diff = np.zeros_like(self.y)
        diff[lag:] = self.y[lag:] - self.y[:-lag]
        diff = np.where(valid, diff, 0.0)
        sums = pd.DataFrame({"a": np.abs(diff), "s": diff**2}).groupby(self.code).cumsum()
        return sums["a"].to_numpy(), sums["s"].to_numpy()

    def last_row(self, ids: pd.Series | np.ndarray, times: np.ndarray, strict: bool) -> np.ndarray:
        """Index of each series' last row at or before (`strict`: before) `times`, -1 if none."""
        code = self.ids.get_indexer(ids)
        grid = np.unique(np.concatenate([self.ds, times]))
        width = len(grid) + 1
        history_key = self.code * width + np.searchsorted(grid, self.ds)
        query_key = code * width + np.searchsorted(grid, times)
        row = np.searchsorted(history_key, query_key, side="left" if strict else "right") - 1
        found = (code >= 0) & (row >= 0) & (self.code[np.maximum(row, 0)] == code)
        return np.where(found, row, -1)

    def scales(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """In-sample seasonal naive MAE and MSE up to `row` (lag 1 if short, NaN if undefined)."""
        safe = np.maximum(row, 0)
        n = np.where(row >= 0, self.position[safe] + 1, 0)
        lag = np.where(n > self.lags[-1], self.lags[-1], 1)
        count = n - lag
        absolute = np.where(lag == 1, self.cum[1][0][safe], self.cum[self.lags[-1]][0][safe])
        squared = np.where(lag == 1, self.cum[1][1][safe], self.cum[self.lags[-1]][1][safe])
        with np.errstate(divide="ignore", invalid="ignore"):
            mae = np.where((count > 0) & (absolute > 0), absolute / count, np.nan)
            mse = np.where((count > 0) & (squared > 0), squared / count, np.nan)
        return mae, mse

    def change_scale(self, row: np.ndarray) -> np.ndarray:
        """In-sample mean absolute one-step change up to `row` (NaN with fewer than 2 points)."""
        safe = np.maximum(row, 0)
        count = np.where(row >= 0, self.position[safe], 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, self.cum[1][0][safe] / count, np.nan)

    def trailing_mean(self, row: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Mean of the last h values up to `row` (NaN when the series has fewer than h there)."""
        ok = (row >= 0) & (h >= 1) & (self.position[np.maximum(row, 0)] + 1 >= h)
        end = np.where(ok, row + 1, 0)
        bounds = np.column_stack([np.where(ok, end - h, 0), end]).ravel()
        sums = np.add.reduceat(np.append(self.y, 0.0), bounds)[::2] if len(bounds) else 0.0
        return np.where(ok, sums / np.maximum(h, 1), np.nan)


class Scoring:
    """The rows of a forecast frame cut into groups, with what the metric kernels share.

    Groups are the distinct values of the `by` columns present in `df`; scales are taken per
    (unique_id, cutoff) whatever the groups, so a group may span several cutoffs.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        by: Sequence[str] = (ID, MODEL, CUTOFF),
        *,
        train: pd.DataFrame | None = None,
        season_length: int | None = None,
        interval_levels: Sequence[int] | None = None,
        band: float = DEFAULT_BAND,
    ) -> None:
        keep = np.isfinite(df[TARGET].to_numpy(dtype="float64"))
        keep &= np.isfinite(df[YHAT].to_numpy(dtype="float64"))
        self.df = df if keep.all() else df.loc[keep].reset_index(drop=True)
        self.by = [c for c in by if c in df.columns]
        self.codes, self.keys = _factorize(self.df, self.by)
        self.n = len(self.keys)
        self.y = self.df[TARGET].to_numpy(dtype="float64")
        self.f = self.df[YHAT].to_numpy(dtype="float64")
        self.error = self.f - self.y
        self.train, self.season_length, self.band = train, season_length, band
        present = sorted(int(m.group(1)) for c in df.columns if (m := _BOUND.fullmatch(c)))
        present = [lv for lv in present if f"yhat_hi_{lv}" in df.columns]
        wanted = present if interval_levels is None else interval_levels
        self.interval_levels = [int(lv) for lv in wanted]

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-group sums of a per-row array."""
        return np.bincount(self.codes, weights=values, minlength=self.n)

    def bounds(self, interval_level: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper interval bound at `interval_level` percent per row."""
        low, high = f"yhat_lo_{interval_level}", f"yhat_hi_{interval_level}"
        if low not in self.df.columns or high not in self.df.columns:
            raise ValueError(f"the forecast frame lacks the interval columns {low!r}/{high!r}")
        return self.df[low].to_numpy(dtype="float64"), self.df[high].to_numpy(dtype="float64")

    @cached_property
    def history(self) -> _History:
        """The training data, prepared once."""
        if self.train is None or self.train.empty:
            raise ValueError("scaled metrics and the direction hit rate need a non-empty `train`")
        if self.season_length is not None and int(self.season_length) < 1:
            raise ValueError(f"season_length must be >= 1, got {self.season_length}")
        return _History(self.train, int(self.season_length or 1))

    @cached_property
    def origin(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row, its (unique_id, cutoff) origin; per origin, the last training row."""
        has_cutoff = CUTOFF in self.df.columns
        codes, keys = _factorize(self.df, [ID, CUTOFF] if has_cutoff else [ID])
        if has_cutoff:
            times = _datetimes(keys[CUTOFF])
        else:  # the origin is just before the series' first forecast date
            first = np.full(len(keys), np.iinfo(np.int64).max)
            np.minimum.at(first, codes, _datetimes(self.df[TIME]))
            times = first
        return codes, self.history.last_row(keys[ID].to_numpy(), times, strict=not has_cutoff)

    @cached_property
    def row_scales(self) -> tuple[np.ndarray, np.ndarray]:
        """Seasonal naive in-sample MAE and MSE of each row's origin."""
        if self.season_length is None:
            raise ValueError("scaled metrics need `season_length`")
        codes, rows = self.origin
        mae, mse = self.history.scales(rows)
        return mae[codes], mse[codes]

    def group_origin(self) -> np.ndarray:
        """The last training row of each group's origin (groups must not span cutoffs)."""
        if CUTOFF in self.df.columns and CUTOFF not in self.by:
            raise ValueError("direction hit rate needs groups within one cutoff")
        codes, rows = self.origin
        representative = np.zeros(self.n, dtype=np.int64)
        representative[self.codes] = np.arange(len(self.codes))
        return rows[codes[representative]]


def _counted(s: Scoring, values: np.ndarray, scale: np.ndarray | float = 1.0) -> Parts:
    """Per group, the sum of the finite values / `scale` and how many there are."""
    with np.errstate(divide="ignore", invalid="ignore"):
        values = values / scale
    ok = np.isfinite(values)
    return s.sum(np.where(ok, values, 0.0)), s.sum(ok.astype("float64"))


def _smape_terms(s: Scoring) -> np.ndarray:
    """200 |y - f| / (|y| + |f|) per row, 0 where both are 0."""
    total = np.abs(s.y) + np.abs(s.f)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 200.0 * np.abs(s.error) / total, 0.0)


def _pinball_parts(s: Scoring, scale: np.ndarray | float) -> Parts:
    """Summed pinball loss / `scale` over both bounds of every interval level, and the term count.

    The bounds of interval level L are the quantiles q = (1 - L/100) / 2 and 1 - q; the loss of a
    bound b is q (y - b) when y >= b and (1 - q) (b - y) otherwise.
    """
    total, count = np.zeros(s.n), np.zeros(s.n)
    for interval_level in s.interval_levels:
        q_low = (1 - interval_level / 100) / 2
        for q, bound in zip((q_low, 1 - q_low), s.bounds(interval_level), strict=True):
            gap = s.y - bound
            num, den = _counted(s, np.maximum(q * gap, (q - 1) * gap), scale)
            total, count = total + num, count + den
    return total, count


def _coverage(interval_level: int) -> Callable[[Scoring], Parts]:
    def kernel(s: Scoring) -> Parts:
        low, high = s.bounds(interval_level)
        ok = np.isfinite(low) & np.isfinite(high)
        inside = ok & (low <= s.y) & (s.y <= high)
        return s.sum(inside.astype("float64")), s.sum(ok.astype("float64"))

    return kernel


def _direction(s: Scoring) -> Parts:
    row = s.group_origin()
    h = np.bincount(s.codes, minlength=s.n)
    forecast, actual = s.sum(s.f) / h, s.sum(s.y) / h
    recent = s.history.trailing_mean(row, h)
    scale = s.history.change_scale(row)
    said = direction_labels(forecast, recent, scale, s.band).codes
    happened = direction_labels(actual, recent, scale, s.band).codes
    labelled = (said >= 0) & (happened >= 0)
    return (labelled & (said == happened)).astype("float64"), labelled.astype("float64")


def coverage_metric(interval_level: int) -> Metric:
    """The `coverage_L` metric: share of actuals inside the L % interval."""
    return Metric(f"coverage_{int(interval_level)}", _coverage(int(interval_level)), pooled=True)


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("mase", lambda s: _counted(s, np.abs(s.error), s.row_scales[0]), needs_train=True),
        Metric(
            "rmsse", lambda s: _counted(s, s.error**2, s.row_scales[1]), root=True, needs_train=True
        ),
        Metric("smape", lambda s: _counted(s, _smape_terms(s))),
        Metric("wape", lambda s: (s.sum(np.abs(s.error)), s.sum(np.abs(s.y))), pooled=True),
        Metric("mae", lambda s: _counted(s, np.abs(s.error))),
        Metric("rmse", lambda s: _counted(s, s.error**2), root=True),
        Metric("bias", lambda s: (s.sum(s.error), s.sum(s.y)), pooled=True),
        Metric("pinball", lambda s: _pinball_parts(s, s.row_scales[0]), needs_train=True),
        coverage_metric(80),
        coverage_metric(95),
        Metric("direction_hit_rate", _direction, pooled=True, needs_train=True),
    )
}
#: Helpers scored with the same machinery but not reported under their own name.
MEAN_ERROR = Metric("mean_error", lambda s: _counted(s, s.error))
PINBALL_LOSS = Metric("pinball_loss", lambda s: _pinball_parts(s, 1.0))


def get_metric(name: str) -> Metric:
    """The metric called `name`: one of METRICS, or coverage_L for a level L in (0, 100) percent."""
    if name in METRICS:
        return METRICS[name]
    match = re.fullmatch(r"coverage_(\d+)", name)
    if match and 0 < int(match.group(1)) < 100:
        return coverage_metric(int(match.group(1)))
    raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)} or coverage_L")


def finish(metric: Metric, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Metric values from per-group parts: NaN where the denominator is 0 (undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(denominator > 0, numerator / denominator, np.nan)
    return np.sqrt(value) if metric.root else value


def _table(metric: Metric, df: pd.DataFrame, **context: object) -> pd.DataFrame:
    """One metric per unique_id (x model x cutoff) as a frame with a column named after it."""
    scoring = Scoring(df, **context)  # type: ignore[arg-type]
    value = finish(metric, *metric.kernel(scoring))
    return scoring.keys.assign(**{metric.name: value})


def mase(df: pd.DataFrame, train: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Mean absolute scaled error (Hyndman & Koehler 2006): MAE / in-sample seasonal naive MAE."""
    return _table(METRICS["mase"], df, train=train, season_length=season_length)


def rmsse(df: pd.DataFrame, train: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Root mean squared scaled error (M5): sqrt(MSE / in-sample seasonal naive MSE)."""
    return _table(METRICS["rmsse"], df, train=train, season_length=season_length)


def smape(df: pd.DataFrame) -> pd.DataFrame:
    """Symmetric MAPE as in M3, in percent: mean of 200 |y - f| / (|y| + |f|), 0/0 taken as 0."""
    return _table(METRICS["smape"], df)


def wape(df: pd.DataFrame) -> pd.DataFrame:
    """Weighted absolute percentage error: sum |y - f| / sum |y| (NaN when all actuals are 0)."""
    return _table(METRICS["wape"], df)


def mae(df: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error, in the units of y."""
    return _table(METRICS["mae"], df)


def rmse(df: pd.DataFrame) -> pd.DataFrame:
    """Root mean squared error, in the units of y."""
    return _table(METRICS["rmse"], df)


def bias(df: pd.DataFrame) -> pd.DataFrame:
    """Relative bias mean(f - y) / mean(y); positive means over-forecast (NaN when mean(y) is 0)."""
    return _table(METRICS["bias"], df)


def mean_error(df: pd.DataFrame) -> pd.DataFrame:
    """Absolute bias mean(f - y), in the units of y; positive means over-forecast."""
    return _table(MEAN_ERROR, df)


def pinball_loss(df: pd.DataFrame, interval_levels: Sequence[int] | None = None) -> pd.DataFrame:
    """Mean quantile loss of both bounds at each interval level (None: every level in `df`)."""
    return _table(PINBALL_LOSS, df, interval_levels=interval_levels)


def pinball(
    df: pd.DataFrame,
    train: pd.DataFrame,
    season_length: int,
    interval_levels: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Scaled pinball: `pinball_loss` divided by the in-sample seasonal naive MAE (as MASE)."""
    scale = {"train": train, "season_length": season_length}
    return _table(METRICS["pinball"], df, **scale, interval_levels=interval_levels)


def coverage(df: pd.DataFrame, interval_level: int) -> pd.DataFrame:
    """Share of actuals with yhat_lo_L <= y <= yhat_hi_L, in a column `coverage_L`."""
    return _table(coverage_metric(interval_level), df)


def direction_hit_rate(
    df: pd.DataFrame, train: pd.DataFrame, band: float = DEFAULT_BAND
) -> pd.DataFrame:
    """Share of forecasts whose up/flat/down label matches what happened (DESIGN.md).

    Per (series, cutoff) with h scored rows: the mean forecast and the mean actual over the
    horizon are each labelled against the mean of the last h training actuals up to the cutoff
    with `features.trend.direction_labels` (relative dead band `band`; when that mean is 0, the
    absolute change against the in-sample mean absolute one-step change). Origins with fewer
    than h training points get no label and are not counted.
    """
    return _table(METRICS["direction_hit_rate"], df, train=train, band=band)
