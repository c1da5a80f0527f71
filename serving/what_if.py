"""What-if forecasts: the served model under a posted plan of future price and promotion.

The base forecast assumes each series' last price carried forward and no promotion
(`AutoForecaster.default_future`). A scenario posts future values of the model's known-future
variables for some bottom series and dates; every other row keeps the assumed plan. Aggregates
carry the mean of their members' values (`features.hierarchy.aggregate_exogenous`, as in
training), recomputed only for the aggregates that hold a changed series, so a scenario that
changes nothing forecasts exactly the base. The forecast is the whole hierarchy's, reconciled
like the base one, so the what-if totals still add up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.hierarchy import aggregate_exogenous
from features.schema import BOTTOM_LEVEL, ID, TIME
from serving.errors import InvalidRequest, UnknownSeries
from serving.forecasting import Served
from serving.state import LiveModel
from training.base import hi, lo


@dataclass(frozen=True)
class PlanRow:
    """One posted future row: a bottom series, a date and the values it changes."""

    unique_id: str
    ds: pd.Timestamp
    values: dict[str, float]


def known_future_columns(live: LiveModel) -> list[str]:
    """The variables a scenario may set: the known-future columns a member of the model reads
    (price, promo, ...); empty when every member forecasts from the sales alone."""
    used: set[str] = set()
    for route in getattr(live.model, "routes_", []):
        for member in route.members:
            used |= set(getattr(getattr(member, "spec_", None), "exog", ()) or ())
    return [c for c in getattr(live.model, "exog_", None) or [] if c in used]


def checked_plan(live: LiveModel, rows: list[PlanRow], horizon: int, field: str) -> list[PlanRow]:
    """The rows, or the error naming the first wrong one (`field`.N.name)."""
    columns = known_future_columns(live)
    if not columns:
        raise InvalidRequest(
            "this model reads no known-future variables (price, promotion, ...): none of its "
            "members uses them, so a scenario cannot change its forecast",
            field,
        )
    unknown = [r.unique_id for r in rows if r.unique_id not in live.level_of]
    if unknown:
        index = next(i for i, r in enumerate(rows) if r.unique_id in set(unknown))
        raise UnknownSeries(unknown, f"{field}.{index}.unique_id", "; GET /v1/series lists them")
    seen: set[tuple[str, pd.Timestamp]] = set()
    steps = future_dates_of(live, {r.unique_id for r in rows}, horizon)
    for index, row in enumerate(rows):
        where = f"{field}.{index}"
        if live.level_of[row.unique_id] != BOTTOM_LEVEL:
            raise InvalidRequest(
                f"{row.unique_id!r} is an aggregate ({live.level_of[row.unique_id]}): a "
                "scenario sets the plan of bottom series; their aggregates follow",
                f"{where}.unique_id",
            )
        bad = sorted(set(row.values) - set(columns))
        if bad:
            raise InvalidRequest(
                f"{bad} are not variables of this model; a scenario may set {columns}",
                f"{where}.{bad[0]}",
            )
        if not row.values:
            raise InvalidRequest(f"give at least one of {columns}", where)
        dates = steps[row.unique_id]
        if row.ds not in dates:
            raise InvalidRequest(
                f"{row.ds.date()} is not one of the {horizon} forecast dates of "
                f"{row.unique_id!r} ({dates[0].date()} to {dates[-1].date()})",
                f"{where}.ds",
            )
        key = (row.unique_id, row.ds)
        if key in seen:
            raise InvalidRequest(f"{row.unique_id!r} on {row.ds.date()} is given twice", where)
        seen.add(key)
    return rows


def future_dates_of(
    live: LiveModel, unique_ids: set[str], horizon: int
) -> dict[str, pd.DatetimeIndex]:
    """The forecast dates 1..horizon after the origin of each of `unique_ids`."""
    step = pd.tseries.frequencies.to_offset(live.model.freq_)
    origins = live.origin_of
    return {
        uid: pd.date_range(origins[uid] + step, periods=horizon, freq=step) for uid in unique_ids
    }


def scenario_plan(live: LiveModel, rows: list[PlanRow], horizon: int) -> pd.DataFrame:
    """The full plan (every series, every step): the assumed one with the posted rows applied."""
    model = live.model
    columns = known_future_columns(live)
    plan = model.default_future(horizon)
    if not rows:
        return plan
    posted = pd.DataFrame(
        [{ID: r.unique_id, TIME: r.ds, **r.values} for r in rows], columns=[ID, TIME, *columns]
    )
    keyed = plan.set_index([ID, TIME])
    update = posted.set_index([ID, TIME])
    keyed.update(update)  # only the posted (series, date, variable) cells; NaN leaves a cell
    plan = keyed.reset_index()
    membership = live.bundle.membership
    changed = set(posted[ID])
    holding = live.parents_of(changed)
    if membership is None or membership.empty or not holding:
        return plan
    bottom = plan[plan[ID].isin(set(membership[ID].astype("str")))]
    aggregated = aggregate_exogenous(bottom, membership, columns)
    aggregated = aggregated[aggregated[ID].isin(holding)].set_index([ID, TIME])
    keyed = plan.set_index([ID, TIME])
    keyed.update(aggregated)
    return keyed.reset_index()[plan.columns]


def what_if(
    live: LiveModel, ids: list[str], horizon: int, interval_levels: list[int], rows: list[PlanRow]
) -> Served:
    """The forecasts of `ids` under the scenario (the whole hierarchy is forecast, then cut)."""
    plan = scenario_plan(live, rows, horizon)
    frame = live.model.predict(int(horizon), interval_levels=tuple(interval_levels), future=plan)
    order = {uid: i for i, uid in enumerate(ids)}
    frame = frame[frame[ID].isin(order)]
    frame = frame.iloc[np.lexsort((frame[TIME].to_numpy(), frame[ID].map(order).to_numpy()))]
    bounds = {
        lv: (
            frame[lo(lv)].to_numpy(dtype="float64"),
            frame[hi(lv)].to_numpy(dtype="float64"),
        )
        for lv in interval_levels
    }
    return Served(
        ids=ids,
        hierarchy_levels=[str(live.level_of[uid]) for uid in ids],
        origins=[live.origin_of[uid] for uid in ids],
        horizon=horizon,
        interval_levels=list(interval_levels),
        days=frame[TIME].to_numpy(dtype="datetime64[us]"),
        yhat=frame["yhat"].to_numpy(dtype="float64"),
        bounds=bounds,
        served_at=dt.datetime.now(dt.UTC),
    )
