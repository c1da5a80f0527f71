"""The trend dataset: demand summed over the hierarchy, with trend signals taken only from the past.

For every series at every level (total, store, category, ..., item) and every period t:
`level_w` (mean of the last w periods up to t), `growth_w` (that mean against the w periods
before), `slope_w` (least-squares slope over the last w periods, relative to the level) and
`direction_w` (up / flat / down with a dead band). All are computed from y at t and before, so
they can feed trend forecasts and score the direction hit rate without leaking the future.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.demand import DemandDataset, regular_panel
from features.hierarchy import Hierarchy, aggregate_ids, aggregate_panel, default_hierarchy
from features.manifest import Manifest, content_hash
from features.schema import HIERARCHY_LEVEL, ID, TARGET, TIME

#: Short and long trend windows per frequency (a week and four weeks of days, and so on).
DEFAULT_WINDOWS: dict[str, tuple[int, ...]] = {
    "D": (7, 28),
    "W": (4, 13),
    "M": (3, 12),
    "Q": (2, 4),
    "Y": (1, 3),
}
DIRECTIONS = ("down", "flat", "up")
DEFAULT_BAND = 0.05


@dataclass(frozen=True)
class TrendDataset:
    """Aggregated demand with trend signals, the hierarchy membership table and the manifest."""

    frame: pd.DataFrame
    membership: pd.DataFrame
    manifest: Manifest


def direction_labels(
    current: np.ndarray | pd.Series,
    reference: np.ndarray | pd.Series,
    scale: np.ndarray | pd.Series,
    band: float = DEFAULT_BAND,
) -> pd.Categorical:
    """Label a change from `reference` to `current` as up, flat or down.

    Relative change beyond +/- `band` when the reference is positive; when the reference is 0
    the absolute change is compared with `scale` (the in-sample mean absolute change). Missing
    inputs give a missing label.
    """
    current = np.asarray(current, dtype="float64")
    reference = np.asarray(reference, dtype="float64")
    scale = np.asarray(scale, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = current / reference
    diff = current - reference
    positive = reference > 0
    up = np.where(positive, ratio > 1 + band, diff > np.nan_to_num(scale))
    down = np.where(positive, ratio < 1 - band, diff < -np.nan_to_num(scale))
    codes = np.where(up, 2, np.where(down, 0, 1))
    codes = np.where(np.isnan(current) | np.isnan(reference), -1, codes)
    return pd.Categorical.from_codes(codes, categories=list(DIRECTIONS))


def _rolling_sum(values: pd.Series, groups: np.ndarray, position: np.ndarray, w: int) -> np.ndarray:
    """Sum of the last w values up to each row within its series (NaN before w rows exist)."""
    cumulative = values.groupby(groups).cumsum().to_numpy()
    before = pd.Series(cumulative).groupby(groups).shift(w).fillna(0.0).to_numpy()
    out = np.round(cumulative - before, 9)
    return np.where(position >= w - 1, out, np.nan)


def trend_signals(
    frame: pd.DataFrame, windows: Sequence[int], band: float = DEFAULT_BAND
) -> pd.DataFrame:
    """Add level, growth, slope and direction columns per window to a sorted long frame.

    Vectorised over all series with cumulative sums; row t only uses rows t-w+1..t (and the
    window before it for growth and direction).
    """
    out = frame.reset_index(drop=True)
    groups = pd.factorize(out[ID])[0]
    position = out.groupby(groups).cumcount().to_numpy()
    y = out[TARGET].astype("float64")
    time_index = pd.Series(position, dtype="float64")
    abs_change = y.groupby(groups).diff().abs()
    seen = abs_change.notna().astype("float64").groupby(groups).cumsum().to_numpy()
    summed = abs_change.fillna(0.0).groupby(groups).cumsum().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(seen > 0, summed / seen, np.nan)  # in-sample mean absolute change
    columns: dict[str, object] = {}
    for w in windows:
        total = _rolling_sum(y, groups, position, w)
        level = total / w
        previous = pd.Series(level).groupby(groups).shift(w).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = np.where(previous > 0, level / previous - 1.0, np.nan)
        columns[f"level_{w}"] = level
        columns[f"growth_{w}"] = growth
        if w >= 3:
            weighted = _rolling_sum(y * time_index, groups, position, w)
            sum_xy = weighted - (position - w + 1) * total
            sum_x = w * (w - 1) / 2
            sum_x2 = (w - 1) * w * (2 * w - 1) / 6
            slope = (w * sum_xy - sum_x * total) / (w * sum_x2 - sum_x**2)
            with np.errstate(divide="ignore", invalid="ignore"):
                columns[f"slope_{w}"] = np.where(level > 0, slope / level, np.nan)
        columns[f"direction_{w}"] = direction_labels(level, previous, scale, band)
    return pd.concat([out, pd.DataFrame(columns)], axis=1)


def build_trend_dataset(
    demand: DemandDataset,
    *,
    hierarchy: Hierarchy | None = None,
    windows: Sequence[int] | None = None,
    band: float = DEFAULT_BAND,
) -> TrendDataset:
    """Sum the demand panel over every hierarchy level and add past-only trend signals."""
    static = demand.static
    hierarchy = hierarchy or default_hierarchy(static)
    windows = tuple(windows or DEFAULT_WINDOWS[demand.freq])
    if any(w < 1 for w in windows):
        raise ValueError(f"trend windows must be >= 1 period, got {list(windows)}")
    aggregated = aggregate_panel(demand.panel, static, hierarchy)
    parts = []
    for name, part in aggregated.groupby(HIERARCHY_LEVEL, sort=False):
        regular = regular_panel(
            part[[ID, TIME, TARGET]],
            demand.manifest.freq_alias,
            end=demand.panel[TIME].max(),
            trim_leading_zeros=False,
        )
        parts.append(regular.assign(**{HIERARCHY_LEVEL: name}))
    frame = pd.concat(parts, ignore_index=True)[[ID, HIERARCHY_LEVEL, TIME, TARGET]]
    frame = trend_signals(frame, windows, band)
    membership = aggregate_ids(static, hierarchy)
    counts = frame.groupby(HIERARCHY_LEVEL, sort=False)[ID].nunique()
    manifest = Manifest(
        kind="trend",
        freq=demand.freq,
        freq_alias=demand.manifest.freq_alias,
        n_series=int(frame[ID].nunique()),
        n_rows=len(frame),
        start=frame[TIME].min().date().isoformat(),
        end=frame[TIME].max().date().isoformat(),
        content_hash=content_hash(frame, membership),
        columns=list(frame.columns),
        hierarchy_levels={str(k): int(v) for k, v in counts.items()},
        sources=[{"demand_content_hash": demand.manifest.content_hash}],
        parameters={"windows": list(windows), "band": band, "hierarchy": hierarchy.names},
        units_sold=float(frame.loc[frame[HIERARCHY_LEVEL] == "total", TARGET].sum()),
    )
    return TrendDataset(frame=frame, membership=membership, manifest=manifest)
