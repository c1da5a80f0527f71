"""Point-level reads: every served point with its request (the audit), scored points as frames.

Frames use the project's columns: unique_id, level (hierarchy), model_version, request_id,
cutoff or origin, served_at, horizon, step, ds, yhat, yhat_lo_L/yhat_hi_L (80 and 95 always,
other interval levels when served), y. One row per served point: a forecast served by n
requests gives n rows, told apart by request_id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Select, and_, select

from features.schema import HIERARCHY_LEVEL, ID, TARGET, TIME
from serving.db import Actual, Forecast, ForecastBound, ForecastPoint, ForecastRequest, ServedSeries
from serving.frame_checks import naive_utc
from serving.ledger.scored import chunks

__all__ = ["scored_points", "served_history"]

CUTOFF = "cutoff"  # the forecast origin, named as in training's backtest frames
STEP = "step"
COLUMN_LEVELS = (80, 95)
HEAD = [
    ID,
    HIERARCHY_LEVEL,
    "model_version",
    "request_id",
    CUTOFF,
    "served_at",
    "horizon",
    STEP,
    TIME,
    "yhat",
]
BOUNDS = [f"yhat_{side}_{lv}" for lv in COLUMN_LEVELS for side in ("lo", "hi")]


def _points_query(scored_only: bool) -> Select[Any]:
    actual = and_(Actual.unique_id == Forecast.unique_id, Actual.ds == ForecastPoint.ds)
    return (
        select(
            Forecast.unique_id,
            Forecast.hierarchy_level,
            Forecast.model_version,
            ServedSeries.request_id,
            Forecast.origin,
            ForecastRequest.served_at,
            Forecast.horizon,
            ForecastPoint.step,
            ForecastPoint.ds,
            ForecastPoint.yhat,
            *(getattr(ForecastPoint, c) for c in BOUNDS),
            Actual.y,
            Forecast.id,
        )
        .select_from(ServedSeries)
        .join(Forecast, Forecast.id == ServedSeries.forecast_id)
        .join(ForecastRequest, ForecastRequest.id == ServedSeries.request_id)
        .join(ForecastPoint, ForecastPoint.forecast_id == Forecast.id)
        .join(Actual, actual, isouter=not scored_only)
    )


def _frame(engine: Engine, query: Select[Any], unique_ids: Sequence[str] | None) -> pd.DataFrame:
    """Rows of `_points_query` as a typed frame, with the bounds of other interval levels."""
    with engine.connect() as connection:
        if unique_ids is None:
            rows = list(connection.execute(query))
        else:
            ids = sorted({str(uid) for uid in unique_ids})
            rows = [
                row
                for part in chunks(ids)
                for row in connection.execute(query.where(Forecast.unique_id.in_(part)))
            ]
        forecast_ids = sorted({row[-1] for row in rows})
        extra = [
            row
            for part in chunks(forecast_ids)
            for row in connection.execute(
                select(
                    ForecastBound.forecast_id,
                    ForecastBound.step,
                    ForecastBound.interval_level,
                    ForecastBound.lo,
                    ForecastBound.hi,
                ).where(ForecastBound.forecast_id.in_(part))
            )
        ]
    frame = pd.DataFrame(rows, columns=[*HEAD, *BOUNDS, TARGET, "forecast_id"])
    frame = frame.astype(
        {ID: "str", HIERARCHY_LEVEL: "str", "model_version": "str", "request_id": "str"}
    )
    for column in (CUTOFF, TIME, "served_at"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    frame = frame.astype({"horizon": "int64", STEP: "int64"})
    for column in ["yhat", *BOUNDS, TARGET]:
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    levels = list(COLUMN_LEVELS)
    if extra:
        bounds = pd.DataFrame(extra, columns=["forecast_id", STEP, "level", "lo", "hi"])
        wide = bounds.pivot_table(index=["forecast_id", STEP], columns="level", values=["lo", "hi"])
        for level in sorted(bounds["level"].unique()):
            for side in ("lo", "hi"):
                column = wide[(side, level)].rename(f"yhat_{side}_{int(level)}").reset_index()
                frame = frame.merge(column, on=["forecast_id", STEP], how="left")
            levels.append(int(level))
    ordered = [c for lv in sorted(levels) for c in (f"yhat_lo_{lv}", f"yhat_hi_{lv}")]
    for column in ordered:
        frame[column] = frame[column].astype("float64") if column in frame else np.nan
    return frame[[*HEAD, *ordered, TARGET]]


def scored_points(
    engine: Engine,
    unique_ids: Sequence[str] | None = None,
    hierarchy_level: str | None = None,
    model_version: str | None = None,
    since: Any = None,
) -> pd.DataFrame:
    """Served points that have an actual, filtered; `since` keeps target dates ds >= since.

    Columns: unique_id, level, model_version, request_id, cutoff (the origin), served_at,
    horizon, step, ds, yhat, yhat_lo_L/yhat_hi_L for every level served (80 and 95 always), y.
    """
    query = _points_query(scored_only=True)
    if hierarchy_level is not None:
        query = query.where(Forecast.hierarchy_level == str(hierarchy_level))
    if model_version is not None:
        query = query.where(Forecast.model_version == str(model_version))
    if since is not None:
        query = query.where(ForecastPoint.ds >= naive_utc(since, "since").date())
    frame = _frame(engine, query, unique_ids)
    order = [ID, CUTOFF, "served_at", "request_id", STEP]
    return frame.sort_values(order, ignore_index=True)


def served_history(engine: Engine, unique_id: str, as_of: Any) -> pd.DataFrame:
    """Audit: every point served for `unique_id` up to the end of `as_of`'s day, newest first.

    Columns as `scored_points` but with `origin` for `cutoff`; y is NaN where no actual is known.
    Requests older than the retention (`prune_served`) are gone from it.
    """
    end = pd.Timestamp(naive_utc(as_of, "as_of")).normalize() + pd.Timedelta(days=1)
    query = _points_query(scored_only=False).where(
        Forecast.unique_id == str(unique_id), ForecastRequest.served_at < end.to_pydatetime()
    )
    frame = _frame(engine, query, None).rename(columns={CUTOFF: "origin"})
    return frame.sort_values(
        ["served_at", "request_id", STEP], ascending=[False, False, True], ignore_index=True
    )
