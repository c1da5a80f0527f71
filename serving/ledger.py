"""The forecast ledger: every served forecast, the actuals that arrive later, and their scoring.

A served point is scored (gets `y` and `scored_at`) as soon as its (unique_id, ds) has an actual,
whichever of the two is written first; a corrected actual re-scores it. Frames in and out use the
project's columns: unique_id, level, ds, y, yhat, yhat_lo_80, yhat_hi_80, ...
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Select, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from features.schema import ID, LEVEL, TARGET, TIME
from serving.db import Actual, ForecastRequest, ServedPoint, ServedSeries, utcnow
from serving.frame_checks import (
    SHOWN,
    check_unique_keys,
    checked_dates,
    checked_ids,
    checked_numbers,
    naive_utc,
    require_columns,
)

__all__ = [
    "UpsertResult",
    "actuals_frame",
    "actuals_mark",
    "log_forecasts",
    "scored_points",
    "served_history",
    "upsert_actuals",
]

YHAT = "yhat"
CUTOFF = "cutoff"  # the forecast origin, named as in training's backtest frames
STEP = "step"
#: Levels with their own columns in served_points; any other level lives only in `bounds`.
COLUMN_LEVELS = (80, 95)
#: Ids per `IN (...)` list, well under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 500


@dataclass(frozen=True)
class UpsertResult:
    """What a post of actuals did: rows inserted, changed, already identical; points scored."""

    inserted: int
    updated: int
    unchanged: int
    scored_points: int


def _lo(level: int) -> str:
    return f"yhat_lo_{level}"


def _hi(level: int) -> str:
    return f"yhat_hi_{level}"


def _score(connection: Connection, now: datetime, *where: Any) -> int:
    """Copy actuals onto the served points (restricted by `where`) that lack them or differ."""
    statement = (
        update(ServedPoint)
        .where(
            ServedPoint.served_series_id == ServedSeries.id,
            ServedSeries.unique_id == Actual.unique_id,
            ServedPoint.ds == Actual.ds,
            or_(ServedPoint.y.is_(None), ServedPoint.y != Actual.y),
            *where,
        )
        .values(y=Actual.y, scored_at=now)
    )
    return connection.execute(statement).rowcount


def _none(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _bounds_json(frame: pd.DataFrame, levels: Sequence[int]) -> list[str]:
    """The `bounds` JSON of each row: {"80": [lo, hi], ...}, NaN as null."""
    columns = [
        (str(level), frame[_lo(level)].tolist(), frame[_hi(level)].tolist()) for level in levels
    ]

    return [
        json.dumps({key: [_none(lo[i]), _none(hi[i])] for key, lo, hi in columns})
        for i in range(len(frame))
    ]


def _forecast_frame(
    forecasts: pd.DataFrame, origins: Mapping[str, Any], levels: Sequence[int]
) -> pd.DataFrame:
    """The checked forecast frame, sorted, with a `step` column (1..h per series)."""
    what = "forecasts"
    bounds = [c for level in levels for c in (_lo(level), _hi(level))]
    require_columns(forecasts, [ID, LEVEL, TIME, YHAT, *bounds], what)
    if forecasts.empty:
        raise ValueError("forecasts is empty: there is nothing to log")
    frame = pd.DataFrame(
        {ID: checked_ids(forecasts[ID], what), TIME: checked_dates(forecasts[TIME], what)}
    )
    frame[LEVEL] = forecasts[LEVEL].astype(str).to_numpy()
    frame[YHAT] = checked_numbers(forecasts[YHAT], YHAT, what, required=True).to_numpy()
    for column in bounds:
        frame[column] = checked_numbers(forecasts[column], column, what, required=False).to_numpy()
    check_unique_keys(frame, what)
    n_levels = frame.groupby(ID)[LEVEL].nunique()
    if (n_levels > 1).any():
        raise ValueError(f"{what}: series {n_levels[n_levels > 1].index[0]!r} has several levels")
    missing = sorted(set(frame[ID]) - {str(k) for k in origins})
    if missing:
        raise ValueError(f"origins lacks the series {missing[:SHOWN]}")
    frame = frame.sort_values([ID, TIME], ignore_index=True)
    frame[STEP] = frame.groupby(ID).cumcount() + 1
    return frame


@dataclass(frozen=True)
class ServedRows:
    """A forecast exactly as the server answered it: series in order, `horizon` points each.

    Built by the server from its own model, so it is valid by construction; `log_served` writes
    it without the pandas checks that `log_forecasts` applies to frames from elsewhere.
    """

    unique_ids: list[str]
    levels: list[str]
    origins: list[datetime]
    horizon: int
    ds: list[datetime]
    yhat: np.ndarray
    bounds: dict[int, tuple[np.ndarray, np.ndarray]]


def log_served(
    engine: Engine,
    request_id: str,
    model_name: str,
    model_version: str,
    served: ServedRows,
    api_key_id: int | None = None,
) -> None:
    """Record one served forecast in one transaction (the server's fast path, no pandas)."""
    levels = sorted(served.bounds)
    values = [served.yhat, *(b for pair in served.bounds.values() for b in pair)]
    if not all(np.isfinite(v).all() for v in values):
        raise ValueError(f"request {request_id}: the forecast has non-finite values")
    now = utcnow()
    h = int(served.horizon)
    series_rows = [
        {
            "request_id": request_id,
            "unique_id": uid,
            "level": level,
            "model_version": model_version,
            "origin": origin,
            "horizon": h,
            "served_at": now,
        }
        for uid, level, origin in zip(served.unique_ids, served.levels, served.origins, strict=True)
    ]
    n = len(served.ds)
    columns: dict[str, list[Any]] = {
        "step": list(range(1, h + 1)) * len(served.unique_ids),
        "ds": served.ds,
        "yhat": served.yhat.tolist(),
    }
    for level in COLUMN_LEVELS:
        pair = served.bounds.get(level)
        columns[_lo(level)] = pair[0].tolist() if pair else [None] * n
        columns[_hi(level)] = pair[1].tolist() if pair else [None] * n
    others = [level for level in levels if level not in COLUMN_LEVELS]
    if others:
        lists = {
            lv: (served.bounds[lv][0].tolist(), served.bounds[lv][1].tolist()) for lv in others
        }
        columns["bounds"] = [
            json.dumps({str(lv): [lists[lv][0][i], lists[lv][1][i]] for lv in others})
            for i in range(n)
        ]
    else:
        columns["bounds"] = ["{}"] * n
    series_of_point = [uid for uid in served.unique_ids for _ in range(h)]
    request = _request_row(
        request_id, now, model_name, model_version, api_key_id, h, levels, len(series_rows)
    )
    _write_served(engine, request, series_rows, series_of_point, columns)


def _request_row(
    request_id: str,
    now: datetime,
    model_name: str,
    model_version: str,
    api_key_id: int | None,
    horizon: int,
    levels: Sequence[int],
    n_series: int,
) -> dict[str, Any]:
    """The forecast_requests row of one served request."""
    return {
        "id": request_id,
        "served_at": now,
        "model_name": model_name,
        "model_version": model_version,
        "api_key_id": api_key_id,
        "horizon": horizon,
        "levels": json.dumps(list(levels)),
        "n_series": n_series,
    }


def _write_served(
    engine: Engine,
    request: dict[str, Any],
    series_rows: list[dict[str, Any]],
    series_of_point: list[str],
    columns: dict[str, list[Any]],
) -> None:
    """Insert a request, its series and their points in one transaction, then score them."""
    with engine.begin() as connection:
        connection.execute(insert(ForecastRequest).values(**request))
        returned = connection.execute(
            insert(ServedSeries).returning(ServedSeries.id, ServedSeries.unique_id), series_rows
        )
        series_id = {uid: sid for sid, uid in returned}
        names = ["served_series_id", *columns]
        points = [
            dict(zip(names, row, strict=True))
            for row in zip([series_id[u] for u in series_of_point], *columns.values(), strict=True)
        ]
        connection.execute(insert(ServedPoint), points)
        _score(connection, request["served_at"], ServedSeries.request_id == request["id"])


def log_forecasts(
    engine: Engine,
    request_id: str,
    model_name: str,
    model_version: str,
    forecasts: pd.DataFrame,
    origins: Mapping[str, Any],
    horizon: int,
    levels: Sequence[int],
    api_key_id: int | None = None,
) -> None:
    """Record one served forecast in one transaction, scoring at once any already-known actual.

    `forecasts` is long: unique_id, level, ds, yhat, yhat_lo_L, yhat_hi_L for L in `levels`;
    `origins` maps each unique_id to the last observed date it was forecast from.
    """
    levels = sorted({int(level) for level in levels})
    if any(not 0 < level < 100 for level in levels):
        raise ValueError(f"levels must lie strictly between 0 and 100, got {levels}")
    if int(horizon) < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    frame = _forecast_frame(forecasts, origins, levels)
    origin_of = {str(k): naive_utc(v, f"origin of {k!r}") for k, v in origins.items()}
    now = utcnow()
    first = frame.drop_duplicates(ID)
    series_rows = [
        {
            "request_id": request_id,
            "unique_id": uid,
            "level": level,
            "model_version": model_version,
            "origin": origin_of[uid],
            "horizon": int(horizon),
            "served_at": now,
        }
        for uid, level in zip(first[ID], first[LEVEL], strict=True)
    ]
    columns: dict[str, list[Any]] = {
        "step": frame[STEP].astype(int).tolist(),
        "ds": list(frame[TIME].dt.to_pydatetime()),
        "yhat": frame[YHAT].tolist(),
    }
    for level in COLUMN_LEVELS:
        for column in (_lo(level), _hi(level)):
            values = frame[column].tolist() if level in levels else [None] * len(frame)
            columns[column] = [_none(v) for v in values]
    columns["bounds"] = _bounds_json(frame, levels)
    request = _request_row(
        request_id,
        now,
        model_name,
        model_version,
        api_key_id,
        int(horizon),
        levels,
        len(series_rows),
    )
    _write_served(engine, request, series_rows, frame[ID].tolist(), columns)


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


def _upsert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (unique_id, ds) DO UPDATE, only when y really changes."""
    if dialect == "sqlite":
        statement = sqlite.insert(Actual)
    elif dialect == "postgresql":
        statement = postgresql.insert(Actual)
    else:
        raise NotImplementedError(f"the ledger supports SQLite and PostgreSQL, not {dialect}")
    return statement.on_conflict_do_update(
        index_elements=[Actual.unique_id, Actual.ds],
        set_={"y": statement.excluded.y, "received_at": statement.excluded.received_at},
        where=Actual.y != statement.excluded.y,
    )


def upsert_actuals(engine: Engine, rows: pd.DataFrame) -> UpsertResult:
    """Store actuals (unique_id, ds, y) idempotently and score the served points they complete.

    Posting the same rows again writes nothing; a changed y replaces the old one and re-scores.
    The writes (upsert and scoring) are one transaction.
    """
    what = "actuals"
    require_columns(rows, [ID, TIME, TARGET], what)
    frame = pd.DataFrame(
        {
            ID: checked_ids(rows[ID], what).to_numpy(),
            TIME: checked_dates(rows[TIME], what).to_numpy(),
            TARGET: checked_numbers(rows[TARGET], TARGET, what, required=True).to_numpy(),
        }
    )
    check_unique_keys(frame, what)
    if frame.empty:
        return UpsertResult(0, 0, 0, 0)
    low, high = frame[TIME].min().to_pydatetime(), frame[TIME].max().to_pydatetime()
    now = utcnow()
    # The counts come from a read before the write transaction (a read-then-write transaction
    # could fail to upgrade its SQLite lock); the data's correctness rests on ON CONFLICT alone.
    with engine.connect() as connection:
        stored = [
            row
            for ids in _chunks(frame[ID].unique().tolist())
            for row in connection.execute(
                select(Actual.unique_id, Actual.ds, Actual.y).where(
                    Actual.unique_id.in_(ids), Actual.ds.between(low, high)
                )
            )
        ]
    before = _typed(
        pd.DataFrame(stored, columns=[ID, TIME, "before"]),
        {ID: "str", TIME: "datetime64[us]", "before": "float64"},
    )
    merged = frame.merge(before, on=[ID, TIME], how="left")
    new = merged["before"].isna()
    changed = ~new & (merged["before"] != merged[TARGET])
    payload = merged.loc[new | changed]
    if payload.empty:
        return UpsertResult(0, 0, len(merged), 0)
    with engine.begin() as connection:
        connection.execute(
            _upsert_statement(connection.dialect.name),
            [
                {"unique_id": uid, "ds": ds, "y": y, "received_at": now}
                for uid, ds, y in zip(
                    payload[ID],
                    payload[TIME].dt.to_pydatetime(),
                    payload[TARGET].tolist(),
                    strict=True,
                )
            ],
        )
        scored = _score(connection, now, Actual.received_at == now)
    return UpsertResult(
        inserted=int(new.sum()),
        updated=int(changed.sum()),
        unchanged=int(len(merged) - new.sum() - changed.sum()),
        scored_points=scored,
    )


_POINT_COLUMNS = {
    ID: "str",
    LEVEL: "str",
    "model_version": "str",
    "request_id": "str",
    CUTOFF: "datetime64[us]",
    "served_at": "datetime64[us]",
    "horizon": "int64",
    STEP: "int64",
    TIME: "datetime64[us]",
    YHAT: "float64",
    **{c: "float64" for level in COLUMN_LEVELS for c in (_lo(level), _hi(level))},
    "bounds": "str",
    TARGET: "float64",
}


def _typed(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    return frame.astype({c: dtypes[c] for c in frame.columns if c in dtypes})


def _points_query() -> Select[Any]:
    return select(
        ServedSeries.unique_id,
        ServedSeries.level,
        ServedSeries.model_version,
        ServedSeries.request_id,
        ServedSeries.origin.label(CUTOFF),
        ServedSeries.served_at,
        ServedSeries.horizon,
        ServedPoint.step,
        ServedPoint.ds,
        ServedPoint.yhat,
        *(getattr(ServedPoint, c) for lv in COLUMN_LEVELS for c in (_lo(lv), _hi(lv))),
        ServedPoint.bounds,
        ServedPoint.y,
    ).join(ServedSeries, ServedPoint.served_series_id == ServedSeries.id)


def _read(engine: Engine, query: Select[Any], unique_ids: Sequence[str] | None) -> list[Any]:
    """Run `query`, once per chunk of `unique_ids` when given (no unbounded IN lists)."""
    with engine.connect() as connection:
        if unique_ids is None:
            return list(connection.execute(query).all())
        ids = sorted({str(uid) for uid in unique_ids})
        column = query.selected_columns[ID]
        return [
            row
            for chunk in _chunks(ids)
            for row in connection.execute(query.where(column.in_(chunk)))
        ]


def _points_frame(rows: list[Any]) -> pd.DataFrame:
    """Rows of `_points_query` as a frame; levels beyond 80/95 are unpacked from `bounds`."""
    frame = _typed(pd.DataFrame(rows, columns=list(_POINT_COLUMNS)), _POINT_COLUMNS)
    parsed = [json.loads(text) for text in frame["bounds"]]
    extra = sorted({int(k) for b in parsed for k in b} - set(COLUMN_LEVELS))
    for level in extra:
        for side, column in ((0, _lo(level)), (1, _hi(level))):
            values = [b.get(str(level), [None, None])[side] for b in parsed]
            frame[column] = np.array([np.nan if v is None else v for v in values], dtype=float)
    levels = sorted([*COLUMN_LEVELS, *extra])
    bounds = [c for level in levels for c in (_lo(level), _hi(level))]
    head = [c for c in _POINT_COLUMNS if c not in ("bounds", TARGET) and not c.startswith("yhat_")]
    return frame[[*head, *bounds, TARGET]]


def scored_points(
    engine: Engine,
    unique_ids: Sequence[str] | None = None,
    level: str | None = None,
    model_version: str | None = None,
    since: Any = None,
) -> pd.DataFrame:
    """Served points that have an actual, filtered; `since` keeps target dates ds >= since.

    Columns: unique_id, level, model_version, request_id, cutoff (the origin), served_at, step,
    ds, yhat, yhat_lo_L/yhat_hi_L for every level served (80 and 95 always), y.
    """
    query = _points_query().where(ServedPoint.y.is_not(None))
    if level is not None:
        query = query.where(ServedSeries.level == level)
    if model_version is not None:
        query = query.where(ServedSeries.model_version == model_version)
    if since is not None:
        query = query.where(ServedPoint.ds >= naive_utc(since, "since"))
    frame = _points_frame(_read(engine, query, unique_ids))
    order = [ID, CUTOFF, "served_at", "request_id", STEP]
    return frame.sort_values(order, ignore_index=True)


def served_history(engine: Engine, unique_id: str, as_of: Any) -> pd.DataFrame:
    """Audit: every point served for `unique_id` up to the end of `as_of`'s day, newest first.

    Columns as `scored_points` but with `origin` for `cutoff`; y is NaN where no actual is known.
    """
    end = pd.Timestamp(naive_utc(as_of, "as_of")).normalize() + pd.Timedelta(days=1)
    query = _points_query().where(
        ServedSeries.unique_id == str(unique_id), ServedSeries.served_at < end.to_pydatetime()
    )
    frame = _points_frame(_read(engine, query, None)).rename(columns={CUTOFF: "origin"})
    return frame.sort_values(
        ["served_at", "request_id", STEP], ascending=[False, False, True], ignore_index=True
    )


def actuals_frame(engine: Engine, unique_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The stored actuals as a panel (unique_id, ds, y), sorted by series and date."""
    query = select(Actual.unique_id, Actual.ds, Actual.y)
    frame = pd.DataFrame(_read(engine, query, unique_ids), columns=[ID, TIME, TARGET])
    frame = _typed(frame, {ID: "str", TIME: "datetime64[us]", TARGET: "float64"})
    return frame.sort_values([ID, TIME], ignore_index=True)


def actuals_mark(engine: Engine) -> tuple[int, datetime | None]:
    """(row count, newest receipt): changes whenever a post inserts or corrects an actual."""
    with engine.connect() as connection:
        count, newest = connection.execute(
            select(func.count(), func.max(Actual.received_at)).select_from(Actual)
        ).one()
    return int(count), newest
