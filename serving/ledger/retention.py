"""Retention: forget old served requests, keep the accuracy they earned; and the ledger's size.

`prune_served` deletes requests served before a cutoff with their links, then the distinct
forecasts (and points) no remaining request uses, and the what-if answers of that age. The
accuracy sums are left as they are, so `accuracy_report` answers the same after pruning; actuals
are never touched. It works in small
transactions, each holding the write lock for a few milliseconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select

from serving.db import (
    AccuracyDay,
    AccuracySeries,
    AccuracyStep,
    Actual,
    Forecast,
    ForecastBound,
    ForecastPoint,
    ForecastRequest,
    ScenarioForecast,
    ServedSeries,
    write_transaction,
)
from serving.frame_checks import naive_utc
from serving.ledger.scenarios import prune_scenarios

__all__ = ["ledger_counts", "prune_served"]

#: Requests (or forecasts) deleted per transaction.
BATCH = 500


def prune_served(engine: Engine, *, older_than: Any, batch: int = BATCH) -> int:
    """Delete what was served before `older_than` (naive UTC or aware); returns the number of
    served points (series x steps of the deleted requests) removed from the audit trail.

    A forecast is deleted once no kept request uses it (its last use is before the cutoff).
    Points pruned before their actual arrives are never scored: keep longer than actuals take.
    """
    if int(batch) < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    cutoff: datetime = naive_utc(older_than, "older_than")
    removed = 0
    while True:
        with write_transaction(engine) as connection:
            rows = connection.execute(
                select(ForecastRequest.id, ForecastRequest.n_series, ForecastRequest.horizon)
                .where(ForecastRequest.served_at < cutoff)
                .order_by(ForecastRequest.served_at)
                .limit(batch)
            ).all()
            if not rows:
                break
            ids = [row[0] for row in rows]
            connection.execute(delete(ServedSeries).where(ServedSeries.request_id.in_(ids)))
            connection.execute(delete(ForecastRequest).where(ForecastRequest.id.in_(ids)))
            removed += sum(int(n) * int(h) for _, n, h in rows)
    while True:
        with write_transaction(engine) as connection:
            ids = list(
                connection.execute(
                    select(Forecast.id).where(Forecast.last_served_at < cutoff).limit(batch)
                ).scalars()
            )
            if not ids:
                break
            connection.execute(delete(ForecastBound).where(ForecastBound.forecast_id.in_(ids)))
            connection.execute(delete(ForecastPoint).where(ForecastPoint.forecast_id.in_(ids)))
            connection.execute(delete(Forecast).where(Forecast.id.in_(ids)))
    prune_scenarios(engine, older_than=cutoff)
    return removed


def ledger_counts(engine: Engine) -> dict[str, int]:
    """Rows the ledger holds: requests, served points (series x steps), distinct forecasts and
    their points, actuals, and accuracy sums (series, steps, days)."""
    tables = {
        "requests": ForecastRequest,
        "served_series": ServedSeries,
        "forecasts": Forecast,
        "forecast_points": ForecastPoint,
        "actuals": Actual,
        "accuracy_series": AccuracySeries,
        "accuracy_steps": AccuracyStep,
        "accuracy_days": AccuracyDay,
        "scenarios": ScenarioForecast,
    }
    with engine.connect() as connection:
        out = {
            name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in tables.items()
        }
        served = select(
            func.coalesce(func.sum(ForecastRequest.n_series * ForecastRequest.horizon), 0)
        )
        out["served_points"] = int(connection.execute(served).scalar_one())
    return out
