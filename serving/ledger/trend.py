"""Realized accuracy per group of series and per target period (day, week, month): the trend.

Built from the stored points and their actuals with the same terms as the running sums
(`contributions.point_contributions`: each point weighted by the requests that served its
forecast, MASE scaled by the forecast's in-sample scale), then summed per group and period in
pandas. The running sums are kept per series and target date without the absolute errors WAPE
needs, so the trend reads the points, as `accuracy_report(since=...)` does: what retention
pruned is not in it.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from features.schema import ID, TIME, period_start
from serving.db import Forecast, read_transaction
from serving.ledger.contributions import HIERARCHY, WEIGHT, point_contributions
from serving.ledger.scored import forecast_states, points_of, with_forecasts

__all__ = ["GROUP", "PERIOD", "TREND_COLUMNS", "TrendPeriod", "accuracy_by_period"]

TrendPeriod = Literal["D", "W", "M"]
GROUP = "group"
PERIOD = "period_start"
TREND_COLUMNS = [GROUP, PERIOD, "n_points", "n_series", "mase", "wape", "bias"]
_SUMS = ["n_points", "n_scaled", "sum_scaled_error", "sum_abs_error", "sum_abs_y"]
_SUMS += ["sum_error", "sum_y"]


def accuracy_by_period(
    engine: Engine,
    period: TrendPeriod,
    *,
    group_of: pd.Series | None = None,
    since: date | None = None,
) -> pd.DataFrame:
    """Realized accuracy per group and target period, from the scored points.

    Args:
        period: D (day), W (Monday to Sunday, labelled by its Monday) or M (calendar month).
        group_of: each series' group (indexed by unique_id); series not in it are left out.
            None groups by the hierarchy level the ledger stored with each forecast.
        since: keep target dates on or after this day.

    Returns:
        group | period_start | n_points | n_series | mase | wape | bias, sorted by group and
        period. n_points counts a point once per request that served it (as GET /v1/accuracy
        does); mase is the mean of |error| / scale over the points, wape sum |e| / sum |y|,
        bias sum e / sum y (errors forecast - actual); NaN where undefined.
    """
    with read_transaction(engine) as connection:
        where = [] if since is None else [Forecast.last_ds >= since]
        states = forecast_states(connection, *where)
        if states.empty:
            return pd.DataFrame(columns=TREND_COLUMNS)
        points = points_of(connection, states["forecast_id"].tolist(), low=since, scored_only=True)
    states = states.assign(**{WEIGHT: states["n_served"]})
    terms = point_contributions(with_forecasts(points, states))
    if group_of is None:
        groups = terms[HIERARCHY].astype("str")
    else:
        groups = terms[ID].astype("str").map(group_of.astype("str"))
    terms = terms.assign(**{GROUP: groups.to_numpy(), PERIOD: period_start(terms[TIME], period)})
    terms = terms[terms[GROUP].notna()]
    if terms.empty:
        return pd.DataFrame(columns=TREND_COLUMNS)
    grouped = terms.groupby([GROUP, PERIOD], sort=True)
    sums = grouped[_SUMS].sum()
    sums["n_series"] = grouped[ID].nunique()
    with np.errstate(divide="ignore", invalid="ignore"):
        mase = sums["sum_scaled_error"] / sums["n_scaled"].where(sums["n_scaled"] > 0)
        wape = sums["sum_abs_error"] / sums["sum_abs_y"].where(sums["sum_abs_y"] > 0)
        bias = sums["sum_error"] / sums["sum_y"].where(sums["sum_y"] > 0)
    out = pd.DataFrame(
        {
            "n_points": np.rint(sums["n_points"].to_numpy()).astype("int64"),
            "n_series": sums["n_series"].to_numpy().astype("int64"),
            "mase": mase.to_numpy(dtype="float64"),
            "wape": wape.to_numpy(dtype="float64"),
            "bias": bias.to_numpy(dtype="float64"),
        },
        index=sums.index,
    )
    return out.reset_index()[TREND_COLUMNS]
