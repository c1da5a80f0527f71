"""The default forecaster: backtest candidate models, combine them, calibrate intervals, refit.

`AutoForecaster.fit` runs one rolling-origin backtest of every member, learns how to combine them
(median, mean or per-series weights), calibrates conformal intervals on the combined backtest
errors, and fits every member on the whole history. The backtest frame it keeps (`backtest_`) is
the expected accuracy that the registry and the API report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone

from features.schema import ID
from training.backtest import Windows, cross_validation
from training.base import MODEL, BaseForecaster, SeriesBatch
from training.errors import TrainingError
from training.intervals import ConformalCalibration, naive_scales
from training.selection import combine, error_weights


def _with(model: BaseForecaster, **params: object) -> BaseForecaster:
    """A clone of `model` with those of `params` it accepts."""
    accepted = model.get_params(deep=False)
    return clone(model).set_params(**{k: v for k, v in params.items() if k in accepted})


class AutoForecaster(BaseForecaster):
    """Backtest-selected combination of models with conformal intervals.

    Args:
        models: candidate models (unfitted); their `season_length` and `n_jobs` are set from here.
        combination: "median", "mean", "inverse_error" or "best" (per series, from the backtest).
        h: backtest horizon, also the horizon intervals are calibrated for.
        n_windows, step: rolling origins of the backtest.
        signed: asymmetric intervals from signed errors (else symmetric).
    """

    default_alias = "default"

    def __init__(
        self,
        models: Sequence[BaseForecaster] = (),
        combination: str = "median",
        h: int = 14,
        n_windows: int = 2,
        step: int | None = None,
        season_length: int | None = None,
        signed: bool = True,
        n_jobs: int = 1,
        alias: str | None = None,
    ) -> None:
        self.models = models
        self.combination = combination
        self.h = h
        self.n_windows = n_windows
        self.step = step
        self.season_length = season_length
        self.signed = signed
        self.n_jobs = n_jobs
        self.alias = alias

    def _members(self) -> list[BaseForecaster]:
        if not self.models:
            raise TrainingError("AutoForecaster needs at least one candidate model")
        members = [
            _with(m, season_length=self.season_length_, n_jobs=self.n_jobs) for m in self.models
        ]
        names = [m.alias_name for m in members]
        if len(set(names)) != len(names):
            raise TrainingError(f"candidate models need distinct aliases, got {names}")
        return members

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        members = self._members()
        self.member_names_ = [m.alias_name for m in members]
        windows = Windows(h=self.h, n_windows=self.n_windows, step=self.step)
        cv = cross_validation(members, panel, windows, freq=self.freq_)
        self.weights_ = None
        if self.combination in ("inverse_error", "best"):
            self.weights_ = error_weights(cv, self.member_names_, self.combination)
        combined = combine(
            cv,
            self.member_names_,
            self.combination,
            weights=self.weights_,
            name=self.alias_name,
        )
        self.calibration_ = ConformalCalibration.from_backtest(combined, panel, signed=self.signed)
        self.backtest_ = pd.concat([cv, combined], ignore_index=True)
        self.members_ = [m.fit(panel, freq=self.freq_) for m in members]
        self.scale_ = naive_scales(panel).reindex(batch.ids).to_numpy()

    def _member_means(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        """Member forecasts as an (n_members, n_series, h) array."""
        return np.stack([m._predict_mean(h, future) for m in self.members_])

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        means = np.maximum(self._member_means(h, future), 0.0)
        if self.combination == "median":
            return np.median(means, axis=0)
        if self.combination == "mean":
            return means.mean(axis=0)
        weights = self.weights_.reindex(self.unique_ids_).to_numpy()  # type: ignore[union-attr]
        weights = np.where(np.isnan(weights), 1.0 / len(self.members_), weights)
        return np.einsum("msh,sm->sh", means, weights)

    def _predict_bounds(
        self, h: int, levels: tuple[int, ...], mean: np.ndarray
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        return self.calibration_.bounds(mean, self.scale_, levels)

    def member_forecasts(self, h: int) -> pd.DataFrame:
        """Each member's own point forecasts, stacked (for inspection and model comparison)."""
        frames = [m.predict(h) for m in self.members_]
        return pd.concat(frames, ignore_index=True).sort_values([MODEL, ID], kind="stable")
