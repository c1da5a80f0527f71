"""What-if forecasts in the ledger: kept with their plan for the audit trail, never scored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from serving.db import ScenarioForecast, read_transaction, write_transaction
from serving.frame_checks import naive_utc

__all__ = ["ScenarioRecord", "log_scenario", "prune_scenarios", "scenario_of"]


@dataclass(frozen=True)
class ScenarioRecord:
    """One what-if answer: who asked, the posted plan rows, and per series the served points."""

    request_id: str
    served_at: datetime
    model_name: str
    model_version: str
    api_key_id: int | None
    name: str
    plan: list[dict[str, Any]]
    forecast: dict[str, list[dict[str, Any]]]


def log_scenario(engine: Engine, record: ScenarioRecord) -> None:
    """Store one what-if answer (one row; it never reaches the scored forecasts)."""
    with write_transaction(engine) as connection:
        connection.execute(
            insert(ScenarioForecast).values(
                request_id=record.request_id,
                served_at=naive_utc(record.served_at, "served_at"),
                model_name=record.model_name,
                model_version=record.model_version,
                api_key_id=record.api_key_id,
                name=record.name,
                plan=json.dumps(record.plan, default=str),
                forecast=json.dumps(record.forecast, default=str),
            )
        )


def scenario_of(engine: Engine, request_id: str) -> ScenarioRecord | None:
    """The what-if answer of a request, or None."""
    table = ScenarioForecast.__table__
    with read_transaction(engine) as connection:
        row = (
            connection.execute(select(table).where(table.c.request_id == request_id))
            .mappings()
            .first()
        )
    if row is None:
        return None
    return ScenarioRecord(
        **{**row, "plan": json.loads(row["plan"]), "forecast": json.loads(row["forecast"])}
    )


def prune_scenarios(engine: Engine, *, older_than: Any) -> int:
    """Delete what-if answers served before `older_than`; returns how many."""
    cutoff = naive_utc(older_than, "older_than")
    with write_transaction(engine) as connection:
        result = connection.execute(
            delete(ScenarioForecast).where(ScenarioForecast.served_at < cutoff)
        )
    return int(result.rowcount or 0)
