"""Reads shared by the ledger's writers and its reports: forecasts, and their points with actuals.

A point is scored when its (unique_id, ds) has an actual: the actual is joined at read time, so
scoring never rewrites the stored points.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, String, Table, and_, null, select, type_coerce

from features.schema import TARGET, TIME
from serving.db import Actual, Forecast, ForecastPoint
from serving.ledger.contributions import KEYS, STEP, WEIGHT

__all__ = [
    "CHUNK",
    "STATE_COLUMNS",
    "chunks",
    "driver_days",
    "forecast_states",
    "insert_many",
    "points_of",
    "with_forecasts",
]

#: Values per `IN (...)` list, well under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 500
BOUNDS = [f"yhat_{side}_{lv}" for lv in (80, 95) for side in ("lo", "hi")]
#: Columns of a forecast's scoring state, as `forecast_contributions` takes them.
STATE_COLUMNS = [
    "forecast_id",
    *KEYS,
    "horizon",
    "mase_scale",
    "recent_mean",
    "change_scale",
    "said",
    "n_scored",
    "sum_abs_error",
    "sum_y",
    "n_served",
]
POINT_COLUMNS = ["forecast_id", STEP, TIME, "yhat", *BOUNDS, TARGET]


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """`values` in lists of at most `size`."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def driver_days(connection: Connection, days: np.ndarray) -> list[Any]:
    """Dates as this driver stores them: ISO text for SQLite, date objects otherwise."""
    if connection.dialect.name == "sqlite":
        return np.datetime_as_string(days, unit="D").tolist()
    return days.astype("datetime64[D]").tolist()


def insert_many(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple]
) -> None:
    """Insert plain tuples through the driver's executemany (SQLAlchemy's processing of each
    row's parameters costs more than the database's insert)."""
    if not rows:
        return
    mark = "?" if connection.dialect.name == "sqlite" else "%s"
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    for part in chunks(list(rows), 5_000):
        connection.exec_driver_sql(statement, part)


def _state_query() -> Select[Any]:
    return select(
        Forecast.id.label("forecast_id"),
        Forecast.unique_id,
        Forecast.hierarchy_level,
        Forecast.model_version,
        Forecast.horizon,
        Forecast.mase_scale,
        Forecast.recent_mean,
        Forecast.change_scale,
        Forecast.said,
        Forecast.n_scored,
        Forecast.sum_abs_error,
        Forecast.sum_y,
        Forecast.n_served,
    )


#: Integer columns of the state (the rest: names as str, numbers as float with NaN).
INTEGERS = ("forecast_id", "horizon", "said", "n_scored", "n_served")


def _state_frame(rows: list[Any]) -> pd.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in STATE_COLUMNS]
    data: dict[str, Any] = {}
    for name, values in zip(STATE_COLUMNS, columns, strict=True):
        if name in INTEGERS:
            data[name] = np.asarray(values, dtype="int64")
        elif name in KEYS:
            data[name] = pd.Series(values, dtype="str")
        else:
            data[name] = _floats(values)
    return pd.DataFrame(data)


def _floats(values: Sequence[Any]) -> np.ndarray:
    """Numbers read from the database, NULL as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype="float64")


def forecast_states(connection: Connection, *where: Any, ids: Sequence[int] = ()) -> pd.DataFrame:
    """The scoring state of the forecasts matching `where` (or with these `ids`)."""
    query = _state_query().where(*where)
    if not ids:
        return _state_frame(connection.execute(query).all())
    rows = [
        row
        for part in chunks(list(ids))
        for row in connection.execute(query.where(Forecast.id.in_(part))).all()
    ]
    return _state_frame(rows)


def points_of(
    connection: Connection,
    forecast_ids: Sequence[int],
    *,
    low: date | None = None,
    high: date | None = None,
    scored_only: bool = False,
    actuals: bool = True,
) -> pd.DataFrame:
    """Points of these forecasts (target dates in [low, high] when given), y NaN if unknown.

    `scored_only` keeps the points that have an actual; without `actuals` y is left NaN.
    """
    # SQLite gives dates as text: parsed by numpy at once, not row by row
    day = ForecastPoint.ds
    if connection.dialect.name == "sqlite":
        day = type_coerce(ForecastPoint.ds, String)  # type: ignore[assignment]
    columns = [
        ForecastPoint.forecast_id,
        ForecastPoint.step,
        day,
        ForecastPoint.yhat,
        ForecastPoint.yhat_lo_80,
        ForecastPoint.yhat_hi_80,
        ForecastPoint.yhat_lo_95,
        ForecastPoint.yhat_hi_95,
    ]
    if actuals or scored_only:
        actual = and_(Actual.unique_id == Forecast.unique_id, Actual.ds == ForecastPoint.ds)
        query = (
            select(*columns, Actual.y)
            .join(Forecast, Forecast.id == ForecastPoint.forecast_id)
            .join(Actual, actual, isouter=not scored_only)
        )
    else:
        query = select(*columns, null().label("y"))
    if low is not None:
        query = query.where(ForecastPoint.ds >= low)
    if high is not None:
        query = query.where(ForecastPoint.ds <= high)
    rows = [
        row
        for part in chunks(sorted(set(forecast_ids)))
        for row in connection.execute(query.where(ForecastPoint.forecast_id.in_(part))).all()
    ]
    return points_frame(rows)


def points_frame(rows: list[Any]) -> pd.DataFrame:
    """Rows (forecast_id, step, ds, yhat, bounds 80/95, y) as a typed frame."""
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in POINT_COLUMNS]
    data: dict[str, Any] = {}
    for name, values in zip(POINT_COLUMNS, columns, strict=True):
        if name == TIME:
            data[name] = np.array(values, dtype="datetime64[D]").astype("datetime64[us]")
        elif name in ("forecast_id", STEP):
            data[name] = np.asarray(values, dtype="int64")
        else:
            data[name] = _floats(values)
    return pd.DataFrame(data)


def with_forecasts(points: pd.DataFrame, states: pd.DataFrame) -> pd.DataFrame:
    """`points` with their forecast's KEYS, MASE scale and `weight` column (from `states`)."""
    columns = ["forecast_id", *KEYS, "mase_scale", WEIGHT]
    return points.merge(states[columns], on="forecast_id", how="inner")
