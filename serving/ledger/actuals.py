"""Actuals: the idempotent upsert that scores served forecasts, and cheap reads of what changed.

Every post that changes something gets the next `revision`; `actuals_mark` is the newest one
and `actuals_since(mark)` returns only the rows changed after it, so a server that follows
actuals reads what is new, not the whole table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from features.schema import ID, TARGET, TIME
from serving.db import Actual, Forecast, utcnow, write_transaction
from serving.frame_checks import (
    check_unique_keys,
    checked_dates,
    checked_ids,
    checked_numbers,
    require_columns,
    rows_named,
)
from serving.ledger.cells import add_contributions
from serving.ledger.contributions import WEIGHT
from serving.ledger.new_series import register_new_series
from serving.ledger.scored import chunks, forecast_states, points_of, with_forecasts

__all__ = ["UpsertResult", "actuals_frame", "actuals_mark", "actuals_since", "upsert_actuals"]

FORECASTS: Table = Forecast.__table__  # type: ignore[assignment]
PANEL = {ID: "str", TIME: "datetime64[us]", TARGET: "float64"}


@dataclass(frozen=True)
class UpsertResult:
    """What a post of actuals did: rows inserted, changed, already identical; served points
    (re)scored; and the series whose actuals changed (sorted), whose accuracy is now stale."""

    inserted: int
    updated: int
    unchanged: int
    scored_points: int
    changed_ids: tuple[str, ...] = ()


def _checked(rows: pd.DataFrame) -> pd.DataFrame:
    """The posted rows as unique_id, ds (datetime64[us], a date), y; ValueError naming rows."""
    what = "actuals"
    require_columns(rows, [ID, TIME, TARGET], what)
    frame = pd.DataFrame(
        {
            ID: checked_ids(rows[ID], what).to_numpy(),
            TIME: checked_dates(rows[TIME], what).to_numpy(),
            TARGET: checked_numbers(rows[TARGET], TARGET, what, required=True).to_numpy(),
        }
    )
    timed = frame[TIME] != frame[TIME].dt.normalize()
    if timed.any():
        raise ValueError(f"{what}: ds has a time of day in {rows_named(timed)}; give dates")
    check_unique_keys(frame, what)
    return frame


def _stored(connection: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    """The stored y of the posted keys (NaN where there is none) as a `before` column."""
    low, high = frame[TIME].min().date(), frame[TIME].max().date()
    query = select(Actual.unique_id, Actual.ds, Actual.y).where(Actual.ds.between(low, high))
    stored = [
        row
        for ids in chunks(frame[ID].unique().tolist())
        for row in connection.execute(query.where(Actual.unique_id.in_(ids)))
    ]
    before = pd.DataFrame(stored, columns=[ID, TIME, "before"])
    before[TIME] = pd.to_datetime(before[TIME]).astype("datetime64[us]")
    before = before.astype({ID: "str", "before": "float64"})
    return frame.merge(before, on=[ID, TIME], how="left")


def _upsert(connection: Connection) -> object:
    """INSERT ... ON CONFLICT (unique_id, ds) DO UPDATE (the rows are new or changed ones)."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        statement = sqlite.insert(Actual)
    elif dialect == "postgresql":
        statement = postgresql.insert(Actual)
    else:
        raise NotImplementedError(f"the ledger supports SQLite and PostgreSQL, not {dialect}")
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[Actual.unique_id, Actual.ds],
        set_={"y": excluded.y, "received_at": excluded.received_at, "revision": excluded.revision},
    )


def _rescore(connection: Connection, payload: pd.DataFrame) -> int:
    """Move the accuracy sums from the old actuals of `payload` to its new ones.

    Returns how many served points (forecast points x requests that served them) changed.
    """
    low, high = payload[TIME].min().date(), payload[TIME].max().date()
    ids = payload[ID].unique().tolist()
    states = pd.concat(
        [
            forecast_states(
                connection,
                Forecast.unique_id.in_(part),
                Forecast.last_ds >= low,
                Forecast.origin < high,
            )
            for part in chunks(ids)
        ],
        ignore_index=True,
    )
    if states.empty:
        return 0
    points = points_of(
        connection, states["forecast_id"].tolist(), low=low, high=high, actuals=False
    )
    points = points.drop(columns=TARGET).merge(
        states[["forecast_id", ID]], on="forecast_id", how="inner"
    )
    changed = points.merge(payload[[ID, TIME, TARGET, "before"]], on=[ID, TIME], how="inner")
    if changed.empty:
        return 0
    old = changed.assign(**{TARGET: changed["before"]}).drop(columns=[ID, "before"])
    new = changed.drop(columns=[ID, "before"])
    yhat = changed["yhat"].to_numpy()
    y_old, y_new = changed["before"].to_numpy(), changed[TARGET].to_numpy()
    was = np.isfinite(y_old)
    per_forecast = (
        pd.DataFrame(
            {
                "forecast_id": changed["forecast_id"],
                "d_n": (~was).astype("int64"),
                "d_abs": np.abs(yhat - y_new) - np.where(was, np.abs(yhat - y_old), 0.0),
                "d_y": y_new - np.where(was, y_old, 0.0),
            }
        )
        .groupby("forecast_id")
        .sum()
    )
    touched = states.set_index("forecast_id").loc[per_forecast.index].reset_index()
    after = touched.copy()
    after["n_scored"] += per_forecast["d_n"].to_numpy()
    after["sum_abs_error"] += per_forecast["d_abs"].to_numpy()
    after["sum_y"] += per_forecast["d_y"].to_numpy()
    weight = touched["n_served"].to_numpy()
    signed_states = pd.concat(
        [after.assign(**{WEIGHT: weight}), touched.assign(**{WEIGHT: -weight})], ignore_index=True
    )
    weighted = touched.assign(**{WEIGHT: weight})
    signed_points = pd.concat(
        [
            with_forecasts(new, weighted),
            with_forecasts(old, weighted.assign(**{WEIGHT: -weight})),
        ],
        ignore_index=True,
    )
    add_contributions(connection, signed_points, signed_states)
    statement = (
        update(FORECASTS)
        .where(FORECASTS.c.id == bindparam("fid"))
        .values(
            n_scored=bindparam("n"), sum_abs_error=bindparam("abs_error"), sum_y=bindparam("sum")
        )
    )
    columns = {
        "fid": after["forecast_id"].to_numpy("int64").tolist(),
        "n": after["n_scored"].to_numpy("int64").tolist(),
        "abs_error": after["sum_abs_error"].to_numpy("float64").tolist(),
        "sum": after["sum_y"].to_numpy("float64").tolist(),
    }
    names = list(columns)
    connection.execute(
        statement,
        [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)],
    )
    served = changed["forecast_id"].map(states.set_index("forecast_id")["n_served"])
    return int(served.sum())


def upsert_actuals(
    engine: Engine,
    rows: pd.DataFrame,
    new_series: Mapping[str, Mapping[str, str]] | None = None,
) -> UpsertResult:
    """Store actuals (unique_id, ds, y) idempotently and score the served points they complete.

    `new_series` (id -> attribute -> value) registers series the model does not know, in the
    same transaction as their actuals.

    Posting the same rows again writes nothing; a changed y replaces the old one and re-scores.
    The read of what is stored, the upsert and the scoring are one transaction under the
    ledger's write lock, so concurrent posts of the same rows store and score them once.
    """
    frame = _checked(rows)
    if frame.empty:
        return UpsertResult(0, 0, 0, 0)
    with write_transaction(engine) as connection:
        register_new_series(connection, new_series or {})
        merged = _stored(connection, frame)
        new = merged["before"].isna().to_numpy()
        changed = ~new & (merged["before"] != merged[TARGET]).to_numpy()
        payload = merged.loc[new | changed].reset_index(drop=True)
        if payload.empty:
            return UpsertResult(0, 0, len(merged), 0)
        revision = (connection.execute(select(func.max(Actual.revision))).scalar() or 0) + 1
        now = utcnow()
        values = [
            {"unique_id": uid, "ds": ds, "y": y, "received_at": now, "revision": revision}
            for uid, ds, y in zip(
                payload[ID],
                payload[TIME].to_numpy(dtype="datetime64[D]").tolist(),
                payload[TARGET].tolist(),
                strict=True,
            )
        ]
        for part in chunks(values, 2_000):
            connection.execute(_upsert(connection), part)
        scored = _rescore(connection, payload)
    return UpsertResult(
        inserted=int(new.sum()),
        updated=int(changed.sum()),
        unchanged=int(len(merged) - new.sum() - changed.sum()),
        scored_points=scored,
        changed_ids=tuple(sorted(payload[ID].unique().tolist())),
    )


def _panel(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[ID, TIME, TARGET])
    frame[TIME] = pd.to_datetime(frame[TIME]).astype("datetime64[us]")
    return frame.astype(PANEL).sort_values([ID, TIME], ignore_index=True)


def actuals_frame(
    engine: Engine, unique_ids: Sequence[str] | None = None, *, after: date | None = None
) -> pd.DataFrame:
    """The stored actuals as a panel (unique_id, ds, y), sorted; `after` keeps ds > after."""
    query = select(Actual.unique_id, Actual.ds, Actual.y)
    if after is not None:
        query = query.where(Actual.ds > pd.Timestamp(after).date())
    with engine.connect() as connection:
        if unique_ids is None:
            return _panel(list(connection.execute(query)))
        ids = sorted({str(uid) for uid in unique_ids})
        rows = [
            row
            for part in chunks(ids)
            for row in connection.execute(query.where(Actual.unique_id.in_(part)))
        ]
    return _panel(rows)


def actuals_mark(engine: Engine) -> int:
    """The newest revision of the actuals (0 when there are none): changes with every post
    that inserts or corrects one; one index lookup."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.max(Actual.revision))).scalar() or 0)


def actuals_since(engine: Engine, mark: int) -> tuple[pd.DataFrame, int]:
    """The actuals inserted or corrected after `mark` (a panel) and the mark to ask with next."""
    query = select(Actual.unique_id, Actual.ds, Actual.y, Actual.revision).where(
        Actual.revision > int(mark)
    )
    with engine.connect() as connection:
        rows = list(connection.execute(query))
    newest = max((row[3] for row in rows), default=int(mark))
    return _panel([row[:3] for row in rows]), int(newest)


def changed_since(engine: Engine, mark: int) -> tuple[date | None, int]:
    """The earliest day of the actuals inserted or corrected after `mark` (None: none were),
    and the mark to ask with next; two aggregates, no rows sent."""
    query = select(func.min(Actual.ds), func.max(Actual.revision)).where(
        Actual.revision > int(mark)
    )
    with engine.connect() as connection:
        earliest, newest = connection.execute(query).one()
    if earliest is None:
        return None, int(mark)
    return pd.Timestamp(earliest).date(), int(newest)
