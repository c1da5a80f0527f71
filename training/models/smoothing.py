"""Exponential smoothing vectorised over series: SES, Holt and damped trend on deseasonalised data.

The recursions run once over time for all series and a grid of smoothing parameters at the same
time (arrays of series x candidates), and each series keeps the candidate with the least in-sample
squared one-step error. Seasonality is removed first by classical multiplicative decomposition
when the 90 % autocorrelation test of the M3 Theta method finds it, and put back afterwards.
This is the M4 competition's "Comb" benchmark family, at numpy speed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.base import BaseForecaster, SeriesBatch

#: Critical value of the one-sided 90 % seasonality test (Assimakopoulos & Nikolopoulos 2000).
SEASONALITY_Z = 1.645
#: Observations the initial slope is fitted on.
INIT_POINTS = 8


def seasonality_test(y: np.ndarray, m: int) -> bool:
    """Whether lag-m autocorrelation is significant at 90 % (the test M3's Theta method uses)."""
    n = len(y)
    if m < 2 or n < 3 * m or np.any(y <= 0):
        return False
    centred = y - y.mean()
    denominator = float(centred @ centred)
    if denominator <= 0:
        return False
    acf = np.array([centred[k:] @ centred[:-k] / denominator for k in range(1, m + 1)])
    limit = SEASONALITY_Z * np.sqrt((1 + 2 * np.sum(acf[: m - 1] ** 2)) / n)
    return bool(abs(acf[m - 1]) > limit)


def seasonal_indices(y: np.ndarray, m: int) -> np.ndarray:
    """Multiplicative seasonal indices (mean 1) by classical decomposition, aligned to y's end.

    Index k applies to positions p with p % m == k when counted from the series' start.
    """
    n = len(y)
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    trend = np.convolve(y, weights, mode="valid")
    offset = (len(weights) - 1) // 2
    ratios = np.full(n, np.nan)
    ratios[offset : offset + len(trend)] = y[offset : offset + len(trend)] / trend
    per_phase = np.array([np.nanmean(ratios[k::m]) for k in range(m)])
    per_phase = np.where(np.isfinite(per_phase), per_phase, 1.0)
    return per_phase / per_phase.mean()


@dataclass(frozen=True)
class Deseasonalised:
    """Seasonally adjusted series (right-aligned in a padded matrix) and how to reseasonalise."""

    adjusted: np.ndarray
    indices: np.ndarray
    lengths: np.ndarray


def deseasonalise(values: list[np.ndarray], m: int, test: bool = True) -> Deseasonalised:
    """Divide out multiplicative seasonality where the test finds it; pad right-aligned with NaN."""
    lengths = np.array([len(y) for y in values])
    width = int(lengths.max())
    adjusted = np.full((len(values), width), np.nan)
    indices = np.ones((len(values), max(m, 1)))
    for row, y in enumerate(values):
        if m > 1 and (seasonality_test(y, m) if test else len(y) >= 2 * m and np.all(y > 0)):
            indices[row] = seasonal_indices(y, m)
            factors = indices[row][np.arange(len(y)) % m]
            adjusted[row, width - len(y) :] = y / factors
        else:
            adjusted[row, width - len(y) :] = y
    return Deseasonalised(adjusted=adjusted, indices=indices, lengths=lengths)


def future_factors(indices: np.ndarray, lengths: np.ndarray, h: int) -> np.ndarray:
    """Seasonal factors of the h periods after each series' end, shape (n_series, h)."""
    m = indices.shape[1]
    phases = (lengths[:, None] + np.arange(h)[None, :]) % m
    return np.take_along_axis(indices, phases, axis=1)


def _grid(trend: str) -> np.ndarray:
    alphas = np.array([0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99])
    if trend == "none":
        return np.array([(a, 0.0, 0.0) for a in alphas])
    betas = np.array([0.01, 0.05, 0.1, 0.2, 0.3])
    phis = np.array([1.0]) if trend == "linear" else np.array([0.8, 0.9, 0.95, 0.98])
    return np.array(
        [(a, b * a, p) for a, b, p in itertools.product(alphas, betas, phis) if b * a <= a]
    )


def initial_slopes(y: np.ndarray, first: np.ndarray, points: int = INIT_POINTS) -> np.ndarray:
    """Least-squares slope over each row's first few observations (a steadier start than y1-y0)."""
    slopes = np.zeros(len(y))
    for row, start in enumerate(first):
        head = y[row, start : start + points]
        head = head[~np.isnan(head)]
        if len(head) >= 2:
            slopes[row] = np.polyfit(np.arange(len(head)), head, 1)[0]
    return slopes


def fit_smoothing(y: np.ndarray, trend: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid-search (alpha, beta, phi) per row of a right-aligned padded matrix by in-sample SSE.

    Returns the chosen parameters (n, 3), and the final level and trend of each series.
    """
    grid = _grid(trend)
    n, width = y.shape
    k = len(grid)
    alpha, beta, phi = (grid[:, i][None, :] for i in range(3))
    valid = ~np.isnan(y)
    first = valid.argmax(axis=1)
    y0 = y[np.arange(n), first]
    slope0 = np.zeros(n) if trend == "none" else initial_slopes(y, first)
    level = np.repeat(y0[:, None], k, axis=1)
    slope = np.repeat(slope0[:, None], k, axis=1)
    sse = np.zeros((n, k))
    for t in range(width):
        obs = y[:, t][:, None]
        active = (valid[:, t] & (t > first))[:, None]
        forecast = level + phi * slope
        error = obs - forecast
        new_level = forecast + alpha * error
        new_slope = phi * slope + beta * error
        sse = np.where(active, sse + error**2, sse)
        level = np.where(active, new_level, level)
        slope = np.where(active, new_slope, slope)
    best = sse.argmin(axis=1)
    rows = np.arange(n)
    return grid[best], level[rows, best], slope[rows, best]


class ExponentialSmoothing(BaseForecaster):
    """SES (`trend="none"`), Holt (`"linear"`) or damped trend (`"damped"`) after deseasonalising.

    Parameters are chosen per series from a grid by in-sample one-step squared error, all
    series at once; `seasonality_test=False` deseasonalises every long-enough positive series.
    """

    default_alias = "ses"
    min_length = 2

    def __init__(
        self,
        trend: str = "damped",
        season_length: int | None = None,
        seasonality_test: bool = True,
        alias: str | None = None,
    ) -> None:
        self.trend = trend
        self.season_length = season_length
        self.seasonality_test = seasonality_test
        self.alias = alias

    @property
    def alias_name(self) -> str:
        """Named after its trend when no alias is given: ses, holt, damped."""
        return self.alias or {"none": "ses", "linear": "holt", "damped": "damped"}[self.trend]

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        if self.trend not in ("none", "linear", "damped"):
            raise ValueError(f"trend must be 'none', 'linear' or 'damped', got {self.trend!r}")
        seasonal = deseasonalise(batch.values, self.season_length_, self.seasonality_test)
        params, level, slope = fit_smoothing(seasonal.adjusted, self.trend)
        self.params_ = params.astype("float32")
        self.level_ = level
        self.slope_ = slope
        self.indices_ = seasonal.indices.astype("float32")
        self.lengths_ = seasonal.lengths

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        phi = self.params_[:, 2].astype("float64")[:, None]
        powers = phi ** np.arange(1, h + 1)[None, :]
        damp = np.cumsum(powers, axis=1) if self.trend != "none" else np.zeros_like(powers)
        adjusted = self.level_[:, None] + damp * self.slope_[:, None]
        return adjusted * future_factors(self.indices_.astype("float64"), self.lengths_, h)
