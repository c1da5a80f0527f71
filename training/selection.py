"""Combine forecasts of several models: median, mean, or per-series weights from backtest errors.

All functions work on stacked forecast or cv frames (one row per series, date and model) and
return the same shape with `model` set to the combination's name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.schema import ID, TARGET, TIME
from training.backtest import CUTOFF, STEP, WINDOW
from training.base import MODEL, YHAT
from training.errors import TrainingError

COMBINATIONS = ("median", "mean", "inverse_error", "best")


def _wide(frame: pd.DataFrame, keys: list[str], members: Sequence[str]) -> pd.DataFrame:
    wide = frame.pivot_table(index=keys, columns=MODEL, values=YHAT, sort=False)
    missing = [m for m in members if m not in wide.columns]
    if missing:
        raise TrainingError(f"no forecasts from model(s) {missing} to combine")
    return wide[list(members)]


def error_weights(
    cv: pd.DataFrame, members: Sequence[str], method: str, *, power: float = 1.0
) -> pd.DataFrame:
    """Per-series weights of each member from its backtest mean absolute error.

    `inverse_error` weights by 1 / MAE**power; `best` puts all weight on the lowest MAE.
    Ties and all-zero errors share the weight equally.
    """
    errors = cv.assign(abs_error=(cv[TARGET] - cv[YHAT]).abs())
    mae = errors.pivot_table(index=ID, columns=MODEL, values="abs_error", aggfunc="mean")
    mae = mae[list(members)]
    if method == "best":
        best = mae.to_numpy() == mae.min(axis=1).to_numpy()[:, None]
        weights = best / best.sum(axis=1, keepdims=True)
    else:
        with np.errstate(divide="ignore"):
            inverse = 1.0 / np.power(np.maximum(mae.to_numpy(), 1e-12), power)
        weights = inverse / inverse.sum(axis=1, keepdims=True)
    return pd.DataFrame(weights, index=mae.index, columns=list(members))


def combine(
    frame: pd.DataFrame,
    members: Sequence[str],
    method: str = "median",
    *,
    weights: pd.DataFrame | None = None,
    name: str = "combination",
) -> pd.DataFrame:
    """One combined forecast per (series, date[, cutoff]) from the members' `yhat`."""
    if method not in COMBINATIONS:
        raise TrainingError(f"unknown combination {method!r}; choose one of {COMBINATIONS}")
    keys = [c for c in (ID, TIME, CUTOFF, WINDOW, STEP) if c in frame.columns]
    wide = _wide(frame[frame[MODEL].isin(members)], keys, members)
    values = wide.to_numpy()
    if method == "median":
        combined = np.median(values, axis=1)
    elif method == "mean":
        combined = values.mean(axis=1)
    else:
        if weights is None:
            raise TrainingError(f"the {method!r} combination needs backtest weights")
        row_weights = weights.reindex(wide.index.get_level_values(ID)).to_numpy()
        row_weights = np.where(np.isnan(row_weights), 1.0 / len(members), row_weights)
        combined = (values * row_weights).sum(axis=1)
    out = wide.index.to_frame(index=False)
    out[MODEL] = name
    out[YHAT] = combined
    if TARGET in frame.columns:
        truth = frame.drop_duplicates(keys)[[*keys, TARGET]]
        out = out.merge(truth, on=keys, how="left")
    return out
