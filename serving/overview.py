"""The planner's morning overview: every series' next days against its last ones, how far its
forecasts can be trusted, and the series that need attention first; a series' sales history.

    overview(engine, live, days)    # GET /v1/overview: rows, attention, rules
    history_of(live, unique_id, n)  # GET /v1/series/{unique_id}/history

What depends only on the snapshot (the drill-down tree, totals, stock-out signals) is kept with
it; realized accuracy and drift come from the ledger's running sums (`ledger.accuracy_report`).
The trend (GET /v1/accuracy/trend) is in `serving.accuracy_trend`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from features.schema import ID, TARGET, TIME
from features.trend import DEFAULT_BAND
from serving import anticipation, ledger
from serving.accuracy import backtest_of, expected_by_series
from serving.errors import InvalidRequest, NotFound
from serving.orders import total_errors_of
from serving.state import LiveModel, finite_or_none
from serving.totals import steps_total
from serving.tree import drill_down

__all__ = ["RULES", "history_of", "overview", "sorted_history", "stockout_signals"]

#: |change| within this band (next against last total) is "flat".
DIRECTION_BAND = DEFAULT_BAND
#: The stock-out rule: a run of at least this many open days without sales ...
STOCKOUT_RUN = 2
#: ... after at least STOCKOUT_MIN_DAYS of the STOCKOUT_DAYS open days before the run ...
STOCKOUT_DAYS = 28
STOCKOUT_MIN_DAYS = 14
#: ... on at least this share of which the series sold something.
STOCKOUT_SHARE = 0.9
#: Periods of history the stock-out rule looks at (the run and the days before it).
STOCKOUT_LOOKBACK = 120
INTERVAL = 80

RULES = {
    "direction": (
        f"change = (next_total - last_total) / last_total; up above +{DIRECTION_BAND:.0%}, "
        f"down below -{DIRECTION_BAND:.0%}, flat between; with last_total 0 the change is null "
        "and the direction up when next_total > 0, else flat."
    ),
    "drift": anticipation.DRIFT_RULE,
    "bias": (
        f"Biased: realized bias (sum of errors / sum of actuals, error = forecast - actual) "
        f"over all scored points beyond +/-{anticipation.BIAS_BAND:.0%}, the drift rule's bias "
        "band, on a series without a drift verdict for it (e.g. fewer than "
        f"{anticipation.MIN_POINTS} recent scored points)."
    ),
    "stockout": (
        f"Stock-out risk: no sales on the last {STOCKOUT_RUN} or more open days (closed days of "
        "the opening calendar skipped) of a series that sold something on at least "
        f"{STOCKOUT_SHARE:.0%} of its open days before (the last {STOCKOUT_DAYS} open days "
        f"before the run, at least {STOCKOUT_MIN_DAYS} of them): a sudden stop of a steady "
        "seller, more likely empty shelves or missing data than no demand (at a 10 % chance of "
        "a day without sales, two in a row happen 1 time in 100)."
    ),
    "attention": (
        "Drifting series first (by realized MASE over its threshold), then biased ones (by "
        "|bias|), then stock-out risks (by the units of their last open days before the run); "
        "each with all its reasons."
    ),
}


def sorted_history(live: LiveModel) -> pd.DataFrame:
    """The snapshot's history sorted by series and date (kept with the snapshot)."""
    cached = live.__dict__.get("_sorted_history")
    if cached is None:
        history = live.history
        ids, days = history[ID].to_numpy(), history[TIME].to_numpy()
        same = ids[1:] == ids[:-1]
        grouped = len(ids) == 0 or np.count_nonzero(~same) + 1 == pd.unique(ids).size
        if not (grouped and bool(np.all(days[1:][same] > days[:-1][same]))):
            history = history.sort_values([ID, TIME], kind="stable", ignore_index=True)
        cached = history[[ID, TIME, TARGET]]
        live.__dict__["_sorted_history"] = cached
    return cached


def _closed(live: LiveModel, ids: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Whether the opening calendar has each (series, day) row closed (none without one)."""
    calendar = getattr(live.model, "opening_", None)
    if calendar is None or not len(ids):
        return np.zeros(len(ids), dtype=bool)
    return calendar.closed_rows(ids, days)


def stockout_signals(live: LiveModel) -> pd.DataFrame:
    """Per series: stockout_risk (bool), the run of open days without sales and the reason.

    See RULES["stockout"]; computed once per snapshot on its last STOCKOUT_LOOKBACK periods.
    """
    cached = live.__dict__.get("_stockout")
    if cached is not None:
        return cached
    recent = sorted_history(live).groupby(ID, sort=False).tail(STOCKOUT_LOOKBACK)
    ids, days = recent[ID].to_numpy(), recent[TIME].to_numpy()
    opened = recent[~_closed(live, ids, days)]
    sold = opened[TARGET].to_numpy(dtype="float64") > 0
    back = opened.groupby(ID, sort=False).cumcount(ascending=False).to_numpy()  # 0: last day
    frame = pd.DataFrame({ID: opened[ID].to_numpy(), "back": back, "sold": sold})
    size = frame.groupby(ID, sort=False)["back"].size()
    last_sale = frame[frame["sold"]].groupby(ID, sort=False)["back"].min()
    run = last_sale.reindex(size.index).fillna(size).astype("int64")
    start = run.reindex(frame[ID]).to_numpy()
    before = frame[(frame["back"] >= start) & (frame["back"] < start + STOCKOUT_DAYS)]
    grouped = before.groupby(ID, sort=False)["sold"]
    share = grouped.mean().reindex(size.index)
    n_before = grouped.size().reindex(size.index).fillna(0).astype("int64")
    risk = (run >= STOCKOUT_RUN) & (n_before >= STOCKOUT_MIN_DAYS) & (share >= STOCKOUT_SHARE)
    since = opened.assign(back=back).loc[lambda f: f["back"] == 0].set_index(ID)[TIME]
    out = pd.DataFrame({"stockout_risk": risk, "zero_run": run, "sold_share": share})
    reasons = {}
    for uid in out.index[out["stockout_risk"].to_numpy()]:
        reasons[uid] = (
            f"no sales on the last {int(run[uid])} open days (to {since[uid].date()}), after "
            f"sales on {share[uid]:.0%} of the {int(n_before[uid])} open days before"
        )
    out["stockout_reason"] = pd.Series(reasons, dtype=object).reindex(out.index)
    live.__dict__["_stockout"] = out
    return out


def _totals(live: LiveModel, days: int) -> pd.DataFrame:
    """Per series: next_total and its 80 % bounds (serving.totals), last_total, change."""
    cache = live.__dict__.setdefault("_overview_totals", {})
    if days in cache:
        return cache[days]
    ids = list(live.level_of)
    yhat = np.asarray(live.forecast(ids, days, [])["yhat"], dtype="float64")
    yhat = yhat.reshape(len(ids), days)
    errors = total_errors_of(live)
    scale = dict(zip(live.model.unique_ids_, live.model.scale_, strict=True))
    nexts, lows, highs, pools = [], [], [], {}  # type: ignore[var-annotated]
    for i, uid in enumerate(ids):
        total = steps_total(live, uid, yhat[i], 1, days, [INTERVAL], (), errors, scale, pools)
        low, high = next(iter(total.bounds.values()))
        nexts.append(total.mean)
        lows.append(low)
        highs.append(high)
    last = sorted_history(live).groupby(ID, sort=False).tail(days).groupby(ID, sort=False)[TARGET]
    last_total = last.sum().reindex(ids).to_numpy(dtype="float64")
    next_total = np.asarray(nexts)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(last_total > 0, (next_total - last_total) / last_total, np.nan)
    direction = np.where(
        last_total > 0,
        np.where(change > DIRECTION_BAND, "up", np.where(change < -DIRECTION_BAND, "down", "flat")),
        np.where(next_total > 0, "up", "flat"),
    )
    frame = pd.DataFrame(
        {
            "next_total": next_total,
            f"next_low{INTERVAL}": lows,
            f"next_high{INTERVAL}": highs,
            "last_total": last_total,
            "change": change,
            "direction": direction,
        },
        index=pd.Index(ids, name=ID),
    )
    if len(cache) > 8:
        cache.clear()
    cache[days] = frame
    return frame


def _round(value: Any) -> float | None:
    number = finite_or_none(value)
    return None if number is None else round(number, 6)


def checked_days(live: LiveModel, days: int) -> int:
    """`days` when the forecast reaches that far, else the error naming query.days."""
    if not 1 <= days <= live.bundle.horizon:
        raise InvalidRequest(
            f"days must be 1 to the model's horizon of {live.bundle.horizon} periods, got {days}",
            "query.days",
        )
    return days


def overview(engine: Engine, live: LiveModel, days: int) -> dict[str, Any]:
    """The GET /v1/overview answer (JSON types) for the next and last `days` periods."""
    tree = drill_down(live)
    totals = _totals(live, days)
    stockout = stockout_signals(live)
    report = ledger.accuracy_report(engine, expected=backtest_of(live))
    realized = {str(r[ID]): r for r in report.by_series.realized.to_dict("records")}
    drifts = report.by_series.drift
    drift_rows = {} if drifts is None else {str(r[ID]): r for r in drifts.to_dict("records")}
    expected = expected_by_series(live)
    rows = []
    total_of, signal_of = totals.to_dict("index"), stockout.to_dict("index")
    for uid, node in zip(tree.index, tree.to_dict("records"), strict=True):
        total, signal = total_of[uid], signal_of[uid]
        scored, drift = realized.get(uid, {}), drift_rows.get(uid)
        drifting = bool(drift is not None and drift["drift"])
        reason = None if drift is None or pd.isna(drift["reason"]) else str(drift["reason"])
        rows.append(
            {
                "unique_id": uid,
                "level": node["level"],
                "label": node["label"],
                "parent": None if pd.isna(node["parent"]) else str(node["parent"]),
                **{k: _round(total[k]) for k in ("next_total", "last_total", "change")},
                f"next_low{INTERVAL}": _round(total[f"next_low{INTERVAL}"]),
                f"next_high{INTERVAL}": _round(total[f"next_high{INTERVAL}"]),
                "direction": str(total["direction"]),
                "expected_mase": _round(expected[uid].mase) if uid in expected else None,
                "realized_mase": _round(scored.get("mase")),
                "realized_bias": _round(scored.get("bias")),
                "n_scored_points": int(scored.get("n_points", 0)),
                **_bias_flag(_round(scored.get("bias")), int(scored.get("n_points", 0))),
                "drift": drifting,
                "drift_reason": _drift_reason(drift) if drifting else reason,
                "mase_threshold": None if drift is None else _round(drift["mase_threshold"]),
                "stockout_risk": bool(signal["stockout_risk"]),
                "stockout_reason": None
                if pd.isna(signal["stockout_reason"])
                else str(signal["stockout_reason"]),
            }
        )
    newest = sorted_history(live)[TIME].max()
    return {
        "model_name": live.name,
        "model_version": live.version,
        "days": days,
        "last_observed": None if pd.isna(newest) else newest.date().isoformat(),
        "origin": None if pd.isna(newest) else newest.date().isoformat(),
        "rows": rows,
        "attention": attention(rows),
        "rules": RULES,
    }


def _bias_flag(bias: float | None, n_points: int) -> dict[str, Any]:
    """`biased` and `bias_reason` of a row (RULES["bias"])."""
    if bias is None or abs(bias) <= anticipation.BIAS_BAND:
        return {"biased": False, "bias_reason": None}
    reason = (
        f"realized bias {bias:+.0%} beyond +/-{anticipation.BIAS_BAND:.0%} "
        f"({n_points} scored points)"
    )
    return {"biased": True, "bias_reason": reason}


def _drift_reason(drift: dict[str, Any]) -> str:
    """The drift verdict in words, with the numbers behind it."""
    parts = []
    if "mase" in str(drift["reason"]):
        parts.append(
            f"realized MASE {drift['realized_mase']:.2f} over the recent "
            f"{int(drift['n_points'])} scored points is above the threshold "
            f"{drift['mase_threshold']:.2f} ({drift['threshold_rule']})"
        )
    if "bias" in str(drift["reason"]):
        parts.append(
            f"recent realized bias {drift['realized_bias']:+.0%} is beyond "
            f"+/-{anticipation.BIAS_BAND:.0%}"
        )
    return "; ".join(parts) or str(drift["reason"])


def attention(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The series needing attention, most urgent first (RULES["attention"])."""
    found = []
    for row in rows:
        reasons, rank, severity = [], None, 0.0
        if row["drift"]:
            reasons.append(f"drift: {row['drift_reason']}")
            threshold = row["mase_threshold"] or 0.0
            ratio = (row["realized_mase"] or 0.0) / threshold if threshold else 0.0
            rank, severity = 0, ratio
        if row["biased"]:
            reasons.append(f"biased: {row['bias_reason']}")
            if rank is None:
                rank, severity = 1, abs(row["realized_bias"])
        if row["stockout_risk"]:
            reasons.append(f"stock-out risk: {row['stockout_reason']}")
            if rank is None:
                rank, severity = 2, row["last_total"] or 0.0
        if rank is not None:
            kind = ("drift", "bias", "stockout")[rank]
            found.append((rank, -severity, row["unique_id"], kind, reasons, row))
    found.sort(key=lambda item: item[:3])
    return [
        {
            "unique_id": uid,
            "level": row["level"],
            "label": row["label"],
            "kind": kind,
            "reasons": reasons,
        }
        for _, _, uid, kind, reasons, row in found
    ]


def history_of(live: LiveModel, unique_id: str, days: int) -> dict[str, Any]:
    """The last `days` observed periods of a series (ds, y, closed), as JSON types."""
    if unique_id not in live.level_of:
        raise NotFound(f"unknown series {unique_id!r}; GET /v1/series lists them", "path.unique_id")
    history = sorted_history(live)
    rows = history.iloc[_rows_of(live, history).get(unique_id, slice(0, 0))].tail(days)
    ids, dates = rows[ID].to_numpy(), rows[TIME].to_numpy()
    closed = _closed(live, ids, dates)
    values = np.round(rows[TARGET].to_numpy(dtype="float64"), 6).tolist()
    stamps = dates.astype("datetime64[D]").astype("str").tolist()
    return {
        "unique_id": unique_id,
        "level": live.level_of[unique_id],
        "unit": _unit_of(live, unique_id),
        "freq": str(live.model.freq_),
        "calendar": getattr(live.model, "opening_", None) is not None,
        "points": [{"ds": d, "y": y} for d, y in zip(stamps, values, strict=True)],
        "closed": [d for d, shut in zip(stamps, closed.tolist(), strict=True) if shut],
    }


def _rows_of(live: LiveModel, history: pd.DataFrame) -> dict[str, slice]:
    """Each series' rows in the sorted history (kept with the snapshot)."""
    cached = live.__dict__.get("_history_rows")
    if cached is None:
        ids = history[ID].to_numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.arange(0)
        stops = np.r_[starts[1:], len(ids)]
        cached = {str(ids[a]): slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)}
        live.__dict__["_history_rows"] = cached
    return cached


def _unit_of(live: LiveModel, unique_id: str) -> str:
    """The unit of y: the attributes' `unit` of a bottom series when given, else "units"."""
    attributes = live.bundle.attributes
    if attributes is not None and "unit" in attributes.columns:
        found = attributes.loc[attributes[ID].astype("str") == unique_id, "unit"]
        if len(found) and isinstance(found.iloc[0], str):
            return found.iloc[0]
    return "units"
