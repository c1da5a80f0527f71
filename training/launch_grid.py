"""The pieces new-product forecasts are made of: a dense panel grid with group codes, group
profiles, the launch ramp and the scaled forecast (see training.new_products)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.schema import ID, TARGET, TIME

#: Buckets of observed periods (first, last, label); n beyond the last uses the last bucket.
BUCKETS = ((0, 0, "0"), (1, 6, "1-6"), (7, 13, "7-13"), (14, 27, "14-27"))
#: Share of the profile window a series must be observed on to count as a mature peer.
MIN_OBSERVED_SHARE = 0.75
#: A series whose first sale is this many periods after the panel's start was launched.
LAUNCH_MARGIN = 28
#: Launches needed before a ramp is learned (fewer: no ramp).
MIN_LAUNCHES = 5
LEVEL_FLOOR = 1e-6


def bucket_of(n_observed: int) -> str:
    """The label of the bucket of observed periods that calibrates a series' intervals."""
    for first, last, label in BUCKETS:
        if first <= n_observed <= last:
            return label
    return BUCKETS[-1][2]


@dataclass(frozen=True)
class Grid:
    """A bottom-level panel as a dense series × periods matrix (NaN where there is no row),
    with each series' group code at every grouping level."""

    ids: np.ndarray
    dates: pd.DatetimeIndex
    values: np.ndarray
    positions: np.ndarray  # season position of each period: the weekday for daily data
    season: int
    codes: list[np.ndarray]  # per grouping level: (n_series,) group codes
    keys: list[list[tuple[str, ...]]]  # per grouping level: code -> attribute values
    first: np.ndarray  # index of each series' first observed period
    last: np.ndarray

    @classmethod
    def of(
        cls, panel: pd.DataFrame, attributes: pd.DataFrame | None, groupings: list[tuple[str, ...]]
    ) -> Grid:
        """The grid of `panel` (unique_id, ds, y) at its daily or coarser frequency."""
        series, ids = pd.factorize(panel[ID].astype("str"), sort=True)
        ids = np.asarray(ids, dtype=object)
        days = pd.DatetimeIndex(panel[TIME])
        freq = _frequency(pd.DatetimeIndex(np.unique(days)))
        dates = pd.date_range(days.min(), days.max(), freq=freq)
        column = dates.get_indexer(days)
        on_grid = column >= 0
        values = np.full((len(ids), len(dates)), np.nan)
        values[series[on_grid], column[on_grid]] = panel[TARGET].to_numpy(float)[on_grid]
        daily = dates.freqstr == "D"
        positions = dates.day_of_week.to_numpy() if daily else np.zeros(len(dates), dtype=int)
        table = pd.DataFrame({ID: ids})
        if attributes is not None:
            table = table.merge(attributes.astype("str"), on=ID, how="left")
        codes, keys = [], []
        for columns in groupings:
            frame = table.reindex(columns=list(columns)).fillna("unassigned").astype("str")
            labels = [tuple(row) for row in frame.to_numpy()] if columns else [()] * len(ids)
            distinct = sorted(set(labels))
            lookup = {key: i for i, key in enumerate(distinct)}
            codes.append(np.array([lookup[key] for key in labels], dtype=int))
            keys.append(distinct)
        seen = np.isfinite(values)
        first = np.where(seen.any(axis=1), seen.argmax(axis=1), len(dates))
        last = len(dates) - 1 - seen[:, ::-1].argmax(axis=1)
        return cls(ids, dates, values, positions, 7 if daily else 1, codes, keys, first, last)

    def series_profiles(
        self, end: int, window: int, ramp_length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each series' mean per season position over the `window` periods up to `end`, and
        whether it is a mature peer then (observed enough, its launch ramp long over)."""
        start = max(0, end - window + 1)
        block = self.values[:, start : end + 1]
        where = self.positions[start : end + 1]
        seen = np.isfinite(block)
        filled = np.where(seen, block, 0.0)
        sums = np.stack([filled[:, where == p].sum(axis=1) for p in range(self.season)], 1)
        counts = np.stack([seen[:, where == p].sum(axis=1) for p in range(self.season)], 1)
        profiles = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        old_enough = self.first <= max(start - ramp_length, 0)
        mature = (seen.mean(axis=1) >= MIN_OBSERVED_SHARE) & old_enough & (counts > 0).all(axis=1)
        return profiles, mature

    def peers_of(self, series: int, mature: np.ndarray, min_peers: int) -> np.ndarray:
        """The mature peers of `series` (never itself) at the finest grouping level with
        `min_peers` of them, else at coarser ones; empty when no series is mature."""
        peers = mature.copy()
        peers[series] = False
        for codes in self.codes:
            group = peers & (codes == codes[series])
            if group.sum() >= min_peers:
                return group
        return peers

    def launch_ratios(self, ramp_length: int, reference: int, bin_width: int) -> pd.DataFrame:
        """Per launched series: its sales in each bin of its first `ramp_length` periods over
        its sales in the `reference` periods after them, divided by the same ratio of all
        mature series over the same dates (so the calendar's seasons cancel out)."""
        n_bins = ramp_length // bin_width
        launched = (self.first >= LAUNCH_MARGIN) & (
            self.first + ramp_length + reference <= self.last + 1
        )
        everyone = np.nanmean(np.where(self.first[:, None] == 0, self.values, np.nan), axis=0)
        rows = []
        for s in np.flatnonzero(launched):
            f = self.first[s]
            ref = slice(f + ramp_length, f + ramp_length + reference)
            own_ref, all_ref = np.nanmean(self.values[s, ref]), np.nanmean(everyone[ref])
            if not (own_ref > 0 and all_ref > 0):
                continue
            for b in range(n_bins):
                part = slice(f + b * bin_width, f + (b + 1) * bin_width)
                own, peer = np.nanmean(self.values[s, part]), np.nanmean(everyone[part])
                if peer > 0:
                    rows.append((s, f, b, (own / own_ref) / (peer / all_ref)))
        return pd.DataFrame(rows, columns=["series", "first", "bin", "ratio"])


def _frequency(dates: pd.DatetimeIndex) -> str:
    """The pandas alias of a regular panel's dates (D, W-MON, MS, QS-JAN or YS-JAN)."""
    if len(dates) < 2:
        return "D"
    days = int((dates[1:] - dates[:-1]).min() / pd.Timedelta(days=1))
    if days == 1:
        return "D"
    if days == 7:
        return "W-" + ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[dates[0].day_of_week]
    return "MS" if days <= 31 else "QS-JAN" if days <= 92 else "YS-JAN"


def learned_ramp(ratios: pd.DataFrame, n_bins: int, exclude_first: int | None = None) -> np.ndarray:
    """The median launch ratio per bin (ones when fewer than MIN_LAUNCHES launches), leaving out
    the series launched at `exclude_first` (one item launched in every store is one cohort)."""
    if exclude_first is not None:
        ratios = ratios[ratios["first"] != exclude_first]
    if ratios["series"].nunique() < MIN_LAUNCHES:
        return np.ones(n_bins)
    median = ratios.groupby("bin")["ratio"].median().reindex(range(n_bins), fill_value=1.0)
    return median.to_numpy().clip(0.05, 2.0)


def launch_forecast(
    base_observed: np.ndarray,
    observed: np.ndarray,
    base_future: np.ndarray,
    shrink_periods: float,
) -> tuple[np.ndarray, float]:
    """Profile × ramp of the future periods times the scale the observed sales set.

    scale = 1 + n / (n + k) · (sum observed / sum expected - 1) over the n observed periods
    (1 with none, or when the profile expects nothing on the days seen).
    """
    seen = np.isfinite(observed)
    n = int(seen.sum())
    expected = float(base_observed[seen].sum())
    raw = float(observed[seen].sum()) / expected if expected > 0 else 1.0
    scale = 1.0 + n / (n + shrink_periods) * (raw - 1.0) if n else 1.0
    return base_future * scale, scale


def launch_forecasts(
    base_observed: np.ndarray,
    observed: np.ndarray,
    base_future: np.ndarray,
    shrink_periods: float,
) -> np.ndarray:
    """`launch_forecast` of many series at once: (m, n) observed periods, (m, h) future ones."""
    seen = np.isfinite(observed)
    n = seen.sum(axis=1)
    expected = np.where(seen, base_observed, 0.0).sum(axis=1)
    sold = np.where(seen, observed, 0.0).sum(axis=1)
    raw = np.divide(sold, expected, out=np.ones_like(sold), where=expected > 0)
    scale = 1.0 + n / (n + shrink_periods) * (raw - 1.0)
    return base_future * scale[:, None]


def ramp_at(ramp: np.ndarray, ages: np.ndarray, bin_width: int) -> np.ndarray:
    """The ramp factor at each age (periods since the first sale); 1 once the ramp is over."""
    bins = np.asarray(ages) // bin_width
    inside = (bins >= 0) & (bins < len(ramp))
    return np.where(inside, ramp[np.clip(bins, 0, len(ramp) - 1)], 1.0)
