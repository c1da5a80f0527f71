"""Intermittent demand (slow movers): ADI/CV² classification, Croston/SBA, TSB, ADIDA and IMAPA.

Conventions:

- A demand is a period with y > 0 (the panel contract has no negative y); its size is that y.
- ADI = periods / demands over the whole history, trailing zeros included (an item that stopped
  selling grows sparser); inf without demand. CV² = sample variance (ddof=1) / squared mean of
  the demand sizes; NaN with fewer than 2 demands.
- Classes (Syntetos-Boylan-Croston): ADI >= 1.32 is sparse and CV² >= 0.49 variable; both make
  "lumpy", sparse only "intermittent", variable only "erratic", neither "smooth". A NaN CV² is
  not variable, so 0 or 1 demand is classed by ADI alone (a series of zeros is "intermittent").
- SES: level_1 = x_1, level_t = alpha x_t + (1 - alpha) level_{t-1}; the forecast is the last
  level. With alpha None each series takes the grid alpha with the least in-sample squared
  one-step error, the smaller alpha on ties.
- Croston: sizes and intervals are smoothed from their first value; the first interval is the
  1-based position of the first demand (as if demand had occurred just before the history).
- TSB: the probability starts at the share of periods with demand (1 / ADI) and is updated every
  period; sizes are smoothed as in Croston, only when demand occurs.
- ADIDA: buckets of round-half-up(ADI) periods (within [1, length]) end at the last period; the
  oldest length % bucket periods are dropped.
- Point forecasts are flat over the horizon, never negative, and 0 for a series without demand.

The recursions run for all series at once: series are padded into an (n_series, length) array
and one loop over time updates every series (and every candidate alpha) with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from features.schema import ID, TARGET
from training.base import BaseForecaster, SeriesBatch
from training.errors import TrainingError

#: Syntetos-Boylan-Croston cut-offs: ADI >= 1.32 is sparse, CV² >= 0.49 is variable in size.
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
#: Classes that intermittent methods serve; the others go to a regular model.
SPARSE_CLASSES = ("intermittent", "lumpy")
#: Smoothing constants tried for intermittent components (the 0.05-0.3 range of the literature).
ALPHA_GRID = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
#: Smoothing constants tried by SimpleExponentialSmoothing on regular series.
SES_GRID = tuple(round(0.05 * k, 2) for k in range(1, 21))


def _segments(values: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All series in one float array, with each one's start in it and its length."""
    lengths = np.array([len(v) for v in values], dtype=np.int64)
    y = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values])
    return y, np.cumsum(lengths) - lengths, lengths


def _demand_stats(
    y: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per contiguous series (none empty): number of demands, ADI and CV² of demand sizes."""
    demand = y > 0
    n_demands = np.add.reduceat(demand.astype(np.int64), starts)
    sizes = np.where(demand, y, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.add.reduceat(sizes, starts) / n_demands
        deviation = np.where(demand, sizes - np.repeat(mean, lengths), 0.0)
        squares = np.add.reduceat(deviation * deviation, starts)
        cv2 = np.where(n_demands >= 2, squares / (n_demands - 1), np.nan) / mean**2
        adi = np.where(n_demands > 0, lengths / n_demands, np.inf)
    return n_demands, adi, cv2


def classify_demand(
    data: pd.DataFrame | Sequence[np.ndarray], ids: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Per series: n_periods, n_demands, adi, cv2 and demand_class (see the module docstring).

    `data` is a panel (unique_id, y in any row order; output sorted by unique_id) or a list of
    arrays, whose unique_id is `ids`, else the position in the list.
    """
    if isinstance(data, pd.DataFrame):
        missing = [c for c in (ID, TARGET) if c not in data.columns]
        if missing:
            raise TrainingError(f"classify_demand needs column(s) {missing}")
        codes, uniques = pd.factorize(data[ID], sort=True)
        y = data[TARGET].to_numpy(dtype=np.float64)
        if len(codes) > 1 and (np.diff(codes) < 0).any():
            order = np.argsort(codes, kind="stable")
            codes, y = codes[order], y[order]
        lengths = np.bincount(codes, minlength=len(uniques))
        starts = np.cumsum(lengths) - lengths
        names: Any = pd.Series(np.asarray(uniques), dtype="str")
    else:
        if len(data) == 0 or any(len(v) == 0 for v in data):
            raise TrainingError("classify_demand needs at least one series and no empty series")
        y, starts, lengths = _segments(data)
        names = np.arange(len(data)) if ids is None else np.asarray(ids)
    if not np.isfinite(y).all():
        raise TrainingError("y must be finite (fill gaps first) to classify demand")
    if len(lengths) == 0:
        n_demands, adi, cv2 = (np.zeros(0),) * 3
    else:
        n_demands, adi, cv2 = _demand_stats(y, starts, lengths)
    sparse, variable = adi >= ADI_CUTOFF, cv2 >= CV2_CUTOFF
    kind = np.select(
        [sparse & variable, sparse, variable], ["lumpy", "intermittent", "erratic"], "smooth"
    )
    return pd.DataFrame(
        {
            ID: names,
            "n_periods": lengths,
            "n_demands": n_demands.astype(np.int64),
            "adi": adi,
            "cv2": cv2,
            "demand_class": pd.Series(kind, dtype="str"),
        }
    )


def _pad(y: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Series as rows of a zero-padded, left-aligned (n_series, max_length) array."""
    padded = np.zeros((len(lengths), max(int(lengths.max()), 1)))
    padded[np.arange(padded.shape[1])[None, :] < lengths[:, None]] = y
    return padded


def _events(
    y: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand sizes and Croston intervals as padded (n_series, max_demands) arrays, and counts."""
    hit = np.flatnonzero(y > 0)
    counts = np.add.reduceat((y > 0).astype(np.int64), starts)
    at = hit - np.repeat(starts, counts)
    previous = np.roll(at, 1)
    previous[(np.cumsum(counts) - counts)[counts > 0]] = -1
    return _pad(y[hit], counts), _pad((at - previous).astype(np.float64), counts), counts


def _smooth(
    x: np.ndarray,
    counts: np.ndarray,
    alpha: float | None,
    init: np.ndarray | None = None,
    grid: Sequence[float] = ALPHA_GRID,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's SES level after its first `counts` values, and its alpha (given or chosen).

    The level before the first value is `init` (default: the first value). With alpha None the
    alpha of `grid` with the least sum of squared one-step errors wins, the smallest on ties.
    One pass over time runs every series and candidate alpha at once; rows are sorted by count
    so that step t touches only the rows still running.
    """
    alphas = np.array([alpha] if alpha is not None else grid, dtype=np.float64)
    order = np.argsort(-counts, kind="stable")
    steps = np.ascontiguousarray(x[order].T)
    start = x[:, 0] if init is None else np.asarray(init, dtype=np.float64)
    level = np.repeat(start[order][:, None], alphas.size, axis=1)
    sse = np.zeros_like(level)
    running = len(counts) - np.searchsorted(np.sort(counts), np.arange(x.shape[1]), side="right")
    for t, k in enumerate(running):
        if k == 0:
            break
        err = steps[t, :k, None] - level[:k]
        sse[:k] += err * err
        level[:k] += alphas * err
    best = np.argmax(sse <= sse.min(axis=1, keepdims=True) * (1 + 1e-9) + 1e-12, axis=1)
    rows = np.arange(len(counts))
    out_level, out_alpha = np.empty(len(counts)), np.empty(len(counts))
    out_level[order], out_alpha[order] = level[rows, best], alphas[best]
    return out_level, out_alpha


def _check_alpha(alpha: float | None, name: str) -> None:
    if alpha is not None and not 0 < alpha <= 1:
        raise TrainingError(f"{name} must be in (0, 1] or None (optimised), got {alpha!r}")


def _aggregation(lengths: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Bucket size per series: ADI rounded half up, within [1, length] (1 without demand)."""
    adi = lengths / np.maximum(counts, 1)
    return np.clip(np.floor(np.where(counts > 0, adi, 1.0) + 0.5), 1, lengths).astype(np.int64)


def _aggregate_forecast(
    padded: np.ndarray, lengths: np.ndarray, buckets: np.ndarray, alpha: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """ADIDA per series: SES on sums over non-overlapping buckets ending at the last period,
    divided evenly over the bucket; the oldest length % bucket periods are left out."""
    n, width = padded.shape
    n_buckets = lengths // buckets
    first = lengths - n_buckets * buckets
    cumulative = np.zeros((n, width + 1))
    np.cumsum(padded, axis=1, out=cumulative[:, 1:])
    starts = first[:, None] + np.arange(max(int(n_buckets.max()), 1))[None, :] * buckets[:, None]
    starts = np.minimum(starts, width)
    ends = np.minimum(starts + buckets[:, None], width)
    sums = np.take_along_axis(cumulative, ends, 1) - np.take_along_axis(cumulative, starts, 1)
    level, alphas = _smooth(sums, n_buckets, alpha)
    return level / buckets, alphas


class _FlatForecaster(BaseForecaster):
    """A model whose forecast is one number per series, `forecast_`, repeated over the horizon."""

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        return np.repeat(self.forecast_[:, None], h, axis=1)


class SimpleExponentialSmoothing(_FlatForecaster):
    """Simple exponential smoothing, level_1 = y_1; alpha None picks it from SES_GRID by MSE."""

    default_alias = "simple_es"

    def __init__(self, alpha: float | None = None, alias: str | None = None) -> None:
        self.alpha = alpha
        self.alias = alias

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        _check_alpha(self.alpha, "alpha")
        y, _, lengths = _segments(batch.values)
        self.forecast_, self.alpha_ = _smooth(_pad(y, lengths), lengths, self.alpha, grid=SES_GRID)


class Croston(_FlatForecaster):
    """Croston: SES of demand sizes over SES of intervals; variant "sba" multiplies by 1 - alpha/2.

    alpha None picks the sizes' and the intervals' alphas from ALPHA_GRID separately; SBA then
    uses the intervals' alpha. Named "croston" or "sba" unless given an alias.
    """

    default_alias = "croston"

    def __init__(
        self, alpha: float | None = 0.1, variant: str = "classic", alias: str | None = None
    ) -> None:
        self.alpha = alpha
        self.variant = variant
        self.alias = alias

    @property
    def alias_name(self) -> str:
        """The model's name in forecast frames: the alias, else "croston" or "sba"."""
        return self.alias or ("sba" if self.variant == "sba" else self.default_alias)

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        _check_alpha(self.alpha, "alpha")
        if self.variant not in ("classic", "sba"):
            raise TrainingError(f"variant must be 'classic' or 'sba', got {self.variant!r}")
        sizes, intervals, counts = _events(*_segments(batch.values))
        self.size_, self.alpha_size_ = _smooth(sizes, counts, self.alpha)
        self.interval_, self.alpha_interval_ = _smooth(intervals, counts, self.alpha)
        factor = 1.0 - self.alpha_interval_ / 2 if self.variant == "sba" else 1.0
        ratio = np.divide(self.size_, self.interval_, out=np.zeros(len(counts)), where=counts > 0)
        self.forecast_ = factor * ratio


class TSB(_FlatForecaster):
    """Teunter-Syntetos-Babai: demand probability, smoothed every period, times smoothed size.

    The forecast decays towards 0 while nothing sells. None picks an alpha from ALPHA_GRID.
    """

    default_alias = "tsb"

    def __init__(
        self, alpha_d: float | None = 0.1, alpha_p: float | None = 0.1, alias: str | None = None
    ) -> None:
        self.alpha_d = alpha_d
        self.alpha_p = alpha_p
        self.alias = alias

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        _check_alpha(self.alpha_d, "alpha_d")
        _check_alpha(self.alpha_p, "alpha_p")
        y, starts, lengths = _segments(batch.values)
        sizes, _, counts = _events(y, starts, lengths)
        padded = _pad(y, lengths)
        self.size_, self.alpha_d_ = _smooth(sizes, counts, self.alpha_d)
        occurred = (padded > 0).astype(np.float64)
        self.probability_, self.alpha_p_ = _smooth(
            occurred, lengths, self.alpha_p, init=counts / lengths
        )
        self.forecast_ = np.where(counts > 0, self.probability_ * self.size_, 0.0)


class ADIDA(_FlatForecaster):
    """ADIDA: SES on sums over buckets of `aggregation` periods, spread evenly over a bucket.

    aggregation None takes each series' rounded ADI; alpha None picks it from ALPHA_GRID.
    """

    default_alias = "adida"

    def __init__(
        self, aggregation: int | None = None, alpha: float | None = None, alias: str | None = None
    ) -> None:
        self.aggregation = aggregation
        self.alpha = alpha
        self.alias = alias

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        _check_alpha(self.alpha, "alpha")
        y, _, lengths = _segments(batch.values)
        padded = _pad(y, lengths)
        counts = (padded > 0).sum(axis=1)
        if self.aggregation is None:
            self.aggregation_ = _aggregation(lengths, counts)
        elif (
            isinstance(self.aggregation, int | np.integer)
            and not isinstance(self.aggregation, bool)
            and self.aggregation >= 1
        ):
            self.aggregation_ = np.minimum(int(self.aggregation), lengths)
        else:
            raise TrainingError(
                f"aggregation must be a whole number >= 1 or None, got {self.aggregation!r}"
            )
        forecast, self.alpha_ = _aggregate_forecast(padded, lengths, self.aggregation_, self.alpha)
        self.forecast_ = np.where(counts > 0, forecast, 0.0)


class IMAPA(_FlatForecaster):
    """IMAPA: the mean of ADIDA forecasts at every bucket size from 1 to the rounded ADI."""

    default_alias = "imapa"

    def __init__(self, alpha: float | None = None, alias: str | None = None) -> None:
        self.alpha = alpha
        self.alias = alias

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        _check_alpha(self.alpha, "alpha")
        y, _, lengths = _segments(batch.values)
        padded = _pad(y, lengths)
        counts = (padded > 0).sum(axis=1)
        self.max_aggregation_ = _aggregation(lengths, counts)
        total = np.zeros(len(lengths))
        for size in range(1, int(self.max_aggregation_.max()) + 1):
            rows = np.flatnonzero(self.max_aggregation_ >= size)
            buckets = np.full(rows.size, size)
            total[rows] += _aggregate_forecast(padded[rows], lengths[rows], buckets, self.alpha)[0]
        self.forecast_ = np.where(counts > 0, total / self.max_aggregation_, 0.0)


class AutoIntermittent(BaseForecaster):
    """Per series: `intermittent` for intermittent or lumpy demand, `fallback` for the rest.

    Defaults: TSB() (as accurate as SBA on steady slow movers, much better on items that stop
    selling) and SimpleExponentialSmoothing(). Intervals, when asked, come from those models.
    """

    default_alias = "auto_intermittent"

    def __init__(
        self,
        intermittent: BaseForecaster | None = None,
        fallback: BaseForecaster | None = None,
        alias: str | None = None,
    ) -> None:
        self.intermittent = intermittent
        self.fallback = fallback
        self.alias = alias

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        classes = classify_demand(batch.values)["demand_class"].to_numpy()
        self.sparse_ = np.isin(classes, SPARSE_CLASSES)
        sparse_model = TSB() if self.intermittent is None else self.intermittent
        regular_model = SimpleExponentialSmoothing() if self.fallback is None else self.fallback
        self.parts_: list[tuple[np.ndarray, BaseForecaster]] = []
        for chosen, template in ((self.sparse_, sparse_model), (~self.sparse_, regular_model)):
            if chosen.any():
                rows = np.repeat(chosen, batch.lengths)
                fitted = clone(template, safe=False).fit(panel.loc[rows], freq=self.freq_)
                self.parts_.append((np.flatnonzero(chosen), fitted))

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        mean = np.zeros((len(self.unique_ids_), h))
        for rows, model in self.parts_:
            own = None if future is None else future[future[ID].isin(self.unique_ids_[rows])]
            mean[rows] = model._predict_mean(h, own)
        return mean

    def _predict_bounds(
        self, h: int, interval_levels: tuple[int, ...], mean: np.ndarray
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        bounds = {lv: (np.zeros_like(mean), np.zeros_like(mean)) for lv in interval_levels}
        for rows, model in self.parts_:
            for lv, (low, high) in model._predict_bounds(h, interval_levels, mean[rows]).items():
                bounds[lv][0][rows], bounds[lv][1][rows] = low, high
        return bounds
