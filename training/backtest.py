"""Rolling-origin backtests: refit at each origin on the data before it, forecast h steps, compare.

Origins are counted from each series' own end (the last window ends with the series), so a panel
whose series end on different dates (M3) is handled as well as one with a common end. Each window
only ever sees rows up to its cutoff; the forecasts are joined to the actuals that followed.

The cv frame: unique_id | ds | cutoff | step | y | model | yhat | yhat_lo_L | yhat_hi_L ...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from features.schema import ID, TARGET, TIME
from training.base import BaseForecaster, check_horizon, check_panel
from training.errors import NotEnoughHistoryError, TrainingError

CUTOFF = "cutoff"
STEP = "step"
WINDOW = "window"


@dataclass(frozen=True)
class Windows:
    """Where the backtest origins sit: `n_windows` origins `step` periods apart, h steps each.

    The last window's forecasts end on each series' last observation; `min_train` is the fewest
    observations a series must keep before its earliest origin to take part.
    """

    h: int
    n_windows: int = 2
    step: int | None = None
    min_train: int = 2

    @property
    def stride(self) -> int:
        """Periods between consecutive origins (h when not given, i.e. non-overlapping)."""
        return self.step or self.h

    def validate(self) -> Windows:
        """Raise a TrainingError for windows that cannot work."""
        check_horizon(self.h)
        if self.n_windows < 1:
            raise TrainingError(f"n_windows must be >= 1, got {self.n_windows}")
        if self.stride < 1:
            raise TrainingError(f"step must be >= 1, got {self.step}")
        return self

    def train_lengths(self, lengths: np.ndarray, window: int) -> np.ndarray:
        """Training length of each series in `window` (0 = earliest); below min_train: left out."""
        back = self.h + (self.n_windows - 1 - window) * self.stride
        return lengths - back


def window_panels(panel: pd.DataFrame, windows: Windows) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """For each window, the training rows (up to the cutoff) and the next h actual rows."""
    windows.validate()
    position = panel.groupby(ID, sort=False).cumcount().to_numpy()
    lengths = panel.groupby(ID, sort=False)[TARGET].transform("size").to_numpy()
    out = []
    for window in range(windows.n_windows):
        cut = windows.train_lengths(lengths, window)
        usable = cut >= windows.min_train
        train = panel[usable & (position < cut)]
        actual = panel[usable & (position >= cut) & (position < cut + windows.h)]
        if train.empty:
            raise NotEnoughHistoryError(
                f"no series is long enough for {windows.n_windows} windows of h={windows.h} "
                f"(needs > {windows.h + (windows.n_windows - 1) * windows.stride} observations)",
            )
        out.append((train.reset_index(drop=True), actual.reset_index(drop=True)))
    return out


def cross_validation(
    models: BaseForecaster | Sequence[BaseForecaster],
    panel: pd.DataFrame,
    windows: Windows,
    *,
    interval_levels: Sequence[int] = (),
    freq: str | None = None,
) -> pd.DataFrame:
    """Fit fresh copies of each model at every origin and return the stacked cv frame."""
    members = [models] if isinstance(models, BaseForecaster) else list(models)
    panel = check_panel(panel)
    frames = []
    for window, (train, actual) in enumerate(window_panels(panel, windows)):
        cutoffs = train.groupby(ID, sort=False)[TIME].last().rename(CUTOFF)
        truth = actual[[ID, TIME, TARGET]].assign(
            **{STEP: actual.groupby(ID, sort=False).cumcount().to_numpy() + 1}
        )
        for model in members:
            fitted = clone(model).fit(train, freq=freq)
            future = actual.drop(columns=[TARGET])  # known-in-advance columns (price, promo)
            forecast = fitted.predict(windows.h, interval_levels=interval_levels, future=future)
            forecast[STEP] = np.tile(np.arange(1, windows.h + 1), len(forecast) // windows.h)
            forecast = forecast.drop(columns=[TIME]).merge(truth, on=[ID, STEP], how="inner")
            forecast[CUTOFF] = forecast[ID].map(cutoffs).to_numpy()
            forecast[WINDOW] = window
            frames.append(forecast)
    cv = pd.concat(frames, ignore_index=True)
    first = [ID, TIME, CUTOFF, WINDOW, STEP, TARGET, "model", "yhat"]
    return cv[first + [c for c in cv.columns if c not in first]]
