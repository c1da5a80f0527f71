"""The drift rule from the ledger's sums: each group's most recent scored target dates (its
window), their MASE and bias, against the thresholds of its backtest windows.

The rule is `serving.anticipation.DRIFT_RULE`; the verdict is `anticipation.verdict`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from features.schema import ID, TIME
from serving import anticipation
from serving.ledger.backtest import Backtest
from serving.ledger.cells import Columns, Filters, day_sums
from serving.ledger.contributions import DAY_SUMS
from serving.ledger.groups import STORED, Groups, frame_of, ratio

__all__ = ["drift", "newest"]


#: Recent target dates read at first, in windows: series a few dates behind the newest ones
#: (not all posted yet) still find their whole window in that read.
MARGIN = 2


def newest(series: Columns) -> int:
    """How many recent target dates to read: MARGIN x max(MIN_POINTS, longest step)."""
    scored = series["max_step"][series["n_points"] > 0]
    return MARGIN * int(max(anticipation.MIN_POINTS, scored.max(initial=0)))


def _windows(days: Columns, codes: np.ndarray, n: int, spans: np.ndarray) -> Columns:
    """Per group: the day sums over its last `span` target dates, and their first and last."""
    when = days[TIME].astype("int64")
    width = when.max(initial=0) + 1
    pair, first, inverse = np.unique(codes * width + when, return_index=True, return_inverse=True)
    group, day = codes[first], when[first]
    per_day = {k: np.bincount(inverse, weights=days[k], minlength=len(pair)) for k in DAY_SUMS}
    order = np.lexsort((-day, group))
    starts = np.searchsorted(group[order], np.arange(n))
    rank = np.arange(len(order)) - starts[group[order]]
    keep = order[rank < spans[group[order]]]
    out = {k: np.bincount(group[keep], weights=v[keep], minlength=n) for k, v in per_day.items()}
    out["n_dates"] = np.bincount(group[keep], minlength=n).astype("float64")
    out["n_read"] = np.bincount(group, weights=per_day["n_points"], minlength=n)
    start, end = np.full(n, np.iinfo("int64").max), np.full(n, np.iinfo("int64").min)
    np.minimum.at(start, group[keep], day[keep])
    np.maximum.at(end, group[keep], day[keep])
    out["window_start"], out["window_end"] = start, end
    return out


def _dates(values: np.ndarray, dated: np.ndarray) -> np.ndarray:
    """Day numbers as datetime64[us], NaT where the group has no dates."""
    days = np.where(dated, values, np.iinfo("int64").min).astype("datetime64[D]")
    return days.astype("datetime64[us]")


def drift(
    connection: Connection,
    filters: Filters,
    by: Sequence[str],
    series: Columns,
    days: Columns,
    backtest: Backtest,
    complete: bool,
) -> pd.DataFrame:
    """`anticipation.drift`'s frame for grouping `by` (groups with scored points).

    `days` holds at least the newest dates of every group; unless it is `complete`, a group
    whose window reaches further back (a series not scored lately) is read again on its own.
    """
    groups = Groups(by, series, days)
    spans = np.maximum(anticipation.MIN_POINTS, groups.largest(0, series["max_step"]))
    totals = groups.sums(0, series, ["n_points"])["n_points"]
    numbers = _windows(days, groups.codes[1], groups.n, spans)
    lagging = (numbers["n_dates"] < spans) & (numbers["n_read"] < totals)
    for group in np.flatnonzero(lagging) if by and not complete else ():
        narrowed = filters
        for name in by:
            narrowed = narrowed.narrowed(STORED[name], groups.keys[name][group])
        again = day_sums(connection, narrowed, newest=int(spans[group]))
        redone = _windows(again, np.zeros(len(again[TIME]), dtype="int64"), 1, spans[[group]])
        for name, values in redone.items():
            numbers[name][group] = values[0]
    dated = numbers["n_dates"] > 0
    nonzero = numbers["n_nonzero_y"] > 0
    values = {
        "n_points": np.rint(numbers["n_points"]).astype("int64"),
        "window_start": _dates(numbers["window_start"], dated),
        "window_end": _dates(numbers["window_end"], dated),
        "realized_mase": ratio(
            numbers["sum_scaled_error"], numbers["n_scaled"], numbers["n_scaled"] > 0
        ),
        "realized_bias": ratio(
            numbers["sum_error"], numbers["sum_y"], nonzero & (numbers["sum_y"] > 0)
        ),
    }
    # each group's member series once, for the backtest windows
    scored = series["n_points"] > 0
    codes, ids = groups.codes[0][scored], series[ID][scored]
    _, first = np.unique(codes * len(ids) + pd.factorize(ids)[0], return_index=True)
    match = {
        name: series[STORED[name]][scored][first]
        for name in by
        if name != ID and backtest.matched(name)
    }
    found = backtest.windows(codes[first], ids[first], match, groups.n)
    rule = np.where(
        found["many"],
        f"p{anticipation.QUANTILE * 100:.0f} of backtest windows",
        f"{anticipation.MEAN_FACTOR} x backtest mean",
    )
    values.update(
        {
            "mase_threshold": found["mase_threshold"],
            "threshold_rule": np.where(found["n_windows"] > 0, rule, None),
            "n_windows": np.rint(found["n_windows"]).astype("int64"),
            "expected_mase": found["expected_mase"],
        }
    )
    out = frame_of(groups.keys, values, totals > 0, [*by, *values])
    return anticipation.verdict(out, list(by))
