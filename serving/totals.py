"""POST /v1/forecasts/totals: forecasts of period totals with intervals (training.period_totals).

A period is a date range or a named one, resolved per series from its origin (its last observed
day): the next 7, 14 or 28 days, the next full calendar week (Monday to Sunday) or month. Its
total is the sum of the served daily forecasts over the range, so totals add up over a hierarchy
whenever the daily forecasts do; its bounds come from the backtest errors of such sums.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.schema import TIME
from serving.errors import InvalidRequest
from serving.forecasting import checked_request
from serving.orders import total_errors_of
from serving.schemas import Percent, PlausibleDate, Strict, checked_quantiles
from serving.state import LiveModel
from training.base import check_interval_levels, level_name
from training.errors import TrainingError
from training.period_totals import MIN_POOL, PeriodTotal, Pool, period_total, pool_for

NamedPeriod = Literal["next_7_days", "next_14_days", "next_28_days", "week", "month"]
NEXT_DAYS = {"next_7_days": 7, "next_14_days": 14, "next_28_days": 28}

METHOD = (
    "split-conformal calibration on backtest sums: the errors of the backtest's totals over the "
    "same forecast steps, scaled by each series' naive scale and pooled per hierarchy level (all "
    f"levels when a level has fewer than {MIN_POOL}); the bound at probability p is the "
    "ceil((n + 1) p)-th smallest of the n errors, rescaled, added to the total of the served "
    "daily forecasts. Quantile q > 50 is the upper bound at level 2q - 100, q < 50 the lower "
    "bound at 100 - 2q, q = 50 the total itself."
)


class DateRange(Strict):
    """Days from `start` to `end`, both included."""

    start: PlausibleDate
    end: PlausibleDate


def _check_levels(interval_levels: list[float]) -> list[float]:
    try:
        return [float(lv) for lv in check_interval_levels(interval_levels)]
    except TrainingError as err:
        raise ValueError(str(err)) from None


class TotalsRequest(Strict):
    """Which series, over which periods, at which interval and quantile levels (percent)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "unique_ids": ["bakery-1@croissant", "store=bakery-1"],
                    "periods": [
                        "next_7_days",
                        "week",
                        {"start": "2026-12-01", "end": "2026-12-10"},
                    ],
                    "levels": [80, 95],
                    "quantiles": [2.5, 50, 97.5],
                }
            ]
        },
    )

    unique_ids: list[str] = Field(min_length=1, description="Series ids, any hierarchy level.")
    periods: list[NamedPeriod | DateRange] = Field(
        default_factory=lambda: ["next_7_days"],
        min_length=1,
        max_length=20,
        description="Date ranges {start, end} (inclusive) or next_7_days, next_14_days, "
        "next_28_days, week (the next full Monday-Sunday), month (the next full calendar month); "
        "each inside the model's horizon.",
    )
    levels: list[Percent] = Field(default_factory=lambda: [80.0, 95.0], max_length=10)
    quantiles: list[Percent] = Field(default_factory=list, max_length=20)

    _levels = field_validator("levels")(_check_levels)
    _quantiles = field_validator("quantiles")(checked_quantiles)


class Bounds(BaseModel):
    """The central interval of a total at one level."""

    lo: float
    hi: float


class SeriesTotal(BaseModel):
    """One series' forecast total over one period."""

    unique_id: str
    level: str = Field(description="Hierarchy level of the series.")
    period: str = Field(description="The period's name, or `range` for a date range.")
    start: dt.date
    end: dt.date
    days: int = Field(description="Calendar days from start to end, both included.")
    steps: int = Field(description="Forecast periods summed (days, for a daily model).")
    mean: float = Field(description="The sum of the served forecasts over the period.")
    bounds: dict[str, Bounds] = Field(description='Per interval level, e.g. {"80": {lo, hi}}.')
    quantiles: dict[str, float] = Field(description='Per quantile level, e.g. {"97.5": value}.')
    pool: Literal["level", "all levels"] = Field(
        description="Whose backtest errors calibrated the bounds: the series' hierarchy level, "
        f"or every level when the level had fewer than {MIN_POOL}."
    )
    pool_size: int = Field(description="Backtest totals (series x origins) in the pool.")
    warning: str | None = Field(
        default=None,
        description="Set when the pool is too small for some requested level or quantile: "
        "its bound is then the most extreme backtest error and may cover less than asked.",
    )


class TotalsResponse(BaseModel):
    """Totals per requested series and period, and the method behind their bounds."""

    model_name: str
    model_version: str
    totals: list[SeriesTotal]
    method: str


def resolve_period(period: str | DateRange, origin: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of `period` for a series whose last observed day is `origin`."""
    if isinstance(period, DateRange):
        return period.start, period.end
    day = origin + dt.timedelta(days=1)
    if period in NEXT_DAYS:
        return day, origin + dt.timedelta(days=NEXT_DAYS[period])
    if period == "week":
        monday = day + dt.timedelta(days=(7 - day.weekday()) % 7)
        return monday, monday + dt.timedelta(days=6)
    first = day if day.day == 1 else (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, following - dt.timedelta(days=1)


def _label(period: str | DateRange) -> str:
    return "range" if isinstance(period, DateRange) else period


def _steps(
    period: str | DateRange, origin: dt.date, days: np.ndarray, horizon: int, field: str
) -> tuple[dt.date, dt.date, int, int]:
    """The period's days and its first and last forecast step, or the error naming `field`."""
    start, end = resolve_period(period, origin)
    what = f"period {_label(period)!r} ({start} to {end})"
    if start > end:
        raise InvalidRequest(f"{what}: start is after end", field)
    last_day = days[-1]
    if start <= origin or end > last_day:
        raise InvalidRequest(
            f"{what} is outside the forecast, {origin + dt.timedelta(days=1)} to {last_day} "
            f"(the model's horizon of {horizon} periods after the last observed day {origin})",
            field,
        )
    inside = np.flatnonzero((days >= start) & (days <= end))
    if not len(inside):
        raise InvalidRequest(f"{what} holds none of the forecast's dates", field)
    return start, end, int(inside[0]) + 1, int(inside[-1]) + 1


def steps_total(
    live: LiveModel,
    uid: str,
    yhat: np.ndarray,
    first: int,
    last: int,
    levels: Sequence[float] = (),
    quantiles: Sequence[float] = (),
    errors: dict[str, np.ndarray] | None = None,
    scale: dict[str, float] | None = None,
    pools: dict[tuple[str, int, int], Pool] | None = None,
) -> PeriodTotal:
    """The total of `uid`'s forecast `yhat` (all its steps) over steps first..last (1-based),
    with its conformal bounds; `errors`, `scale` and `pools` (filled per hierarchy level and
    steps) are looked up once by a caller of many."""
    errors = total_errors_of(live) if errors is None else errors
    if scale is None:
        scale = dict(zip(live.model.unique_ids_, live.model.scale_, strict=True))
    key = (live.level_of[uid], first, last)
    pool = None if pools is None else pools.get(key)
    if pool is None:
        pool = pool_for(errors, key[0], first, last)
        if pools is not None:
            pools[key] = pool
    return period_total(yhat[first - 1 : last], float(scale[uid]), pool, levels, quantiles)


def forecast_totals(live: LiveModel, body: TotalsRequest, max_series: int) -> TotalsResponse:
    """One total per requested series and period, from the snapshot's forecasts."""
    ids, horizon = checked_request(live, body.unique_ids, None, max_series)
    columns = live.forecast(ids, horizon, [])
    yhat = np.asarray(columns["yhat"], dtype="float64").reshape(len(ids), horizon)
    dates = np.asarray(columns[TIME], dtype="datetime64[D]").reshape(len(ids), horizon)
    errors = total_errors_of(live)
    scale = dict(zip(live.model.unique_ids_, live.model.scale_, strict=True))
    totals = []
    for i, uid in enumerate(ids):
        origin = live.origin_of[uid].date()
        days = np.array(dates[i].tolist())
        for index, period in enumerate(body.periods):
            field = f"body.periods.{index}"
            start, end, first, last = _steps(period, origin, days, horizon, field)
            try:
                total = steps_total(
                    live, uid, yhat[i], first, last, body.levels, body.quantiles, errors, scale
                )
            except TrainingError as err:
                raise InvalidRequest(str(err), field) from None
            totals.append(
                _line(uid, live.level_of[uid], period, start, end, last - first + 1, total)
            )
    return TotalsResponse(
        model_name=live.name, model_version=live.version, totals=totals, method=METHOD
    )


def _line(
    uid: str,
    level: str,
    period: str | DateRange,
    start: dt.date,
    end: dt.date,
    steps: int,
    total: PeriodTotal,
) -> SeriesTotal:
    named = []
    if total.capped_levels:
        named.append(f"levels {[level_name(lv) for lv in total.capped_levels]}")
    if total.capped_quantiles:
        named.append(f"quantiles {[level_name(q) for q in total.capped_quantiles]}")
    warning = None
    if named:
        warning = (
            f"the {total.pool.size} backtest totals in the pool are too few for "
            f"{' and '.join(named)}: their bound is the most extreme error seen and may cover "
            "less than asked (a backtest with more windows gives more)"
        )
    return SeriesTotal(
        unique_id=uid,
        level=level,
        period=_label(period),
        start=start,
        end=end,
        days=(end - start).days + 1,
        steps=steps,
        mean=round(total.mean, 6),
        bounds={
            str(level_name(lv)): Bounds(lo=round(low, 6), hi=round(high, 6))
            for lv, (low, high) in total.bounds.items()
        },
        quantiles={str(level_name(q)): round(v, 6) for q, v in total.quantiles.items()},
        pool=total.pool.source,  # type: ignore[arg-type]
        pool_size=total.pool.size,
        warning=warning,
    )
