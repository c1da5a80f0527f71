"""Accuracy sums rebuilt from the stored points with target dates on or after a day (`since`).

The running sums cannot be cut by target date: a forecast's MASE is the mean over its scored
points, and its direction needs its whole horizon. So for `since` the same contributions are
computed again from the points (and actuals) the ledger still holds.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from features.schema import TARGET, TIME
from serving.db import Forecast
from serving.ledger.cells import Columns, Filters, series_rows
from serving.ledger.contributions import (
    DAY_SUMS,
    KEYS,
    POINT_SUMS,
    STEP,
    WEIGHT,
    forecast_contributions,
    point_contributions,
    summed,
)
from serving.ledger.scored import forecast_states, points_of, with_forecasts

__all__ = ["since_sums"]


def _columns(frame: pd.DataFrame) -> Columns:
    out: Columns = {}
    for name in frame.columns:
        values = frame[name].to_numpy()
        if name in KEYS:
            out[name] = values.astype(object)
        elif name == TIME:
            out[name] = values.astype("datetime64[D]")
        else:
            out[name] = values.astype("float64")
    return out


def since_sums(
    connection: Connection, filters: Filters, since: date
) -> tuple[Columns, Columns, Columns]:
    """The per-series, per-step and per-day sums of the points with ds >= `since`."""
    states = forecast_states(connection, Forecast.last_ds >= since, *filters.where(Forecast))
    points = points_of(connection, states["forecast_id"].tolist(), low=since, scored_only=True)
    yhat, y = points["yhat"].to_numpy(), points[TARGET].to_numpy()
    window = (
        pd.DataFrame(
            {
                "forecast_id": points["forecast_id"].to_numpy(),
                "n_scored": np.ones(len(points), dtype="int64"),
                "sum_abs_error": np.abs(yhat - y),
                "sum_y": y,
            }
        )
        .groupby("forecast_id")
        .sum()
        .reset_index()
    )
    states = states.drop(columns=["n_scored", "sum_abs_error", "sum_y"]).merge(
        window, on="forecast_id", how="inner"
    )
    states = states.assign(**{WEIGHT: states["n_served"]})
    terms = point_contributions(with_forecasts(points, states))
    series = series_rows(terms, forecast_contributions(states))
    steps = summed(terms, [STEP], POINT_SUMS)
    days = summed(terms, [*KEYS, TIME], DAY_SUMS)
    return _columns(series), _columns(steps), _columns(days)
