"""Forecast answers: the requested series from the live snapshot, as JSON or CSV, and the row the
ledger keeps of each answer. Plain functions; the routes in serving/routes/forecasts.py call them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.schema import ID, TIME, forecast_columns, period_start
from serving import ledger
from serving.errors import InvalidRequest, UnknownSeries
from serving.state import LiveModel
from training.base import central_interval_of, level_name
from training.base import hi as hi_column
from training.base import lo as lo_column


@dataclass(frozen=True)
class Served:
    """One computed answer: the arrays behind it and what the ledger records."""

    ids: list[str]
    hierarchy_levels: list[str]
    origins: list[pd.Timestamp]
    horizon: int
    interval_levels: list[int]
    days: np.ndarray
    yhat: np.ndarray
    bounds: dict[int, tuple[np.ndarray, np.ndarray]]
    served_at: dt.datetime
    #: Quantile level label ("2.5") -> its value per point; answered, not kept in the ledger.
    quantiles: dict[str, np.ndarray] = field(default_factory=dict)


def checked_request(
    live: LiveModel, unique_ids: list[str], horizon: int | None, max_series: int
) -> tuple[list[str], int]:
    """Distinct known ids (in order) and the horizon, or the error naming the field."""
    ids = list(dict.fromkeys(unique_ids))
    if len(ids) > max_series:
        raise InvalidRequest(
            f"at most {max_series} series per request, got {len(ids)}", "body.unique_ids"
        )
    unknown = [uid for uid in ids if uid not in live.level_of]
    if unknown:
        raise UnknownSeries(unknown, "body.unique_ids", "; GET /v1/series lists them")
    horizon = horizon or live.bundle.horizon
    if horizon > live.bundle.horizon:
        raise InvalidRequest(
            f"horizon {horizon} is beyond the model's {live.bundle.horizon} periods",
            "body.horizon",
        )
    return ids, horizon


def compute(
    live: LiveModel,
    ids: list[str],
    horizon: int,
    interval_levels: list[int],
    quantiles: Sequence[float] = (),
) -> Served:
    """The forecasts of `ids` from the snapshot (precomputed when possible)."""
    columns = live.forecast(ids, horizon, interval_levels)  # long, the series in `ids` order
    bounds = {
        lv: (
            np.asarray(columns[f"yhat_lo_{lv}"], dtype="float64"),
            np.asarray(columns[f"yhat_hi_{lv}"], dtype="float64"),
        )
        for lv in interval_levels
    }
    yhat = np.asarray(columns["yhat"], dtype="float64")
    return Served(
        ids=ids,
        hierarchy_levels=[str(live.level_of[uid]) for uid in ids],
        origins=[live.origin_of[uid] for uid in ids],
        horizon=horizon,
        interval_levels=list(interval_levels),
        days=np.asarray(columns[TIME], dtype="datetime64[us]"),
        yhat=yhat,
        bounds=bounds,
        served_at=dt.datetime.now(dt.UTC),
        quantiles=daily_quantiles(live, ids, horizon, quantiles, yhat),
    )


def daily_quantiles(
    live: LiveModel, ids: list[str], horizon: int, quantiles: Sequence[float], yhat: np.ndarray
) -> dict[str, np.ndarray]:
    """Each quantile level (percent) as its values per point, from the calibrated intervals.

    q > 50 is the upper bound of the central interval at 2q - 100, q < 50 the lower bound at
    100 - 2q (so 97.5 is the 95 % upper bound), and q = 50 the point forecast.
    """
    sides = {str(level_name(q)): central_interval_of(q) for q in quantiles}
    levels = sorted({side[0] for side in sides.values() if side is not None})
    columns = live.forecast(ids, horizon, levels) if levels else {}  # type: ignore[arg-type]
    return {
        label: yhat
        if side is None
        else np.asarray(
            columns[hi_column(side[0]) if side[1] == "hi" else lo_column(side[0])], "float64"
        )
        for label, side in sides.items()
    }


def history_stats_of(live: LiveModel) -> ledger.HistoryStats:
    """What scoring needs from the snapshot's history (MASE scale, direction references)."""
    stats = live.__dict__.get("_history_stats")
    if stats is None:
        full = ledger.HistoryStats(live.history, live.bundle.season_length or 1)
        stats = full.last_rows(live.bundle.horizon)  # forecasts start at each series' end
        live.__dict__["_history_stats"] = stats
    return stats


def ledger_item(
    live: LiveModel, served: Served, request_id: str, api_key_id: int | None
) -> dict[str, Any]:
    """The keyword arguments of `ledger.log_served` for this answer."""
    return {
        "request_id": request_id,
        "model_name": live.name,
        "model_version": live.version,
        "served": ledger.ServedRows(
            served.ids,
            served.hierarchy_levels,
            [o.to_pydatetime() for o in served.origins],
            served.horizon,
            served.days.tolist(),
            served.yhat,
            served.bounds,
            history_stats=history_stats_of(live),
            served_at=served.served_at,
        ),
        "api_key_id": api_key_id,
    }


def _columns(served: Served) -> tuple[list[str], list[list[float]]]:
    names = ["yhat"]
    columns = [np.round(served.yhat, 6).tolist()]
    for lv in served.interval_levels:
        lo, hi = served.bounds[lv]
        names += [f"yhat_lo_{lv}", f"yhat_hi_{lv}"]
        columns += [np.round(lo, 6).tolist(), np.round(hi, 6).tolist()]
    return names, columns


def _quantile_columns(served: Served) -> list[tuple[str, list[float]]]:
    return [(label, np.round(v, 6).tolist()) for label, v in served.quantiles.items()]


def json_body(
    live: LiveModel,
    served: Served,
    request_id: str,
    anticipations: dict[str, dict],
    drift_rule: str,
) -> dict[str, Any]:
    """The ForecastResponse as plain JSON types, built from the arrays (the hot path)."""
    names, columns = _columns(served)
    quantiles = _quantile_columns(served)
    dates = served.days.astype("datetime64[D]").astype("str").tolist()
    model_name = live.model.alias_name
    h = served.horizon
    forecasts = []
    for i, uid in enumerate(served.ids):
        points = [
            {"ds": dates[r], **{n: col[r] for n, col in zip(names, columns, strict=True)}}
            for r in range(i * h, (i + 1) * h)
        ]
        if quantiles:
            for r, point in enumerate(points, start=i * h):
                point["quantiles"] = {label: values[r] for label, values in quantiles}
        forecasts.append(
            {
                "unique_id": uid,
                "level": served.hierarchy_levels[i],
                "model": model_name,
                "model_version": live.version,
                "origin": served.origins[i].date().isoformat(),
                "points": points,
                "anticipation": anticipations[uid],
            }
        )
    return {
        "request_id": request_id,
        "model_name": live.name,
        "model_version": live.version,
        "served_at": served.served_at.isoformat(),
        "drift_rule": drift_rule,
        "forecasts": forecasts,
    }


def _csv_columns(served: Served) -> tuple[list[str], list[list[float]]]:
    """The value columns of a CSV answer: yhat, the bounds, then yhat_q_L per quantile."""
    names, columns = _columns(served)
    for label, values in _quantile_columns(served):
        names, columns = [*names, f"yhat_q_{label}"], [*columns, values]
    return names, columns


def csv_body(live: LiveModel, served: Served, scenario: Served | None = None) -> str:
    """The forecast as CSV: one row per series and period, the long forecast frame of DESIGN.

    With a scenario, its rows follow the base ones and a `forecast` column tells them apart
    (`base`, `scenario`).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names, _ = _csv_columns(served)
    kind = [] if scenario is None else ["forecast"]
    writer.writerow([ID, "level", "model_version", "origin", *kind, "ds", *names])
    parts = [(served, "base")] + ([] if scenario is None else [(scenario, "scenario")])
    for part, label in parts:
        found = dict(zip(*_csv_columns(part), strict=True))
        columns = [found.get(name, [""] * len(part.yhat)) for name in names]
        dates = part.days.astype("datetime64[D]").astype("str").tolist()
        tag = [] if scenario is None else [label]
        h = part.horizon
        for i, uid in enumerate(part.ids):
            origin = part.origins[i].date().isoformat()
            head = [uid, part.hierarchy_levels[i], live.version, origin, *tag]
            for r in range(i * h, (i + 1) * h):
                writer.writerow([*head, dates[r], *(c[r] for c in columns)])
    return out.getvalue()


SCENARIO_NOTE = (
    "What-if forecasts under the posted plan (other rows: last price carried forward, no "
    "promotion); kept in the ledger as a scenario and never scored. `forecasts` is the official "
    "forecast."
)


def series_points(served: Served) -> dict[str, list[dict[str, Any]]]:
    """Per series the points of an answer ({ds, yhat, yhat_lo_L, yhat_hi_L}), JSON types."""
    names, columns = _columns(served)
    dates = served.days.astype("datetime64[D]").astype("str").tolist()
    h = served.horizon
    return {
        uid: [
            {"ds": dates[r], **{n: col[r] for n, col in zip(names, columns, strict=True)}}
            for r in range(i * h, (i + 1) * h)
        ]
        for i, uid in enumerate(served.ids)
    }


def scenario_body(scenario: Any, served: Served) -> dict[str, Any]:
    """The `scenario` part of a ForecastResponse."""
    per_series = series_points(served)
    return {
        "name": scenario.name,
        "n_rows": len(scenario.rows),
        "note": SCENARIO_NOTE,
        "forecasts": [
            {
                "unique_id": uid,
                "level": served.hierarchy_levels[i],
                "origin": served.origins[i].date().isoformat(),
                "points": per_series[uid],
            }
            for i, uid in enumerate(served.ids)
        ],
    }


def forecast_frame(live: LiveModel, served: Served) -> pd.DataFrame:
    """The answer as the long forecast frame of the data contract (unique_id, ds, model, yhat,
    bounds), then each row's hierarchy level, origin and model version; values as the API's."""
    names, columns = _columns(served)
    h = served.horizon
    frame = pd.DataFrame(
        {
            ID: np.repeat(np.asarray(served.ids, dtype=object), h),
            TIME: served.days.astype("datetime64[D]"),
            "model": live.model.alias_name,
            **dict(zip(names, columns, strict=True)),
            "level": np.repeat(np.asarray(served.hierarchy_levels, dtype=object), h),
            "origin": np.repeat(np.asarray(served.origins, dtype="datetime64[D]"), h),
            "model_version": live.version,
        }
    )
    return frame[[*forecast_columns(served.interval_levels), "level", "origin", "model_version"]]


def weekly_totals(frame: pd.DataFrame) -> pd.DataFrame:
    """Per series and calendar week (Monday to Sunday, `ds` its Monday): the sum of the daily
    point forecasts and how many of the week's days they cover (a horizon cuts weeks short).

    Bounds are left out: the sum of daily quantiles is not the quantile of the week's sum.
    """
    weeks = frame.assign(**{TIME: period_start(frame[TIME], "W")})
    kept = [c for c in ("model", "level", "origin", "model_version") if c in frame.columns]
    grouped = weeks.groupby([ID, TIME], sort=False)
    out = grouped[kept].first()
    out.insert(kept.index("model") + 1 if "model" in kept else 0, "yhat", grouped["yhat"].sum())
    out["days"] = grouped.size()
    return out.reset_index()


def points(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts: `ds` a date, every other column (but unique_id) a float rounded."""
    names = [c for c in frame.columns if c not in (TIME, ID)]
    days = frame[TIME].to_numpy(dtype="datetime64[D]").tolist()
    values = [
        np.round(frame[c].to_numpy(dtype="float64", na_value=np.nan), 6).tolist() for c in names
    ]
    keys = ("ds", *names)
    return [dict(zip(keys, row, strict=True)) for row in zip(days, *values, strict=True)]
