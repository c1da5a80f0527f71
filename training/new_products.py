"""Forecasts for series with little or no history, from what their attributes share with others.

A new product (an id with attributes such as category and store, and few or no sales) has no
history to fit a model on. `LaunchProfiles` learns at training time what a series of each
category × store group typically sells per weekday over the recent weeks (the median over the
group's mature series, so slow movers and best sellers do not drag it) and, when the data holds
launches, how sales ramp up in a series' first weeks. A new series with n observed periods is
forecast as profile × ramp × scale, where scale = 1 + n / (n + k) · (observed / expected - 1):
its own sales take over from the group as they accumulate (k = `shrink_periods`).

Intervals are conformal, calibrated on simulated launches: mature series pretend to launch at
past dates and the series that really launched are replayed, each forecast from its first n
periods (n in the buckets 0, 1-6, 7-13, 14-27) with a profile fitted without it. Errors are
scaled by the forecast's level and pooled per bucket and horizon step, so bounds are wider for
less history. `training.launch_backtest` scores the same simulation against naive alternatives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.demand import DemandDataset
from features.schema import ID, TARGET, TIME
from training.base import hi, lo
from training.errors import TrainingError
from training.launch_backtest import calibrations, score_launches, simulate_launches
from training.launch_grid import (
    BUCKETS,
    LEVEL_FLOOR,
    Grid,
    bucket_of,
    launch_forecast,
    learned_ramp,
    ramp_at,
)

METHOD = "new_product"

log = logging.getLogger("anticipate.training")


class LaunchProfiles:
    """Group profiles, launch ramp and calibrated intervals for series with little history.

    Args:
        keys: attribute columns that define the groups, finest combination first; the
            fallbacks are each column alone, then all series (columns the table lacks are
            skipped).
        window: recent periods the profiles average over.
        min_peers: mature series a group needs, else the next coarser grouping is used.
        shrink_periods: k in the scale's weight n / (n + k); 1 was best of 0.5-28 on the demo
            data (launched and mature series, every bucket; M3 has no attributes).
        ramp_length: periods a launch ramp may last (0: no ramp).
        n_origins: past dates at which mature series pretend to launch (calibration).
        seed: the random choice of n within each bucket.
    """

    def __init__(
        self,
        keys: Sequence[str] = ("category", "store"),
        window: int = 56,
        min_peers: int = 3,
        shrink_periods: float = 1.0,
        ramp_length: int = 84,
        n_origins: int = 6,
        seed: int = 0,
    ) -> None:
        self.keys = keys
        self.window = window
        self.min_peers = min_peers
        self.shrink_periods = shrink_periods
        self.ramp_length = ramp_length
        self.n_origins = n_origins
        self.seed = seed

    def groupings(self, attributes: pd.DataFrame | None) -> list[tuple[str, ...]]:
        """The grouping levels, finest first, ending with () (all series)."""
        present = [k for k in self.keys if attributes is not None and k in attributes.columns]
        levels = [tuple(present)] + [(k,) for k in present] if present else []
        return list(dict.fromkeys([*levels, ()]))

    def fit(self, panel: pd.DataFrame, attributes: pd.DataFrame | None, h: int) -> LaunchProfiles:
        """Learn the profiles at the panel's end, the ramp, and intervals for `h` steps.

        Invariants: each simulated launch is forecast from a profile without that series (and a
        ramp without its launch cohort), from peers' sales before its launch date only.
        """
        self.groupings_ = self.groupings(attributes)
        self.attribute_names_ = [c for c in self.groupings_[0]]
        grid = Grid.of(panel, attributes, self.groupings_)
        self.season_ = grid.season
        self.bin_width_ = max(grid.season, 1)
        self.freq_ = grid.dates.freqstr
        self.origin_ = grid.dates[-1]
        self.h_ = int(h)
        end = len(grid.dates) - 1
        profiles, mature = grid.series_profiles(end, self.window, self.ramp_length)
        if not mature.any():
            raise TrainingError("no mature series to learn launch profiles from")
        self.profiles_: list[dict[tuple[str, ...], tuple[np.ndarray, int]]] = []
        for codes, keys in zip(grid.codes, grid.keys, strict=True):
            found = {}
            for code, key in enumerate(keys):
                group = mature & (codes == code)
                if group.sum() >= self.min_peers or (not key and group.any()):
                    found[key] = (np.median(profiles[group], axis=0), int(group.sum()))
            self.profiles_.append(found)
        n_bins = self.ramp_length // self.bin_width_
        self.ratios_ = grid.launch_ratios(self.ramp_length, 56, self.bin_width_) if n_bins else None
        self.ramp_ = learned_ramp(self.ratios_, n_bins) if self.ratios_ is not None else np.ones(0)
        simulation = simulate_launches(
            grid,
            h=self.h_,
            window=self.window,
            min_peers=self.min_peers,
            shrink_periods=self.shrink_periods,
            ramp_length=self.ramp_length,
            n_origins=self.n_origins,
            seed=self.seed,
            ratios=self.ratios_,
        )
        if simulation.empty:
            raise TrainingError("the history is too short to calibrate new-product intervals")
        self.calibration_ = calibrations(simulation, self.h_)
        self.expected_ = score_launches(simulation, grid, self.h_)
        self.n_launched_ = int(simulation.loc[simulation["kind"] == "launched", "series"].nunique())
        return self

    def profile_of(self, attributes: dict[str, str]) -> tuple[np.ndarray, str]:
        """The profile of a new series with these attribute values and the group it comes from
        (e.g. "category=bread/store=shop-1"; "all" for the profile of all series)."""
        for columns, found in zip(self.groupings_, self.profiles_, strict=True):
            key = tuple(str(attributes.get(c, "")) for c in columns)
            if key in found:
                name = "/".join(f"{c}={v}" for c, v in zip(columns, key, strict=True))
                return found[key][0], name or "all"
        raise TrainingError("no profile of all series was learned")

    def predict(
        self,
        new: pd.DataFrame,
        actuals: pd.DataFrame,
        h: int,
        interval_levels: Sequence[int] = (),
    ) -> pd.DataFrame:
        """Forecast new series from their attributes and the actuals seen so far.

        Args:
            new: one row per new series: unique_id and the attribute columns.
            actuals: their observed sales (unique_id, ds, y); a series without rows starts
                selling on the period after the profiles' origin.

        Returns: forecast frame (unique_id, ds, model, yhat, yhat_lo_*, yhat_hi_*) with
            n_observed, origin and profile_group on every row.
        """
        step = pd.tseries.frequencies.to_offset(self.freq_)
        frames = []
        for row in new.to_dict("records"):
            uid = str(row[ID])
            own = actuals[actuals[ID].astype("str") == uid].sort_values(TIME)
            days = pd.DatetimeIndex(own[TIME])
            origin = days.max() if len(days) else self.origin_
            first = days.min() if len(days) else origin + step
            future = pd.date_range(origin + step, periods=int(h), freq=self.freq_)
            profile, group = self.profile_of(row)
            yhat, _ = launch_forecast(
                self._base(profile, days, first),
                own[TARGET].to_numpy(float),
                self._base(profile, future, first),
                self.shrink_periods,
            )
            frame = pd.DataFrame({ID: uid, TIME: future, "model": METHOD, "yhat": yhat})
            level = max(float(yhat.mean()), LEVEL_FLOOR)
            calibration = self.calibration_[bucket_of(len(days))]
            for lv in interval_levels:
                low, high = calibration.quantiles(int(lv), int(h))
                frame[lo(lv)] = np.maximum(yhat + level * low, 0.0)
                frame[hi(lv)] = yhat + level * high
            frames.append(frame.assign(n_observed=len(days), origin=origin, profile_group=group))
        if not frames:
            return pd.DataFrame(columns=[ID, TIME, "model", "yhat"])
        return pd.concat(frames, ignore_index=True)

    def _base(self, profile: np.ndarray, days: pd.DatetimeIndex, first: pd.Timestamp) -> np.ndarray:
        positions = days.day_of_week.to_numpy() if self.season_ == 7 else np.zeros(len(days), int)
        ages = _periods_between(first, days, self.freq_)
        return profile[positions] * ramp_at(self.ramp_, ages, self.bin_width_)


def _periods_between(first: pd.Timestamp, days: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Periods from `first` to each of `days` at `freq`."""
    if not len(days):
        return np.zeros(0, dtype=int)
    grid = pd.date_range(min(first, days.min()), days.max(), freq=freq)
    return grid.get_indexer(days) - grid.get_indexer([first])[0]


def fit_launch_profiles(demand: DemandDataset, h: int) -> LaunchProfiles | None:
    """Launch profiles of a demand dataset's series and attributes, or None (logged) when its
    history is too short to learn and calibrate them: new products then get no forecast."""
    try:
        return LaunchProfiles().fit(demand.panel[[ID, TIME, TARGET]], demand.static, h)
    except TrainingError as err:
        log.warning("no new-product forecasts: %s", err)
        return None


def launch_backtest(
    panel: pd.DataFrame, attributes: pd.DataFrame | None, h: int = 14, **params: object
) -> pd.DataFrame:
    """Score new-product forecasts on replayed launches of `panel`'s bottom series.

    The series that really launched (first sale at least LAUNCH_MARGIN periods after the
    panel's start) are held out one launch cohort at a time, and mature series pretend to
    launch; `params` go to LaunchProfiles. Returns the tidy frame of
    `training.launch_backtest.score_launches` (population, method, bucket, n_series, n_points,
    mase, wape, bias, coverage_80, coverage_95), intervals calibrated out of fold.
    """
    return LaunchProfiles(**params).fit(panel, attributes, h).expected_  # type: ignore[arg-type]


__all__ = ["BUCKETS", "METHOD", "LaunchProfiles", "bucket_of", "launch_backtest"]
