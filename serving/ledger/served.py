"""Logging served forecasts: the server's own answers (`log_served`, `log_served_many`) and
forecast frames from elsewhere (`log_forecasts`, checked with pandas first)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from features.schema import HIERARCHY_LEVEL, ID, TIME
from serving.db import utcnow
from serving.frame_checks import (
    SHOWN,
    check_unique_keys,
    checked_dates,
    checked_ids,
    checked_numbers,
    naive_utc,
    require_columns,
)
from serving.ledger.forecast_store import Candidate, write_served
from serving.ledger.history_stats import HistoryStats

__all__ = ["ServedRows", "log_forecasts", "log_served", "log_served_many"]

YHAT = "yhat"


@dataclass(frozen=True)
class ServedRows:
    """A forecast exactly as the server answered it: series in order, `horizon` points each.

    Built by the server from its own model, so it is valid by construction; `log_served` writes
    it without the pandas checks that `log_forecasts` applies to frames from elsewhere.
    `history_stats` (of the snapshot that answered) gives each series' MASE scale and direction
    references at its origin; without it the forecast's MASE and direction stay undefined.
    `served_at` (naive UTC or aware) defaults to the time of writing.
    """

    unique_ids: list[str]
    hierarchy_levels: list[str]
    origins: list[datetime]
    horizon: int
    ds: Sequence[Any]
    yhat: np.ndarray
    bounds: dict[int, tuple[np.ndarray, np.ndarray]]
    history_stats: HistoryStats | None = None
    served_at: datetime | None = None


def _days(values: Any, what: str) -> np.ndarray:
    """Target dates as datetime64[D]; a time of day is refused (the ledger keeps dates)."""
    stamps = np.asarray(values, dtype="datetime64[us]")
    days = stamps.astype("datetime64[D]")
    if np.isnat(stamps).any() or (days != stamps).any():
        raise ValueError(f"{what}: every ds must be a calendar date (midnight), without time")
    return days


def _after_origin(ds: np.ndarray, origin: datetime, what: str) -> None:
    """A forecast's target dates come after the last date it was made from."""
    first = np.asarray(ds, dtype="datetime64[us]").min()
    if first <= np.datetime64(origin, "us"):
        raise ValueError(f"{what} has target date {str(first)[:10]} on or before its origin")


def _interval_levels(levels: Any, what: str) -> list[int]:
    found = sorted({int(level) for level in levels})
    if any(not 0 < level < 100 for level in found):
        raise ValueError(
            f"{what}: interval levels must lie strictly between 0 and 100, got {found}"
        )
    return found


def _request(
    request_id: str,
    served_at: datetime,
    model_name: str,
    model_version: str,
    api_key_id: int | None,
    horizon: int,
    interval_levels: Sequence[int],
    n_series: int,
) -> dict[str, Any]:
    """The forecast_requests row of one served request."""
    return {
        "id": request_id,
        "served_at": served_at,
        "model_name": model_name,
        "model_version": model_version,
        "api_key_id": api_key_id,
        "horizon": horizon,
        "interval_levels": json.dumps(list(interval_levels)),
        "n_series": n_series,
    }


def _candidates(item: Mapping[str, Any], now: datetime) -> tuple[dict[str, Any], list[Candidate]]:
    """The request row and the per-series candidates of one `log_served_many` item."""
    served: ServedRows = item["served"]
    request_id = str(item["request_id"])
    what = f"request {request_id}"
    n, h = len(served.unique_ids), int(served.horizon)
    if h < 1:
        raise ValueError(f"{what}: horizon must be at least 1, got {h}")
    if len(served.hierarchy_levels) != n or len(served.origins) != n:
        raise ValueError(f"{what}: one hierarchy level and one origin per series are needed")
    levels = _interval_levels(served.bounds, what)
    values = [np.asarray(served.yhat, dtype="float64")]
    values += [np.asarray(v, dtype="float64") for pair in served.bounds.values() for v in pair]
    if any(len(v) != n * h for v in values) or len(served.ds) != n * h:
        raise ValueError(f"{what}: {n} series x horizon {h} needs {n * h} dates and values each")
    if not all(np.isfinite(v).all() for v in values):
        raise ValueError(f"{what}: the forecast has non-finite values")
    days = _days(served.ds, what)
    at = naive_utc(served.served_at, "served_at") if served.served_at is not None else now
    request = _request(
        request_id,
        at,
        str(item["model_name"]),
        str(item["model_version"]),
        item.get("api_key_id"),
        h,
        levels,
        n,
    )
    out = []
    for i, uid in enumerate(served.unique_ids):
        part = slice(i * h, (i + 1) * h)
        origin = naive_utc(served.origins[i], f"origin of {uid!r}")
        _after_origin(days[part], origin, f"{what}: series {uid!r}")
        out.append(
            Candidate(
                request_id=request_id,
                unique_id=str(uid),
                hierarchy_level=str(served.hierarchy_levels[i]),
                model_name=request["model_name"],
                model_version=request["model_version"],
                origin=origin.date(),
                origin_time=origin,
                horizon=h,
                ds=days[part],
                yhat=values[0][part],
                bounds={lv: (lo[part], hi[part]) for lv, (lo, hi) in served.bounds.items()},
                served_at=at,
                history_stats=served.history_stats,
            )
        )
    return request, out


def log_served_many(engine: Engine, items: Sequence[Mapping[str, Any]]) -> None:
    """Record several served forecasts in one transaction (the server's group commit).

    Each item holds the keyword arguments of `log_served`: request_id, model_name,
    model_version, served (ServedRows) and optionally api_key_id. All or none are written.
    """
    if not items:
        return
    now = utcnow()
    requests, candidates = [], []
    for item in items:
        request, found = _candidates(item, now)
        requests.append(request)
        candidates.extend(found)
    write_served(engine, requests, candidates)


def log_served(
    engine: Engine,
    request_id: str,
    model_name: str,
    model_version: str,
    served: ServedRows,
    api_key_id: int | None = None,
) -> None:
    """Record one served forecast in one transaction (the server's fast path, no pandas)."""
    item = {
        "request_id": request_id,
        "model_name": model_name,
        "model_version": model_version,
        "served": served,
        "api_key_id": api_key_id,
    }
    log_served_many(engine, [item])


def _forecast_frame(forecasts: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
    """The checked forecast frame, sorted by series and date."""
    what = "forecasts"
    bounds = [c for lv in levels for c in (f"yhat_lo_{lv}", f"yhat_hi_{lv}")]
    require_columns(forecasts, [ID, HIERARCHY_LEVEL, TIME, YHAT, *bounds], what)
    if forecasts.empty:
        raise ValueError("forecasts is empty: there is nothing to log")
    frame = pd.DataFrame(
        {ID: checked_ids(forecasts[ID], what), TIME: checked_dates(forecasts[TIME], what)}
    )
    frame[HIERARCHY_LEVEL] = forecasts[HIERARCHY_LEVEL].astype(str).to_numpy()
    frame[YHAT] = checked_numbers(forecasts[YHAT], YHAT, what, required=True).to_numpy()
    for column in bounds:
        frame[column] = checked_numbers(forecasts[column], column, what, required=False).to_numpy()
    check_unique_keys(frame, what)
    n_levels = frame.groupby(ID)[HIERARCHY_LEVEL].nunique()
    if (n_levels > 1).any():
        raise ValueError(
            f"{what}: series {n_levels[n_levels > 1].index[0]!r} has several hierarchy levels"
        )
    return frame.sort_values([ID, TIME], ignore_index=True)


def log_forecasts(
    engine: Engine,
    request_id: str,
    model_name: str,
    model_version: str,
    forecasts: pd.DataFrame,
    origins: Mapping[str, Any],
    horizon: int,
    interval_levels: Sequence[int],
    api_key_id: int | None = None,
    history_stats: HistoryStats | None = None,
) -> None:
    """Record one served forecast frame in one transaction, scoring any already-known actual.

    `forecasts` is long: unique_id, level (hierarchy), ds, yhat, yhat_lo_L, yhat_hi_L for L in
    `interval_levels` (bounds may be missing); `origins` maps each unique_id to the last observed
    date it was forecast from; a series may have fewer than `horizon` points.
    """
    levels = _interval_levels(interval_levels, "forecasts")
    if int(horizon) < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    frame = _forecast_frame(forecasts, levels)
    missing = sorted(set(frame[ID]) - {str(k) for k in origins})
    if missing:
        raise ValueError(f"origins lacks the series {missing[:SHOWN]}")
    too_long = frame.groupby(ID).size()
    if (too_long > int(horizon)).any():
        raise ValueError(f"forecasts: series {too_long.idxmax()!r} has more than {horizon} rows")
    now = utcnow()
    request = _request(
        request_id, now, model_name, model_version, api_key_id, int(horizon), levels, 0
    )
    origin_of = {str(k): naive_utc(v, f"origin of {k!r}") for k, v in origins.items()}
    candidates = []
    for uid, part in frame.groupby(ID, sort=True):
        origin = origin_of[str(uid)]
        _after_origin(part[TIME].to_numpy(), origin, f"forecasts: series {uid!r}")
        candidates.append(
            Candidate(
                request_id=request_id,
                unique_id=str(uid),
                hierarchy_level=str(part[HIERARCHY_LEVEL].iloc[0]),
                model_name=model_name,
                model_version=model_version,
                origin=origin.date(),
                origin_time=origin,
                horizon=int(horizon),
                ds=_days(part[TIME].to_numpy(), "forecasts"),
                yhat=part[YHAT].to_numpy(dtype="float64"),
                bounds={
                    lv: (
                        part[f"yhat_lo_{lv}"].to_numpy(dtype="float64"),
                        part[f"yhat_hi_{lv}"].to_numpy(dtype="float64"),
                    )
                    for lv in levels
                },
                served_at=now,
                history_stats=history_stats,
            )
        )
    request["n_series"] = len(candidates)
    write_served(engine, [request], candidates)
