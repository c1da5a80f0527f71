"""Forecasts of period totals (the sum over forecast steps a..b) with conformal intervals.

Method: split-conformal calibration on backtest sums. For every series and backtest origin the
error of the total over steps a..b (sum of y - sum of yhat) is divided by the series' in-sample
naive scale (`training.orders.total_errors`); these scaled errors are pooled per hierarchy
level, and the bound at probability p is the ceil((n + 1) p)-th smallest of the n pooled errors
(the split-conformal rank, capped at the largest), times the series' scale, added to the total
of its point forecasts. Summing the errors of one origin before taking quantiles keeps their
correlation across days: the interval is that of the total, narrower than the sum of the daily
bounds when daily errors partly cancel, wider than any single day's.

Small pools: when a level has fewer than `MIN_POOL` (series x origins) errors for a window, the
errors of every level are pooled together (they are on one scale after scaling, as the daily
intervals pool them); the answer says which pool and how many errors it held. A level whose
rank exceeds the pool (n < p / (1 - p): 39 errors for 95 %) gets the largest error as its bound
and is reported as capped: it may cover less than asked. Totals and bounds are never negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.base import central_interval_of, check_interval_levels, level_name
from training.errors import TrainingError
from training.intervals import conformal_quantile

__all__ = [
    "MIN_POOL",
    "PeriodTotal",
    "Pool",
    "period_total",
    "pool_for",
    "resolvable",
    "window_errors",
]

#: Fewest scaled errors (series x origins) a hierarchy level needs for its own pool.
MIN_POOL = 20


@dataclass(frozen=True)
class Pool:
    """The scaled backtest errors of one window's totals that calibrate its intervals."""

    errors: np.ndarray
    source: str  # "level" (the series' hierarchy level) or "all levels"

    @property
    def size(self) -> int:
        return len(self.errors)


@dataclass(frozen=True)
class PeriodTotal:
    """A period's forecast total, its bounds per interval level and its quantiles (percent)."""

    mean: float
    bounds: dict[int | float, tuple[float, float]]
    quantiles: dict[int | float, float]
    pool: Pool
    #: Interval and quantile levels the pool is too small for: their bound is its largest error.
    capped_levels: tuple[int | float, ...] = ()
    capped_quantiles: tuple[int | float, ...] = ()


def window_errors(cumulative: np.ndarray, first: int, last: int) -> np.ndarray:
    """Scaled errors of totals over steps first..last (1-based, inclusive), finite ones only.

    `cumulative` is (horizon, n) errors of totals over steps 1..k (`total_errors` per level);
    a window's total is the difference of two of them.
    """
    horizon = cumulative.shape[0]
    if not 1 <= first <= last <= horizon:
        raise TrainingError(f"steps {first}..{last} are outside the backtest's 1..{horizon}")
    total = cumulative[last - 1]
    if first > 1:
        total = total - cumulative[first - 2]
    return total[np.isfinite(total)]


def pool_for(
    errors: dict[str, np.ndarray], level: str, first: int, last: int, min_pool: int = MIN_POOL
) -> Pool:
    """The errors calibrating steps first..last of a series at hierarchy level `level`.

    The level's own errors when it has at least `min_pool` of them, else every level's.
    """
    own = window_errors(errors[level], first, last) if level in errors else np.empty(0)
    if len(own) >= min_pool:
        return Pool(np.sort(own), "level")
    every = np.concatenate([window_errors(e, first, last) for e in errors.values()] or [own])
    if not len(every):
        raise TrainingError(f"the backtest has no totals over steps {first}..{last}")
    return Pool(np.sort(every), "all levels")


def resolvable(n: int, interval_level: float) -> bool:
    """Whether n errors resolve the central interval at `interval_level` percent: its
    split-conformal rank ceil((n + 1) p), p = 1 - (1 - level) / 2, is at most n."""
    p = 1 - (1 - interval_level / 100) / 2
    return int(np.ceil((n + 1) * p)) <= n


def _offsets(errors: np.ndarray, interval_level: float) -> tuple[float, float]:
    """Scaled lower and upper offsets of the central interval at `interval_level` percent."""
    tail = (1 - interval_level / 100) / 2
    low = -conformal_quantile(-errors, 1 - tail)
    high = conformal_quantile(errors, 1 - tail)
    return min(low, 0.0), max(high, 0.0)


def period_total(
    forecast: np.ndarray,
    scale: float,
    pool: Pool,
    interval_levels: Sequence[float] = (),
    quantiles: Sequence[float] = (),
) -> PeriodTotal:
    """The total of `forecast` (the served point forecasts of the period's steps) and its spread.

    A quantile q above 50 % is the upper bound of the central interval at 2q - 100, below 50 %
    the lower bound at 100 - 2q, and q = 50 is the total of the point forecasts.
    """
    mean = float(np.sum(forecast))
    bounds = {}
    levels = check_interval_levels(interval_levels)
    for interval_level in levels:
        low, high = _offsets(pool.errors, interval_level)
        bounds[interval_level] = (max(mean + scale * low, 0.0), max(mean + scale * high, 0.0))
    out = {}
    capped_quantiles = []
    for q in sorted({level_name(q) for q in quantiles}):
        central = central_interval_of(q)
        if central is not None and not resolvable(pool.size, central[0]):
            capped_quantiles.append(q)
        if central is None:
            out[q] = mean
            continue
        low, high = _offsets(pool.errors, central[0])
        out[q] = max(mean + scale * (high if central[1] == "hi" else low), 0.0)
    return PeriodTotal(
        mean=mean,
        bounds=bounds,
        quantiles=out,
        pool=pool,
        capped_levels=tuple(lv for lv in levels if not resolvable(pool.size, lv)),
        capped_quantiles=tuple(capped_quantiles),
    )
