"""Exponential smoothing vectorised over series: SES, Holt and damped trend on deseasonalised data.

The recursions run once over time for all series and a grid of smoothing parameters at the same
time (arrays of series x candidates), and each series keeps the candidate with the least in-sample
squared one-step error. Seasonality is removed first by classical decomposition when the 90 %
autocorrelation test of the M3 Theta method finds it (training.models.seasonality), and put back
afterwards.
This is the M4 competition's "Comb" benchmark family, at numpy speed.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from training.base import BaseForecaster, SeriesBatch
from training.models.seasonality import Seasonality, deseasonalize

#: Observations the initial slope is fitted on.
INIT_POINTS = 8


def deseasonalise_all(
    values: list[np.ndarray], m: int, test: bool = True
) -> tuple[np.ndarray, list[Seasonality | None]]:
    """Seasonally adjusted series, right-aligned in a NaN-padded matrix, and their seasonality."""
    width = max(len(y) for y in values)
    adjusted = np.full((len(values), width), np.nan)
    seasons: list[Seasonality | None] = []
    for row, y in enumerate(values):
        part, season = deseasonalize(np.asarray(y, dtype="float64"), m, test=test)
        adjusted[row, width - len(y) :] = part
        seasons.append(season)
    return adjusted, seasons


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
        adjusted, self.seasons_ = deseasonalise_all(
            batch.values, self.season_length_, self.seasonality_test
        )
        params, self.level_, self.slope_ = fit_smoothing(adjusted, self.trend)
        self.params_ = params.astype("float32")

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        phi = self.params_[:, 2].astype("float64")[:, None]
        powers = phi ** np.arange(1, h + 1)[None, :]
        damp = np.cumsum(powers, axis=1) if self.trend != "none" else np.zeros_like(powers)
        adjusted = self.level_[:, None] + damp * self.slope_[:, None]
        return np.vstack(
            [
                row if s is None else s.apply(row)
                for row, s in zip(adjusted, self.seasons_, strict=True)
            ]
        )
