"""Realized accuracy over time per store, category or hierarchy level (GET /v1/accuracy/trend),
next to what the backtest promised each group.

A series belongs to the store (or category, or any one-attribute level) that contains all its
members: the bottom series of a store, its store-level aggregate and its store/category
aggregates are that store's; the total, and aggregates spanning stores (a category, an item sold
in two shops), belong to none. With `by=level` every series belongs to its hierarchy level.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from features.schema import BOTTOM_LEVEL, HIERARCHY_LEVEL, ID
from serving import anticipation
from serving.errors import InvalidRequest
from serving.ledger.trend import GROUP, PERIOD, TrendPeriod, accuracy_by_period
from serving.state import LiveModel, finite_or_none
from serving.tree import label_of

__all__ = ["MASE_NOTE", "group_of", "groupings", "trend"]

LEVEL = "level"
MASE_NOTE = (
    "Realized per group and target period from the ledger's scored points: mase the mean of "
    "|error| / the series' in-sample seasonal naive MAE (the scale the ledger keeps with each "
    "forecast) over the points, wape sum |error| / sum |actual|, bias sum error / sum actual "
    "(error = forecast - actual); a point counts once per request that served it. expected_*: "
    "the backtest's mean per series and window over the group's series."
)


def groupings(live: LiveModel) -> list[str]:
    """What `by` may be: level, and each one-attribute hierarchy level of the model."""
    levels = dict.fromkeys(live.hierarchy_levels.tolist())
    singles = [lv for lv in levels if "/" not in lv and lv not in ("total", BOTTOM_LEVEL)]
    return [LEVEL, *singles]


def group_of(live: LiveModel, by: str) -> pd.Series:
    """Each series' group (indexed by unique_id): its level, or the node of level `by` that
    contains all its members (series in none are left out)."""
    cache = live.__dict__.setdefault("_trend_groups", {})
    if by in cache:
        return cache[by]
    if by == LEVEL:
        found = live.hierarchy_levels.astype("str")
    else:
        membership = live.bundle.membership
        assert membership is not None and by in membership
        table = membership.astype("str")
        parts = [pd.Series(table[by].to_numpy(), index=table[ID].to_numpy())]
        for level in table.columns:
            if level == ID:
                continue
            counts = table.groupby(level)[by].agg(["nunique", "first"])
            inside = counts[counts["nunique"] == 1]["first"]
            parts.append(inside)
        found = pd.concat(parts)
        found = found[~found.index.duplicated()]
    cache[by] = found
    return found


def _expected(live: LiveModel, groups: pd.Series) -> dict[str, dict[str, float | None]]:
    """Per group: the backtest's mase, wape and bias over its series."""
    expected = live.bundle.expected
    if expected is None or not len(expected):
        return {}
    frame = expected.assign(**{GROUP: expected[ID].astype("str").map(groups)})
    frame = frame[frame[GROUP].notna()].drop(columns=[HIERARCHY_LEVEL], errors="ignore")
    if frame.empty:
        return {}
    summary = anticipation.expected_summary(frame, by=(GROUP,))
    return {
        str(row[GROUP]): {m: finite_or_none(row.get(m, np.nan)) for m in ("mase", "wape", "bias")}
        for row in summary.to_dict("records")
    }


def trend(
    engine: Engine, live: LiveModel, by: str, period: TrendPeriod, since: dt.date | None
) -> dict[str, Any]:
    """The GET /v1/accuracy/trend answer (JSON types): one row per group and period."""
    allowed = groupings(live)
    if by not in allowed:
        raise InvalidRequest(f"by must be one of {allowed}, got {by!r}", "query.by")
    groups = group_of(live, by)
    found = accuracy_by_period(
        engine, period, group_of=None if by == LEVEL else groups, since=since
    )
    expected = _expected(live, groups)
    rows = []
    for row in found.to_dict("records"):
        group = str(row[GROUP])
        promised = expected.get(group, {})
        rows.append(
            {
                "group": group,
                "label": group if by == LEVEL else label_of(group, by),
                "period_start": pd.Timestamp(row[PERIOD]).date().isoformat(),
                "n_points": int(row["n_points"]),
                "n_series": int(row["n_series"]),
                **{m: finite_or_none(row[m]) for m in ("mase", "wape", "bias")},
                **{f"expected_{m}": promised.get(m) for m in ("mase", "wape", "bias")},
            }
        )
    return {
        "by": by,
        "period": period,
        "since": None if since is None else since.isoformat(),
        "rows": rows,
        "groups": _nested(rows),
        "rule": anticipation.DRIFT_RULE,
        "note": MASE_NOTE,
    }


def _nested(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows per group (a chart's series): expected values once, the periods as points,
    realized_mase the points-weighted mean of the periods' MASE."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        group = out.setdefault(
            row["group"],
            {
                "group": row["group"],
                "name": row["label"],
                **{k: row[k] for k in ("expected_mase", "expected_wape", "expected_bias")},
                "points": [],
            },
        )
        keys = ("period_start", "n_points", "n_series", "mase", "wape", "bias")
        group["points"].append({k: row[k] for k in keys})
    for group in out.values():
        scored = [p for p in group["points"] if p["mase"] is not None and p["n_points"]]
        weight = sum(p["n_points"] for p in scored)
        mean = sum(p["mase"] * p["n_points"] for p in scored) / weight if weight else None
        group["realized_mase"] = mean
        group["n_points"] = sum(p["n_points"] for p in group["points"])
    return list(out.values())
