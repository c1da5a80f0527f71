"""The accuracy sums in the database: adding contributions to them, and reading them back.

Three tables keyed by (unique_id, hierarchy_level, model_version): `accuracy_series` holds the
per-forecast sums, the point sums and the longest step scored; `accuracy_steps` the point sums
per horizon step; `accuracy_days` those per target date (the drift rule's recent window).
Adding is an upsert that adds to whatever is there, so it needs the ledger's write lock
(`serving.db.write_transaction`). Reads return `Columns` (arrays by name): a report computes on
a few hundred rows, where pandas' cost per call would dominate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, String, Table, func, select, type_coerce

from features.schema import ID, TIME
from serving.db import AccuracyDay, AccuracySeries, AccuracyStep
from serving.ledger.contributions import (
    COUNTS,
    DAY_SUMS,
    FORECAST_SUMS,
    KEYS,
    POINT_SUMS,
    STEP,
    forecast_contributions,
    point_contributions,
    summed,
)
from serving.ledger.scored import driver_days

__all__ = [
    "Columns",
    "Filters",
    "add_contributions",
    "columns_of",
    "day_sums",
    "series_rows",
    "series_sums",
    "step_sums",
]

SERIES: Table = AccuracySeries.__table__  # type: ignore[assignment]
STEPS: Table = AccuracyStep.__table__  # type: ignore[assignment]
DAYS: Table = AccuracyDay.__table__  # type: ignore[assignment]
#: Rows per executemany of an upsert.
BATCH = 2_000
#: Columns of numbers by name: what the report computes on.
Columns = dict[str, np.ndarray]
NAMES = (ID, "hierarchy_level", "model_version")
SERIES_SUMS = [*FORECAST_SUMS, *POINT_SUMS]


def _adding_upsert(
    connection: Connection, table: Table, keys: Sequence[str], values: Sequence[str]
) -> str:
    """INSERT ... ON CONFLICT (key) DO UPDATE: add `values`, keep the larger max_step.

    Plain SQL run through the driver's executemany (the same text on SQLite and PostgreSQL).
    """
    mark = "?" if connection.dialect.name == "sqlite" else "%s"
    names = [*keys, *values]
    name = table.name
    larger = "{c} = CASE WHEN excluded.{c} > {t}.{c} THEN excluded.{c} ELSE {t}.{c} END"
    update = [
        larger.format(c=c, t=name) if c == "max_step" else f"{c} = {name}.{c} + excluded.{c}"
        for c in values
    ]
    return (
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))}) "
        f"ON CONFLICT ({', '.join(table.primary_key.columns.keys())}) DO UPDATE SET "
        + ", ".join(update)
    )


def _records(connection: Connection, frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    """Rows of `frame` as plain tuples (dates as the driver stores them, counts as int)."""
    data: list[list[Any]] = []
    for column in columns:
        values = frame[column]
        if column == TIME:
            data.append(driver_days(connection, values.to_numpy(dtype="datetime64[D]")))
        elif column in NAMES:
            data.append(values.astype("str").tolist())
        else:
            data.append(values.to_numpy().tolist())
    return list(zip(*data, strict=True))


def series_rows(terms: pd.DataFrame | None, forecasts: pd.DataFrame | None) -> pd.DataFrame:
    """Per KEYS: point sums, per-forecast sums and the longest step among the points."""
    parts = []
    if terms is not None:
        longest = terms.groupby(KEYS, observed=True)[STEP].max().rename("max_step")
        parts.append(summed(terms, KEYS, POINT_SUMS).merge(longest.reset_index(), on=KEYS))
    if forecasts is not None:
        parts.append(summed(forecasts, KEYS, FORECAST_SUMS))
    rows = parts[0] if len(parts) == 1 else parts[0].merge(parts[1], on=KEYS, how="outer")
    for column in [*SERIES_SUMS, "max_step"]:
        values = rows[column].fillna(0) if column in rows else pd.Series(0, index=rows.index)
        rows[column] = values.astype("int64") if column in COUNTS else values.astype("float64")
    return rows


def add_contributions(
    connection: Connection, points: pd.DataFrame | None, states: pd.DataFrame | None
) -> None:
    """Add the contributions of signed-weight `points` and forecast `states` to the sums."""
    terms = None if points is None or points.empty else point_contributions(points)
    forecasts = None if states is None or states.empty else forecast_contributions(states)
    parts: list[tuple[Table, list[str], list[str], pd.DataFrame]] = []
    if terms is not None:
        step_keys, day_keys = [*KEYS, STEP], [*KEYS, TIME]
        parts.append((STEPS, step_keys, POINT_SUMS, summed(terms, step_keys, POINT_SUMS)))
        parts.append((DAYS, day_keys, DAY_SUMS, summed(terms, day_keys, DAY_SUMS)))
    if terms is not None or forecasts is not None:
        series = series_rows(terms, forecasts)
        parts.append((SERIES, KEYS, [*SERIES_SUMS, "max_step"], series))
    for table, keys, values, sums in parts:
        if sums.empty:
            continue
        rows = _records(connection, sums, [*keys, *values])
        statement = _adding_upsert(connection, table, keys, values)
        for start in range(0, len(rows), BATCH):
            connection.exec_driver_sql(statement, rows[start : start + BATCH])


class Filters:
    """The report's filters as WHERE clauses on any ledger table with the stored key columns."""

    def __init__(
        self,
        unique_id: str | None = None,
        hierarchy_level: str | None = None,
        model_version: str | None = None,
        *,
        unique_ids: Sequence[str] | None = None,
    ) -> None:
        values = {ID: unique_id, "hierarchy_level": hierarchy_level, "model_version": model_version}
        self.equal = {k: str(v) for k, v in values.items() if v is not None}
        self.unique_ids = None if unique_ids is None else [str(u) for u in unique_ids]

    def where(self, table: Any) -> list[Any]:
        """The clauses for `table` (a Table, or an ORM class with the same attribute names)."""
        columns = table.c if isinstance(table, Table) else table.__table__.c
        clauses = [columns[k] == v for k, v in self.equal.items()]
        if self.unique_ids is not None:
            clauses.append(columns[ID].in_(self.unique_ids))
        return clauses

    def narrowed(self, key: str, value: Any) -> Filters:
        """These filters and `key == value` (`key` a stored column name)."""
        narrowed = Filters(unique_ids=self.unique_ids)
        narrowed.equal = {**self.equal, key: str(value)}
        return narrowed


def columns_of(rows: Sequence[Any], names: Sequence[str]) -> Columns:
    """Result rows as arrays: names as str objects, ds as datetime64[D], the rest float64."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    out: Columns = {}
    for name, column in zip(names, values, strict=True):
        if name in NAMES:
            out[name] = np.array(column, dtype=object)
        elif name == TIME:
            out[name] = np.array(column, dtype="datetime64[D]")
        else:
            out[name] = np.array(column, dtype="float64")
    return out


def series_sums(connection: Connection, filters: Filters) -> Columns:
    """The accuracy_series rows matching `filters`."""
    names = [*KEYS, *SERIES_SUMS, "max_step"]
    query = select(*(SERIES.c[c] for c in names)).where(*filters.where(SERIES))
    return columns_of(connection.execute(query).all(), names)


def step_sums(connection: Connection, filters: Filters) -> Columns:
    """The point sums per horizon step over the series matching `filters`."""
    query = (
        select(STEPS.c.step, *(func.sum(STEPS.c[c]) for c in POINT_SUMS))
        .where(*filters.where(STEPS))
        .group_by(STEPS.c.step)
        .order_by(STEPS.c.step)
    )
    return columns_of(connection.execute(query).all(), [STEP, *POINT_SUMS])


def day_sums(connection: Connection, filters: Filters, newest: int) -> Columns:
    """Day sums (KEYS, ds, DAY_SUMS) on or after the `newest`-th most recent target date."""
    where = filters.where(DAYS)
    dates = (
        select(DAYS.c.ds)
        .where(*where)
        .group_by(DAYS.c.ds)
        .order_by(DAYS.c.ds.desc())
        .limit(1)
        .offset(max(newest - 1, 0))
    )
    start = connection.execute(dates).scalar()
    # SQLite gives dates as text: parsed by numpy, not row by row
    day = type_coerce(DAYS.c.ds, String) if connection.dialect.name == "sqlite" else DAYS.c.ds
    query = select(*(DAYS.c[c] for c in KEYS), day, *(DAYS.c[c] for c in DAY_SUMS)).where(*where)
    if start is not None:
        query = query.where(DAYS.c.ds >= start)
    return columns_of(connection.execute(query).all(), [*KEYS, TIME, *DAY_SUMS])
