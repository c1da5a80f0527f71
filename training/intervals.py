"""Prediction intervals calibrated by conformal prediction on backtest errors, per horizon step.

Backtest errors are divided by each series' own scale (the mean absolute one-step change of its
history up to that origin), pooled over series and origins per horizon step, and their empirical
quantiles (with the split-conformal finite-sample correction) become the interval half-widths,
multiplied back by each series' scale. Pooling lets short series borrow strength; scaling keeps a
bakery selling 3 cakes and one selling 3,000 rolls on the same footing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.schema import ID, TARGET, TIME
from training.backtest import CUTOFF, STEP
from training.errors import TrainingError

SCALE_FLOOR = 1e-8


def naive_scales(panel: pd.DataFrame) -> pd.Series:
    """Per series: mean absolute one-step change of y (the mean of |y| for flat series)."""
    y = panel[TARGET].to_numpy(dtype="float64")
    ids = panel[ID].to_numpy()
    change = np.abs(np.diff(y, prepend=np.nan))
    change[np.r_[True, ids[1:] != ids[:-1]]] = np.nan
    frame = pd.DataFrame({ID: ids, "change": change, "level": np.abs(y)})
    stats = frame.groupby(ID, sort=False).agg(change=("change", "mean"), level=("level", "mean"))
    scale = stats["change"].where(stats["change"] > 0, stats["level"])
    return scale.fillna(stats["level"]).clip(lower=SCALE_FLOOR)


def scales_at_cutoffs(panel: pd.DataFrame, cutoffs: pd.DataFrame) -> np.ndarray:
    """The naive scale of each (unique_id, cutoff) row, from the history up to that cutoff only."""
    y = panel[TARGET].to_numpy(dtype="float64")
    ids = panel[ID].to_numpy()
    first = np.r_[True, ids[1:] != ids[:-1]]
    change = np.abs(np.diff(y, prepend=0.0))
    change[first] = 0.0
    counts = (~first).astype("float64")
    history = pd.DataFrame(
        {
            ID: ids,
            CUTOFF: panel[TIME].to_numpy(),
            "change_sum": pd.Series(change).groupby(ids).cumsum().to_numpy(),
            "change_n": pd.Series(counts).groupby(ids).cumsum().to_numpy(),
            "level_sum": pd.Series(np.abs(y)).groupby(ids).cumsum().to_numpy(),
            "level_n": pd.Series(np.ones_like(y)).groupby(ids).cumsum().to_numpy(),
        }
    )
    joined = cutoffs[[ID, CUTOFF]].merge(history, on=[ID, CUTOFF], how="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        change_mean = joined["change_sum"] / joined["change_n"]
        level_mean = joined["level_sum"] / joined["level_n"]
    scale = change_mean.where(change_mean > 0, level_mean).fillna(level_mean)
    return scale.clip(lower=SCALE_FLOOR).to_numpy()


def conformal_quantile(scores: np.ndarray, q: float) -> float:
    """The split-conformal quantile: the ceil((n+1) q)-th smallest score (capped at the largest)."""
    n = len(scores)
    if n == 0:
        raise TrainingError("no backtest errors to calibrate intervals from")
    rank = min(int(np.ceil((n + 1) * q)), n)
    return float(np.partition(scores, rank - 1)[rank - 1])


@dataclass(frozen=True)
class ConformalCalibration:
    """Scaled backtest errors per horizon step, ready to turn into bounds at any level.

    `signed` keeps the sign of errors so intervals can be asymmetric (a model that tends to
    under-forecast gets a wider upper side); otherwise absolute errors give symmetric intervals.
    """

    scores: tuple[np.ndarray, ...]
    signed: bool

    @property
    def horizon(self) -> int:
        """Steps calibrated directly; later steps widen with the square root of the step."""
        return len(self.scores)

    @classmethod
    def from_backtest(
        cls, cv: pd.DataFrame, panel: pd.DataFrame, *, signed: bool = True
    ) -> ConformalCalibration:
        """Calibrate from a cv frame of one model (y, yhat, step, unique_id, cutoff)."""
        scale = scales_at_cutoffs(panel, cv)
        errors = (cv[TARGET].to_numpy() - cv["yhat"].to_numpy()) / scale
        steps = cv[STEP].to_numpy()
        h = int(steps.max())
        per_step = []
        for step in range(1, h + 1):
            values = errors[(steps == step) & np.isfinite(errors)]
            per_step.append(np.sort(values if signed else np.abs(values)).astype("float64"))
        return cls(scores=tuple(per_step), signed=signed)

    def quantiles(self, interval_level: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper scaled offsets per step 1..h at that level in % (lower <= 0 <= upper)."""
        coverage = interval_level / 100
        lower, upper = np.empty(h), np.empty(h)
        for step in range(1, h + 1):
            base = min(step, self.horizon)
            stretch = np.sqrt(step / base)
            scores = self.scores[base - 1]
            if self.signed:
                tail = (1 - coverage) / 2
                low = -conformal_quantile(-scores, 1 - tail)
                high = conformal_quantile(scores, 1 - tail)
            else:
                high = conformal_quantile(scores, coverage)
                low = -high
            lower[step - 1] = min(low, 0.0) * stretch
            upper[step - 1] = max(high, 0.0) * stretch
        return lower, upper

    def bounds(
        self, mean: np.ndarray, scale: np.ndarray, interval_levels: Sequence[int]
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Bounds around (n_series, h) forecasts for series with the given scales."""
        h = mean.shape[1]
        out = {}
        for interval_level in interval_levels:
            lower, upper = self.quantiles(interval_level, h)
            out[interval_level] = (
                mean + scale[:, None] * lower[None, :],
                mean + scale[:, None] * upper[None, :],
            )
        return out
