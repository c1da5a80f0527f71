"""Baselines: Naive, SeasonalNaive, WindowAverage and Drift, vectorised over all series.

They are the yardsticks every other model must beat, and seasonal naive is the scale of MASE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.base import BaseForecaster, SeriesBatch


def last_values(values: list[np.ndarray], k: int) -> np.ndarray:
    """The last k values of each series as an (n_series, k) array, NaN-padded on the left."""
    out = np.full((len(values), k), np.nan)
    for row, y in enumerate(values):  # cheap: one slice per series
        tail = y[-k:]
        out[row, k - len(tail) :] = tail
    return out


class Naive(BaseForecaster):
    """Repeat the last observation."""

    default_alias = "naive"

    def __init__(self, alias: str | None = None) -> None:
        self.alias = alias

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        self.last_ = last_values(batch.values, 1)[:, 0]

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        return np.repeat(self.last_[:, None], h, axis=1)


class SeasonalNaive(BaseForecaster):
    """Repeat the last observed season (the last value for series shorter than a season)."""

    default_alias = "seasonal_naive"

    def __init__(self, season_length: int | None = None, alias: str | None = None) -> None:
        self.season_length = season_length
        self.alias = alias

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        m = self.season_length_
        season = last_values(batch.values, m)
        last = season[:, -1:]
        self.last_season_ = np.where(np.isnan(season), last, season)

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        m = self.last_season_.shape[1]
        return self.last_season_[:, np.arange(h) % m]


class WindowAverage(BaseForecaster):
    """The mean of the last `window` observations (of all of them for shorter series)."""

    default_alias = "window_average"

    def __init__(self, window: int = 7, alias: str | None = None) -> None:
        self.window = window
        self.alias = alias

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        self.mean_ = np.nanmean(last_values(batch.values, self.window), axis=1)

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        return np.repeat(self.mean_[:, None], h, axis=1)


class Drift(BaseForecaster):
    """The last value plus the average change over the history (a straight line to the future)."""

    default_alias = "drift"

    def __init__(self, alias: str | None = None) -> None:
        self.alias = alias

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        first = np.array([y[0] for y in batch.values])
        self.last_ = np.array([y[-1] for y in batch.values])
        steps = np.maximum(batch.lengths - 1, 1)
        self.slope_ = (self.last_ - first) / steps

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        return self.last_[:, None] + self.slope_[:, None] * np.arange(1, h + 1)[None, :]
