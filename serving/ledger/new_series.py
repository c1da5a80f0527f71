"""New series: ids the served model does not know, kept with the attributes they were posted
with, so their forecasts (from launch profiles) survive a restart."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from features.schema import ID
from serving.db import NewSeries, utcnow

__all__ = ["new_series_frame", "new_series_mark", "register_new_series"]


def register_new_series(connection: Connection, attributes: Mapping[str, Mapping[str, str]]) -> int:
    """Insert the series of `attributes` (id -> attribute -> value), or replace their
    attributes when they changed; inside the caller's write transaction. Returns rows written."""
    if not attributes:
        return 0
    now = utcnow()
    stored = {
        uid: text
        for uid, text in connection.execute(
            select(NewSeries.unique_id, NewSeries.attributes).where(
                NewSeries.unique_id.in_(list(attributes))
            )
        )
    }
    written = 0
    for uid, values in attributes.items():
        text = json.dumps(dict(sorted(values.items())), ensure_ascii=False)
        if uid not in stored:
            table = NewSeries.__table__
            connection.execute(
                table.insert().values(  # type: ignore[attr-defined]
                    unique_id=uid, attributes=text, created_at=now, updated_at=now
                )
            )
            written += 1
        elif stored[uid] != text:
            table = NewSeries.__table__
            connection.execute(
                table.update()  # type: ignore[attr-defined]
                .where(table.c.unique_id == uid)  # type: ignore[attr-defined]
                .values(attributes=text, updated_at=now)
            )
            written += 1
    return written


def new_series_frame(engine: Engine) -> pd.DataFrame:
    """Every new series: unique_id and one column per attribute (str), sorted by id."""
    with engine.connect() as connection:
        rows = list(connection.execute(select(NewSeries.unique_id, NewSeries.attributes)))
    records = [{**json.loads(text), ID: uid} for uid, text in rows]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame({ID: []})
    columns = [ID, *sorted(c for c in frame.columns if c != ID)]
    return frame[columns].astype("str").sort_values(ID, ignore_index=True)


def new_series_mark(engine: Engine) -> tuple[int, str]:
    """How many new series there are and when one last changed: what a cache keys on."""
    with engine.connect() as connection:
        count, newest = connection.execute(
            select(func.count(), func.max(NewSeries.updated_at))
        ).one()
    return int(count), str(newest)
