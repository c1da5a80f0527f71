"""The backtest's side of a report, in numpy: each group's MASE windows (the drift threshold)
and its expected accuracy.

`serving.anticipation.backtest_windows` and `expected_summary` define these numbers on frames;
these are the same computations on arrays, a few milliseconds instead of tens for a report of
hundreds of series (the ledger tests hold the two to each other).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import HIERARCHY_LEVEL, ID
from serving import anticipation
from serving.ledger.cells import Columns

__all__ = ["Backtest"]

CUTOFF = "cutoff"


def _group_means(codes: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the mean of the defined values (NaN when none) and how many there are."""
    defined = np.isfinite(values)
    count = np.bincount(codes, weights=defined, minlength=n)
    total = np.bincount(codes, weights=np.where(defined, values, 0.0), minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / count, np.nan), count


def _quantile(codes: np.ndarray, values: np.ndarray, n: int, q: float) -> np.ndarray:
    """Per group, the linearly interpolated q-quantile of its values (as np.quantile)."""
    order = np.lexsort((values, codes))
    codes, values = codes[order], values[order]
    count = np.bincount(codes, minlength=n)
    start = np.searchsorted(codes, np.arange(n))
    position = (np.maximum(count, 1) - 1) * q
    low = start + np.floor(position).astype("int64")
    high = start + np.ceil(position).astype("int64")
    if len(values) == 0:
        return np.full(n, np.nan)
    low, high = np.minimum(low, len(values) - 1), np.minimum(high, len(values) - 1)
    fraction = position - np.floor(position)
    out = values[low] + (values[high] - values[low]) * fraction
    return np.where(count > 0, out, np.nan)


class Backtest:
    """The bundle's per-series backtest windows (`expected`), prepared for many groupings."""

    def __init__(self, expected: pd.DataFrame) -> None:
        frame = expected.reset_index(drop=True)
        self.frame = frame
        self.ids = frame[ID].astype("str").to_numpy(dtype=object)
        self.levels = (
            frame[HIERARCHY_LEVEL].astype("str").to_numpy(dtype=object)
            if HIERARCHY_LEVEL in frame
            else None
        )
        self.order = np.argsort(self.ids.astype(str), kind="stable")
        self.sorted_ids = self.ids.astype(str)[self.order]
        self.id_codes, uniques = pd.factorize(self.ids)
        self.code_of = {str(uid): code for code, uid in enumerate(uniques)}
        self.cutoff, self.cutoffs = pd.factorize(frame[CUTOFF], sort=True)
        self.mase = frame["mase"].to_numpy(dtype="float64")
        skip = {ID, HIERARCHY_LEVEL, "model_version", CUTOFF}
        self.values = {
            c: frame[c].to_numpy(dtype="float64")
            for c in frame.columns
            if c not in skip and pd.api.types.is_numeric_dtype(frame[c])
        }

    def _rows_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each member (by position), the positions of its series' window rows."""
        start = np.searchsorted(self.sorted_ids, ids, side="left")
        count = np.searchsorted(self.sorted_ids, ids, side="right") - start
        member = np.repeat(np.arange(len(ids)), count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        return member, self.order[np.repeat(start, count) + offset]

    def matched(self, column: str) -> bool:
        """Whether the windows carry `column` (level, model_version): members match on it."""
        return column in self.frame.columns

    def windows(self, groups: np.ndarray, ids: np.ndarray, match: Columns, n: int) -> Columns:
        """n_windows, expected_mase, mase_threshold, many (>= MIN_WINDOWS) per group code.

        `groups` and `ids` describe the member series (those with scored points); `match`
        their values of the grouping columns the windows carry (`matched`), matched too.
        """
        member, rows = self._rows_of(ids.astype(str))
        for column, values in match.items():
            stored = self.frame[column].astype("str").to_numpy(dtype=object)
            same = stored[rows] == values[member].astype(str)
            member, rows = member[same], rows[same]
        width = max(len(self.cutoffs), 1)
        pair, first = np.unique(groups[member] * width + self.cutoff[rows], return_index=True)
        inverse = np.searchsorted(pair, groups[member] * width + self.cutoff[rows])
        means, _ = _group_means(inverse, self.mase[rows], len(pair))
        keep = np.isfinite(means)
        group = groups[member][first][keep]
        values = means[keep]
        mean, count = _group_means(group, values, n)
        top = _quantile(group, values, n, anticipation.QUANTILE)
        many = count >= anticipation.MIN_WINDOWS
        return {
            "n_windows": count,
            "expected_mase": mean,
            "mase_threshold": np.where(many, top, anticipation.MEAN_FACTOR * mean),
            "many": many,
        }

    def summary(self, ids: set[str], by: tuple[str, ...]) -> pd.DataFrame:
        """`anticipation.expected_summary(expected[expected.unique_id in ids], by)`."""
        missing = [c for c in by if c not in self.frame.columns]
        if missing:
            raise ValueError(f"cannot group expected accuracy by {missing}: `expected` lacks them")
        wanted = [self.code_of[uid] for uid in ids if uid in self.code_of]
        keep = np.flatnonzero(np.isin(self.id_codes, wanted))
        if by:
            keys = (self.ids if by[0] == ID else self.levels)[keep]  # type: ignore[index]
            codes, uniques = pd.factorize(keys, sort=True)
            n = len(uniques)
        else:
            codes, uniques, n = np.zeros(len(keep), dtype="int64"), None, 1 if len(keep) else 0
        series = self.id_codes[keep]
        out: dict[str, np.ndarray] = {} if uniques is None else {by[0]: np.asarray(uniques)}
        for name, inner in (("n_series", series), ("n_windows", self.cutoff[keep])):
            pairs = np.unique(codes * (inner.max(initial=0) + 1) + inner)
            out[name] = np.bincount(pairs // (inner.max(initial=0) + 1), minlength=n)
        for metric, values in self.values.items():
            out[metric] = _group_means(codes, values[keep], n)[0]
        frame = pd.DataFrame(out)
        return frame.astype({"n_series": "int64", "n_windows": "int64"})
