"""Writing served forecasts: each distinct forecast once, every request as a link to it.

A forecast is identified by a fingerprint of everything served (series, model, origin, dates,
values); serving it again adds a link and raises its `n_served`. New forecasts whose dates
already have actuals, and re-served ones already scored, add their weight to the accuracy sums
in the same transaction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, bindparam, case, insert, select, update

from features.schema import ID, TARGET, TIME
from serving.db import (
    Actual,
    Forecast,
    ForecastBound,
    ForecastPoint,
    ForecastRequest,
    ServedSeries,
    write_transaction,
)
from serving.ledger.cells import add_contributions
from serving.ledger.contributions import HIERARCHY, VERSION, WEIGHT
from serving.ledger.history_stats import HistoryStats, said_labels
from serving.ledger.scored import (
    STATE_COLUMNS,
    chunks,
    driver_days,
    forecast_states,
    insert_many,
    points_of,
    with_forecasts,
)

__all__ = ["Candidate", "write_served"]

#: Interval levels with their own columns in forecast_points; others go to forecast_bounds.
COLUMN_LEVELS = (80, 95)
FORECASTS: Table = Forecast.__table__  # type: ignore[assignment]
POINTS: Table = ForecastPoint.__table__  # type: ignore[assignment]
EXTRA: Table = ForecastBound.__table__  # type: ignore[assignment]
BOUNDS = [f"yhat_{side}_{lv}" for lv in COLUMN_LEVELS for side in ("lo", "hi")]


@dataclass
class Candidate:
    """One series of one request, ready to be matched with (or stored as) a distinct forecast."""

    request_id: str
    unique_id: str
    hierarchy_level: str
    model_name: str
    model_version: str
    origin: date
    origin_time: datetime
    horizon: int
    ds: np.ndarray  # datetime64[D], one per point (at most `horizon`)
    yhat: np.ndarray
    bounds: dict[int, tuple[np.ndarray, np.ndarray]]
    served_at: datetime
    history_stats: HistoryStats | None
    fingerprint: bytes = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.blake2b(digest_size=16)
        head = [self.model_name, self.model_version, self.unique_id, self.hierarchy_level]
        digest.update("\x1f".join([*head, self.origin.isoformat(), str(self.horizon)]).encode())
        digest.update(self.ds.astype("<i8").tobytes())
        digest.update(np.asarray(self.yhat, dtype="<f8").tobytes())
        for level in sorted(self.bounds):
            low, high = self.bounds[level]
            digest.update(int(level).to_bytes(2, "little"))
            digest.update(np.asarray(low, dtype="<f8").tobytes())
            digest.update(np.asarray(high, dtype="<f8").tobytes())
        self.fingerprint = digest.digest()


def _none(values: np.ndarray) -> list[float | None]:
    """The values as floats, NaN as NULL."""
    values = np.asarray(values, dtype="float64")
    if not np.isnan(values).any():
        return values.tolist()
    return [None if np.isnan(v) else v for v in values.tolist()]


def _origin_stats(candidates: Sequence[Candidate]) -> list[tuple[float, float, float, int]]:
    """(mase_scale, recent_mean, change_scale, said) of each candidate, from its history."""
    out: list[tuple[float, float, float, int]] = [(np.nan, np.nan, np.nan, -1)] * len(candidates)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, candidate in enumerate(candidates):
        if candidate.history_stats is not None:
            groups[(id(candidate.history_stats), candidate.horizon)].append(i)
    for (_, horizon), members in groups.items():
        source = candidates[members[0]].history_stats
        assert source is not None
        stats = source.at(
            [candidates[i].unique_id for i in members],
            horizon,
            [candidates[i].origin_time for i in members],
        )
        means = np.array([candidates[i].yhat.mean() for i in members], dtype="float64")
        said = said_labels(means, stats)
        for j, i in enumerate(members):
            out[i] = (
                float(stats.mase_scale[j]),
                float(stats.recent_mean[j]),
                float(stats.change_scale[j]),
                int(said[j]),
            )
    return out


def _known_actuals(
    connection: Connection, candidates: Sequence[Candidate]
) -> dict[tuple[str, np.datetime64], float]:
    """The actuals already stored for the candidates' (unique_id, ds) keys."""
    if not candidates:
        return {}
    low = min(c.ds.min() for c in candidates).tolist()
    high = max(c.ds.max() for c in candidates).tolist()
    ids = sorted({c.unique_id for c in candidates})
    query = select(Actual.unique_id, Actual.ds, Actual.y).where(Actual.ds.between(low, high))
    return {
        (uid, np.datetime64(ds, "D")): y
        for part in chunks(ids)
        for uid, ds, y in connection.execute(query.where(Actual.unique_id.in_(part)))
    }


def _new_forecasts(
    connection: Connection, firsts: dict[bytes, Candidate], counts: dict[bytes, int]
) -> tuple[dict[bytes, int], pd.DataFrame, pd.DataFrame]:
    """Store the forecasts not seen before: their ids, scoring states and scored points."""
    if not firsts:
        return {}, pd.DataFrame(columns=[*STATE_COLUMNS, WEIGHT]), pd.DataFrame()
    candidates = list(firsts.values())
    stats = _origin_stats(candidates)
    known = _known_actuals(connection, candidates)
    rows, ys = [], []
    for candidate, (scale, recent, change, said) in zip(candidates, stats, strict=True):
        y = np.array([known.get((candidate.unique_id, d), np.nan) for d in candidate.ds])
        ys.append(y)
        scored = np.isfinite(y)
        rows.append(
            {
                "fingerprint": candidate.fingerprint,
                ID: candidate.unique_id,
                HIERARCHY: candidate.hierarchy_level,
                VERSION: candidate.model_version,
                "origin": candidate.origin,
                "horizon": candidate.horizon,
                "last_ds": candidate.ds.max().tolist(),
                "n_served": counts[candidate.fingerprint],
                "last_served_at": candidate.served_at,
                "mase_scale": None if np.isnan(scale) else scale,
                "recent_mean": None if np.isnan(recent) else recent,
                "change_scale": None if np.isnan(change) else change,
                "said": said,
                "n_scored": int(scored.sum()),
                "sum_abs_error": float(np.abs(candidate.yhat[scored] - y[scored]).sum()),
                "sum_y": float(y[scored].sum()),
            }
        )
    returned = connection.execute(
        insert(Forecast).returning(Forecast.id, Forecast.fingerprint),
        rows,
    )
    ids = {fingerprint: forecast_id for forecast_id, fingerprint in returned}
    points, extra, scored_parts = [], [], []
    for candidate, y in zip(candidates, ys, strict=True):
        forecast_id = ids[candidate.fingerprint]
        n = len(candidate.ds)
        columns: dict[str, list[Any]] = {
            "ds": driver_days(connection, candidate.ds),
            "yhat": candidate.yhat.tolist(),
        }
        for level in COLUMN_LEVELS:
            pair = candidate.bounds.get(level)
            for side, name in ((0, f"yhat_lo_{level}"), (1, f"yhat_hi_{level}")):
                columns[name] = _none(pair[side]) if pair else [None] * n
        points += zip([forecast_id] * n, range(1, n + 1), *columns.values(), strict=True)
        for level, (low, high) in candidate.bounds.items():
            if level not in COLUMN_LEVELS:
                extra += zip(
                    [forecast_id] * n,
                    range(1, n + 1),
                    [level] * n,
                    _none(low),
                    _none(high),
                    strict=True,
                )
        if np.isfinite(y).any():
            part = pd.DataFrame(columns).assign(**{TIME: candidate.ds.astype("datetime64[us]")})
            scored_parts.append(
                part.assign(forecast_id=forecast_id, step=np.arange(1, n + 1), **{TARGET: y})
            )
    insert_many(connection, POINTS, ["forecast_id", "step", "ds", "yhat", *BOUNDS], points)
    insert_many(connection, EXTRA, ["forecast_id", "step", "interval_level", "lo", "hi"], extra)
    states = pd.DataFrame(rows)
    states["forecast_id"] = [ids[r["fingerprint"]] for r in rows]
    states = states.assign(**{WEIGHT: states["n_served"]})
    for column in ("mase_scale", "recent_mean", "change_scale"):
        states[column] = pd.to_numeric(states[column]).astype("float64")
    scored = pd.concat(scored_parts, ignore_index=True) if scored_parts else pd.DataFrame()
    return ids, states, scored


def write_served(
    engine: Engine, requests: Sequence[dict[str, Any]], candidates: Sequence[Candidate]
) -> None:
    """Write `requests` and their series (`candidates`) in one transaction, scoring as needed."""
    by_request: dict[str, dict[bytes, Candidate]] = defaultdict(dict)
    for candidate in candidates:
        by_request[candidate.request_id].setdefault(candidate.fingerprint, candidate)
    counts: dict[bytes, int] = defaultdict(int)
    firsts: dict[bytes, Candidate] = {}
    latest: dict[bytes, datetime] = {}
    for found in by_request.values():
        for fingerprint, candidate in found.items():
            counts[fingerprint] += 1
            firsts.setdefault(fingerprint, candidate)
            latest[fingerprint] = max(
                latest.get(fingerprint, candidate.served_at), candidate.served_at
            )
    with write_transaction(engine) as connection:
        existing = _existing(connection, list(firsts))
        new = {fp: c for fp, c in firsts.items() if fp not in existing}
        new_ids, states, new_points = _new_forecasts(connection, new, counts)
        ids = {**existing, **new_ids}
        _reuse(connection, {existing[fp]: (counts[fp], latest[fp]) for fp in existing})
        connection.execute(insert(ForecastRequest), list(requests))
        links = [
            {"request_id": request_id, "forecast_id": ids[fp]}
            for request_id, found in by_request.items()
            for fp in found
        ]
        for part in chunks(links, 5_000):
            connection.execute(insert(ServedSeries), part)
        _score_reused(connection, {existing[fp]: counts[fp] for fp in existing})
        scored = states[states["n_scored"] > 0]
        if not scored.empty:
            add_contributions(connection, with_forecasts(new_points, scored), scored)


def _existing(connection: Connection, fingerprints: Sequence[bytes]) -> dict[bytes, int]:
    query = select(Forecast.fingerprint, Forecast.id)
    return {
        fingerprint: forecast_id
        for part in chunks(list(fingerprints))
        for fingerprint, forecast_id in connection.execute(
            query.where(Forecast.fingerprint.in_(part))
        )
    }


def _reuse(connection: Connection, uses: dict[int, tuple[int, datetime]]) -> None:
    """Raise n_served of re-served forecasts and move their last_served_at forward."""
    if not uses:
        return
    at = bindparam("at")
    statement = (
        update(FORECASTS)
        .where(FORECASTS.c.id == bindparam("fid"))
        .values(
            n_served=FORECASTS.c.n_served + bindparam("k"),
            last_served_at=case(
                (FORECASTS.c.last_served_at < at, at), else_=FORECASTS.c.last_served_at
            ),
        )
    )
    connection.execute(
        statement, [{"fid": fid, "k": k, "at": when} for fid, (k, when) in uses.items()]
    )


def _score_reused(connection: Connection, added: dict[int, int]) -> None:
    """Re-served forecasts that are already scored count `added` more times in the sums."""
    if not added:
        return
    states = forecast_states(connection, Forecast.n_scored > 0, ids=list(added))
    if states.empty:
        return
    states = states.assign(**{WEIGHT: states["forecast_id"].map(added).astype("int64")})
    points = points_of(connection, states["forecast_id"].tolist(), scored_only=True)
    add_contributions(connection, with_forecasts(points, states), states)
