"""What each scored point and each forecast adds to the accuracy sums, as frames of numbers.

These are the terms of `training.evaluate`'s metrics, split so that they add up: a group's
WAPE is sum |e| / sum |y|, its bias sum e / sum y, its coverage inside / bounded, its MASE the
mean of per-forecast MASE (sum_mase / n_mase), its direction hit rate hits / labelled over whole
horizons. A change (a new actual, a corrected one, a forecast served again) is applied as its
contribution with the new numbers minus its contribution with the old ones, each weighted by how
many requests served the forecast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.schema import ID, TARGET, TIME
from features.trend import DEFAULT_BAND, direction_labels

__all__ = [
    "COUNTS",
    "DAY_SUMS",
    "FORECAST_SUMS",
    "KEYS",
    "POINT_SUMS",
    "forecast_contributions",
    "point_contributions",
    "summed",
]

HIERARCHY = "hierarchy_level"
VERSION = "model_version"
STEP = "step"
WEIGHT = "weight"
#: The group every accuracy sum is kept per (one series belongs to one hierarchy level).
KEYS = [ID, HIERARCHY, VERSION]
#: Interval levels whose coverage is scored (the API's Accuracy reports these two).
SCORED_LEVELS = (80, 95)
DAY_SUMS = ["n_points", "n_scaled", "sum_scaled_error", "sum_error", "sum_y", "n_nonzero_y"]
POINT_SUMS = [
    *DAY_SUMS,
    "sum_abs_error",
    "sum_abs_y",
    *(f"{kind}_{lv}" for lv in SCORED_LEVELS for kind in ("in", "n")),
]
FORECAST_SUMS = ["n_forecasts", "n_mase", "sum_mase", "n_direction", "direction_hits"]
#: Sums that count things: stored as integers.
COUNTS = {c for c in [*POINT_SUMS, *FORECAST_SUMS] if c.startswith(("n_", "in_"))} | {
    "direction_hits",
    "max_step",
}


def point_contributions(points: pd.DataFrame) -> pd.DataFrame:
    """Per scored point (finite y): its terms of every point sum, times its `weight`.

    `points` has the KEYS, step, ds, yhat, yhat_lo_L/yhat_hi_L (L = 80, 95; NaN when not
    served), y (NaN when unknown), mase_scale and weight. Returns KEYS, step, ds, POINT_SUMS.
    """
    y = points[TARGET].to_numpy(dtype="float64")
    scored = points.loc[np.isfinite(y)]
    y = scored[TARGET].to_numpy(dtype="float64")
    w = scored[WEIGHT].to_numpy(dtype="float64")
    error = scored["yhat"].to_numpy(dtype="float64") - y
    scale = scored["mase_scale"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.abs(error) / scale
    defined = np.isfinite(scaled)
    out = {
        "n_points": w,
        "n_scaled": w * defined,
        "sum_scaled_error": w * np.where(defined, scaled, 0.0),
        "sum_error": w * error,
        "sum_y": w * y,
        "n_nonzero_y": w * (y != 0),
        "sum_abs_error": w * np.abs(error),
        "sum_abs_y": w * np.abs(y),
    }
    for lv in SCORED_LEVELS:
        low = scored[f"yhat_lo_{lv}"].to_numpy(dtype="float64")
        high = scored[f"yhat_hi_{lv}"].to_numpy(dtype="float64")
        bounded = np.isfinite(low) & np.isfinite(high)
        out[f"in_{lv}"] = w * (bounded & (low <= y) & (y <= high))
        out[f"n_{lv}"] = w * bounded
    frame = scored[[*KEYS, STEP, TIME]].reset_index(drop=True)
    return frame.assign(**{name: np.asarray(v, dtype="float64") for name, v in out.items()})


def forecast_contributions(states: pd.DataFrame, band: float = DEFAULT_BAND) -> pd.DataFrame:
    """Per forecast state: its terms of the per-forecast sums, times its `weight`.

    `states` has the KEYS, horizon, mase_scale, recent_mean, change_scale, said (label code),
    n_scored, sum_abs_error, sum_y and weight. A forecast counts once it has a scored point;
    its MASE is sum |e| / (scale x n_scored); its direction is judged once all `horizon` steps
    are scored, the mean actual against the same references as the announced label.
    """
    n = states["n_scored"].to_numpy(dtype="float64")
    h = states["horizon"].to_numpy(dtype="float64")
    w = states[WEIGHT].to_numpy(dtype="float64")
    scale = states["mase_scale"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        mase = states["sum_abs_error"].to_numpy(dtype="float64") / (scale * n)
        mean_y = states["sum_y"].to_numpy(dtype="float64") / h
    active = n > 0
    defined = active & np.isfinite(mase)
    complete = active & (n >= h)
    happened = direction_labels(
        np.where(complete, mean_y, np.nan),
        states["recent_mean"].to_numpy(dtype="float64"),
        states["change_scale"].to_numpy(dtype="float64"),
        band,
    ).codes
    said = states["said"].to_numpy(dtype="int64")
    labelled = complete & (said >= 0) & (happened >= 0)
    out = {
        "n_forecasts": w * active,
        "n_mase": w * defined,
        "sum_mase": w * np.where(defined, mase, 0.0),
        "n_direction": w * labelled,
        "direction_hits": w * (labelled & (said == happened)),
    }
    frame = states[KEYS].reset_index(drop=True)
    return frame.assign(**{name: np.asarray(v, dtype="float64") for name, v in out.items()})


def summed(frame: pd.DataFrame, keys: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """`columns` summed per `keys`, counts as integers; groups whose every sum is 0 dropped."""
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *columns])
    sums = frame.groupby(list(keys), sort=True, observed=True)[list(columns)].sum().reset_index()
    for column in columns:
        if column in COUNTS:
            sums[column] = np.rint(sums[column].to_numpy()).astype("int64")
    values = sums[list(columns)].to_numpy(dtype="float64")
    return sums.loc[(values != 0).any(axis=1)].reset_index(drop=True)
