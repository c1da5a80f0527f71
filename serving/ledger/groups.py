"""Realized accuracy of groups of series from their sums, on arrays: a report's groupings are
a factorize and a few bincounts each (pandas' cost per call would dominate at this size)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.schema import HIERARCHY_LEVEL, ID
from serving import anticipation
from serving.ledger.cells import Columns

__all__ = ["REALIZED", "STORED", "Groups", "frame_of", "ratio", "realized", "realized_by_step"]

VERSION = "model_version"
STEP = "step"
#: Frame column -> stored column.
STORED = {ID: ID, HIERARCHY_LEVEL: "hierarchy_level", VERSION: VERSION}
REALIZED = ["n_forecasts", "n_points", *anticipation.metric_names((80, 95)), "direction_hit_rate"]


def ratio(numerator: np.ndarray, denominator: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """numerator / denominator where `defined`, NaN elsewhere."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(defined, numerator / denominator, np.nan)


class Groups:
    """Group codes of some column sets over the same key columns (frame names, () for one)."""

    def __init__(self, by: Sequence[str], *parts: Columns) -> None:
        self.by = list(by)
        sizes = [len(next(iter(part.values()))) for part in parts]
        if not self.by:
            self.n, self.keys = 1, {}
            self.codes = [np.zeros(size, dtype="int64") for size in sizes]
            return
        codes, uniques = [], []
        for name in self.by:
            joined = np.concatenate([part[STORED[name]] for part in parts])
            code, unique = pd.factorize(joined, sort=True)
            codes.append(code)
            uniques.append(np.asarray(unique, dtype=object))
        shape = [max(len(u), 1) for u in uniques]
        flat, groups = pd.factorize(np.ravel_multi_index(codes, shape), sort=True)
        positions = np.unravel_index(groups, shape)
        self.n = len(groups)
        self.keys = {n: u[p] for n, u, p in zip(self.by, uniques, positions, strict=True)}
        self.codes = np.split(flat, np.cumsum(sizes)[:-1])

    def sums(self, part: int, columns: Columns, names: Sequence[str]) -> Columns:
        """Per group, the sums of `names` over the rows of column set `part`."""
        codes = self.codes[part]
        return {n: np.bincount(codes, weights=columns[n], minlength=self.n) for n in names}

    def largest(self, part: int, values: np.ndarray) -> np.ndarray:
        """Per group, the largest of `values` over the rows of column set `part` (0 if none)."""
        out = np.zeros(self.n)
        np.maximum.at(out, self.codes[part], values)
        return out


def frame_of(
    keys: Columns, values: Columns, keep: np.ndarray, columns: Sequence[str]
) -> pd.DataFrame:
    """The kept rows of `keys` (str objects) and `values`, in the order of `columns`."""
    data = {name: pd.Series(array[keep], dtype=object) for name, array in keys.items()}
    data.update({name: array[keep] for name, array in values.items()})
    return pd.DataFrame(data, columns=list(columns))


def _point_metrics(sums: Columns) -> Columns:
    """WAPE, bias and coverage from point sums, undefined where `summarize` finds them so."""
    nonzero = sums["n_nonzero_y"] > 0
    out = {
        "wape": ratio(sums["sum_abs_error"], sums["sum_abs_y"], nonzero & (sums["sum_abs_y"] > 0)),
        "bias": ratio(sums["sum_error"], sums["sum_y"], nonzero & (sums["sum_y"] > 0)),
    }
    for lv in (80, 95):
        out[f"coverage_{lv}"] = ratio(sums[f"in_{lv}"], sums[f"n_{lv}"], sums[f"n_{lv}"] > 0)
    return out


SUMMED = [
    "n_forecasts", "n_mase", "sum_mase", "n_direction", "direction_hits", "n_points",
    "n_nonzero_y", "sum_abs_error", "sum_abs_y", "sum_error", "sum_y",
    "in_80", "n_80", "in_95", "n_95",
]  # fmt: skip


def realized(series: Columns, by: Sequence[str]) -> pd.DataFrame:
    """The realized frame of grouping `by` from the per-series sums (sorted by `by`)."""
    groups = Groups(by, series)
    sums = groups.sums(0, series, SUMMED)
    values = {
        "n_forecasts": np.rint(sums["n_forecasts"]).astype("int64"),
        "n_points": np.rint(sums["n_points"]).astype("int64"),
        "mase": ratio(sums["sum_mase"], sums["n_mase"], sums["n_mase"] > 0),
        **_point_metrics(sums),
        "direction_hit_rate": ratio(
            sums["direction_hits"], sums["n_direction"], sums["n_direction"] > 0
        ),
    }
    return frame_of(groups.keys, values, sums["n_points"] > 0, [*by, *REALIZED])


def realized_by_step(steps: Columns) -> pd.DataFrame:
    """Per horizon step (`steps`: point sums per step): MASE the mean of |e| / scale."""
    n_points = np.rint(steps["n_points"]).astype("int64")
    values = {
        STEP: steps[STEP].astype("int64"),
        "n_forecasts": n_points,
        "n_points": n_points,
        "mase": ratio(steps["sum_scaled_error"], steps["n_scaled"], steps["n_scaled"] > 0),
        **_point_metrics(steps),
    }
    return frame_of({}, values, n_points > 0, [STEP, *REALIZED[:-1]])
