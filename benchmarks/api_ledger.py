"""Ledgers for the API benchmark: copy one, fill it with served points, measure its size.

The 1M-point ledger is written through serving.ledger's public functions (`log_served_many` when
the ledger has it, else `log_served` per request), never raw SQL, so it holds exactly what the
server would have written had it answered those requests; the forecasts are the served model's
own, as our API answered them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Requests handed to the ledger per call (one transaction when `log_served_many` exists).
REQUESTS_PER_CALL = 200


@dataclass(frozen=True)
class SeriesForecast:
    """One series as the API served it: level, origin, dates and the values of each column."""

    unique_id: str
    level: str
    origin: dt.datetime
    ds: list[dt.datetime]
    values: dict[str, np.ndarray]


def parse_forecasts(body: dict[str, Any], interval_levels: list[int]) -> list[SeriesForecast]:
    """The series of a `POST /v1/forecasts` JSON answer."""
    columns = ["yhat", *(f"yhat_{s}_{lv}" for lv in interval_levels for s in ("lo", "hi"))]
    found = []
    for item in body["forecasts"]:
        points = item["points"]
        found.append(
            SeriesForecast(
                unique_id=item["unique_id"],
                level=str(item.get("level", item.get("hierarchy_level"))),
                origin=dt.datetime.fromisoformat(item["origin"]),
                ds=[dt.datetime.fromisoformat(p["ds"]) for p in points],
                values={c: np.array([p[c] for p in points], dtype="float64") for c in columns},
            )
        )
    return found


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its WAL included) with SQLite's backup API."""
    target.unlink(missing_ok=True)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _requests(
    series: list[SeriesForecast], per_request: int, interval_levels: list[int], days: int
) -> Iterator[tuple[int, list[SeriesForecast], dict[int, tuple[np.ndarray, np.ndarray]]]]:
    """Endless (days back, series, bounds) of requests of `per_request` series each.

    The series are taken in turn and the requests spread evenly over the last `days` days.
    """
    k = 0
    while True:
        part = [series[(k + i) % len(series)] for i in range(per_request)]
        bounds = {
            lv: (
                np.concatenate([s.values[f"yhat_lo_{lv}"] for s in part]),
                np.concatenate([s.values[f"yhat_hi_{lv}"] for s in part]),
            )
            for lv in interval_levels
        }
        yield (k // per_request) % days, part, bounds
        k += per_request


def _served_rows(
    rows_type: type, part: list[SeriesForecast], bounds: dict, back: dt.timedelta, now: dt.datetime
) -> Any:
    """A `ServedRows` of `part` as served `back` ago from origins `back` earlier (any schema)."""
    names = {f.name for f in dataclasses.fields(rows_type)}
    levels = "hierarchy_levels" if "hierarchy_levels" in names else "levels"
    extra = {"served_at": now - back} if "served_at" in names else {}
    return rows_type(
        unique_ids=[s.unique_id for s in part],
        origins=[s.origin - back for s in part],
        horizon=len(part[0].ds),
        ds=[d - back for s in part for d in s.ds],
        yhat=np.concatenate([s.values["yhat"] for s in part]),
        bounds=bounds,
        **{levels: [s.level for s in part]},
        **extra,
    )


def fill_served(
    database_url: str,
    series: list[SeriesForecast],
    *,
    model_name: str,
    model_version: str,
    points: int,
    per_request: int,
    interval_levels: list[int],
    days: int = 1,
) -> dict[str, Any]:
    """Log served forecasts of `per_request` series each until `points` more points are served.

    The requests spread over the last `days` days, each day's from origins that many days
    earlier (as a server answering every day would have logged them; a ledger that stores each
    distinct forecast once then holds `days` forecasts per series). Returns what was written
    and how long it took (points, requests, seconds, the function used).
    """
    from serving import ledger
    from serving.db import make_engine

    engine = make_engine(database_url)
    write_many = getattr(ledger, "log_served_many", None)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    started = time.perf_counter()
    written = requests = 0
    batch: list[dict[str, Any]] = []
    try:
        for back, part, bounds in _requests(series, per_request, interval_levels, days):
            if written >= points:
                break
            served = _served_rows(ledger.ServedRows, part, bounds, dt.timedelta(days=back), now)
            item = {
                "request_id": uuid.uuid4().hex,
                "model_name": model_name,
                "model_version": model_version,
                "served": served,
            }
            written += len(served.ds)
            requests += 1
            if write_many is None:
                ledger.log_served(engine, **item)
                continue
            batch.append(item)
            if len(batch) >= REQUESTS_PER_CALL:
                write_many(engine, batch)
                batch = []
        if batch and write_many is not None:
            write_many(engine, batch)
    finally:
        engine.dispose()
    return {
        "points": written,
        "requests": requests,
        "series_per_request": per_request,
        "days": days,
        "seconds": time.perf_counter() - started,
        "function": "log_served_many" if write_many is not None else "log_served",
    }


def ledger_size(database: Path) -> dict[str, Any]:
    """Rows of every table, served points (series x steps of every logged request, as the ledger
    counts them) and the bytes on disk (database, WAL and shared-memory files)."""
    from sqlalchemy import MetaData, func, select

    from serving import ledger
    from serving.db import make_engine

    engine = make_engine(f"sqlite:///{database}")
    try:
        counts = getattr(ledger, "ledger_counts", None)
        served = counts(engine)["served_points"] if counts is not None else None
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as connection:
            rows = {
                name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in sorted(meta.tables.items())
                if not name.startswith("alembic")
            }
    finally:
        engine.dispose()
    files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    size = sum(f.stat().st_size for f in files if f.exists())
    if served is None:  # a ledger with one row per served point
        served = rows.get("served_points", 0)
    return {"rows": rows, "served_points": served, "bytes": size, "mb": size / 1e6}
