"""The model the server forecasts with: loaded from the registry, kept current, swapped atomically.

A `LiveModel` is an immutable snapshot (fitted model, history, precomputed forecasts, expected
accuracy). Requests take the current snapshot once and use it to the end, so a swap (a new
champion, or series moved forward by new actuals) never drops or mixes a request. A model that
fails to load leaves the previous snapshot in place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from features.schema import BOTTOM_LEVEL, HIERARCHY_LEVEL, ID, TARGET, TIME
from training.auto import AutoForecaster
from training.base import hi, lo
from training.pyfunc import ForecastBundle
from training.refresh import refreshed

log = logging.getLogger("anticipate.serving")


@dataclass(frozen=True)
class ForecastTable:
    """Forecasts of every series in one long frame, each series' rows together in time order.

    `rows` maps each series id to the (start, stop) positions of its rows, so the rows of a
    request are one index into each column (a frame per series would cost pandas operations per
    series and request).
    """

    frame: pd.DataFrame
    rows: dict[str, tuple[int, int]]

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """The frame's columns as arrays."""
        return {column: self.frame[column].to_numpy() for column in self.frame.columns}

    @classmethod
    def of(cls, frame: pd.DataFrame) -> ForecastTable:
        """The table of a long forecast frame (unique_id, ds, ...), any row order."""
        frame = frame.assign(**{ID: frame[ID].astype("str")})
        frame = frame.sort_values([ID, TIME], kind="stable", ignore_index=True)
        ids = frame[ID].to_numpy()
        if not len(ids):
            return cls(frame, {})
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        stops = np.r_[starts[1:], len(ids)]
        rows = {str(ids[a]): (int(a), int(b)) for a, b in zip(starts, stops, strict=True)}
        return cls(frame, rows)

    def take(
        self, unique_ids: list[str], horizon: int, columns: list[str]
    ) -> dict[str, np.ndarray]:
        """The first `horizon` rows of each series, in the order of `unique_ids`, as arrays.

        Arrays rather than a frame: building a DataFrame cost more than the rest of a request.
        """
        if len(unique_ids) == 1:
            a, b = self.rows[unique_ids[0]]
            index: np.ndarray | slice = slice(a, min(a + horizon, b))
        else:
            spans = [self.rows[uid] for uid in unique_ids]
            index = np.concatenate(
                [np.arange(a, min(a + horizon, b)) for a, b in spans] or [np.arange(0)]
            )
        return {column: self.arrays[column][index] for column in columns}


@dataclass(frozen=True)
class HistoryChanges:
    """What new actuals change in a snapshot's history: rows it gains, rows with new values."""

    extra: pd.DataFrame
    corrected: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.extra.empty and self.corrected.empty

    @property
    def series(self) -> np.ndarray:
        """The series to refit: those extended and those corrected."""
        return pd.unique(np.concatenate([self.extra[ID].to_numpy(), self.corrected[ID].to_numpy()]))


def with_corrections(history: pd.DataFrame, corrected: pd.DataFrame) -> pd.DataFrame:
    """`history` with the values of `corrected` (unique_id, ds, y) on the rows they name.

    Only the rows from the earliest corrected period on are searched, so a correction of the
    last days costs a scan of one column, not a merge of the whole history.
    """
    if corrected.empty:
        return history
    days = history[TIME].to_numpy()
    positions = np.flatnonzero(days >= corrected[TIME].min().to_datetime64())
    part = history.iloc[positions][[ID, TIME]].assign(_position=positions)
    hits = part.merge(corrected[[ID, TIME, TARGET]], on=[ID, TIME])
    out = history.copy()
    column = out.columns.get_loc(TARGET)
    out.iloc[hits["_position"].to_numpy(), column] = hits[TARGET].to_numpy()
    return out


@dataclass(frozen=True)
class LiveModel:
    """One servable state of one registered version: model, history and precomputed forecasts."""

    name: str
    version: str
    run_id: str | None
    bundle: ForecastBundle
    model: AutoForecaster
    history: pd.DataFrame
    loaded_at: float = field(default_factory=time.time)

    @cached_property
    def hierarchy_levels(self) -> pd.Series:
        """Hierarchy level of every series the model knows, indexed by id."""
        return self.bundle.hierarchy_levels.set_index(ID)[HIERARCHY_LEVEL].astype("str")

    @cached_property
    def last_ds(self) -> pd.Series:
        """Last observed period of every series (the origin of its next forecast)."""
        return self.history.groupby(ID, sort=False)[TIME].max()

    @cached_property
    def level_of(self) -> dict[str, str]:
        """`hierarchy_levels` as a dict (a lookup per series and request without pandas)."""
        levels = self.hierarchy_levels
        return dict(zip(levels.index.astype("str"), levels, strict=True))

    @cached_property
    def origin_of(self) -> dict[str, pd.Timestamp]:
        """`last_ds` as a dict."""
        return dict(zip(self.last_ds.index.astype("str"), self.last_ds, strict=True))

    @cached_property
    def parents(self) -> dict[str, frozenset[str]]:
        """The aggregates each bottom series belongs to (from the membership table)."""
        membership = self.bundle.membership
        if membership is None or membership.empty:
            return {}
        columns = [c for c in membership.columns if c != ID]
        rows = membership[[ID, *columns]].astype("str").to_numpy()
        return {str(row[0]): frozenset(row[1:]) - {str(row[0])} for row in rows}

    def parents_of(self, unique_ids: Iterable[str]) -> set[str]:
        """Every aggregate that contains one of `unique_ids`."""
        out: set[str] = set()
        for uid in unique_ids:
            out |= self.parents.get(uid, frozenset())
        return out

    @cached_property
    def precomputed(self) -> ForecastTable:
        """Forecasts at the bundle's horizon and default interval levels."""
        return self.forecast_all(self.bundle.horizon, self.bundle.interval_levels)

    def forecast_all(self, horizon: int, interval_levels: Iterable[int]) -> ForecastTable:
        """Every series' forecast (ds, yhat, bounds) at `horizon` and `interval_levels`."""
        interval_levels = tuple(interval_levels)
        frame = self.model.predict(int(horizon), interval_levels=interval_levels)
        columns = [ID, TIME, "yhat", *(c for lv in interval_levels for c in (lo(lv), hi(lv)))]
        return ForecastTable.of(frame[columns])

    def forecast(
        self, unique_ids: list[str], horizon: int, interval_levels: list[int]
    ) -> dict[str, np.ndarray]:
        """The requested series' forecasts as columns (unique_id, ds, yhat, bounds), in order.

        Uses the precomputed forecasts when it can.
        """
        wanted = tuple(interval_levels)
        if horizon <= self.bundle.horizon and set(wanted) <= set(self.bundle.interval_levels):
            table = self.precomputed
        else:
            table = self._cached(horizon, wanted)
        columns = [ID, TIME, "yhat", *(c for lv in wanted for c in (lo(lv), hi(lv)))]
        return table.take(unique_ids, horizon, columns)

    def _cached(self, horizon: int, interval_levels: tuple[int, ...]) -> ForecastTable:
        key = (horizon, interval_levels)
        cache = self.__dict__.setdefault("_other_levels", {})
        if key not in cache:
            if len(cache) > 8:
                cache.clear()
            cache[key] = self.forecast_all(horizon, interval_levels)
        return cache[key]

    @cached_property
    def trained_last_ds(self) -> pd.Series:
        """Each series' last period in the registered version's training history.

        Actuals after it reach the model (new or corrected); those of training days wait for
        the next retrain, after a restart as before one.
        """
        return self.bundle.history.groupby(ID, sort=False)[TIME].max()

    def moved_forward(self, actuals: pd.DataFrame) -> tuple[LiveModel, int]:
        """A new snapshot with `actuals` applied: series extended and corrections rewritten.

        `actuals` holds known actuals (unique_id, ds, y), bottom series and aggregates, for
        every day after some date. Aggregates are summed from their members for periods where
        every member is known. A series is refitted when its history gains periods that
        continue it without a gap, or when a period after its training history now has another
        value. Returns the snapshot and how many series were refitted.
        """
        return self.applied(self.changes(actuals))

    def changes(self, actuals: pd.DataFrame) -> HistoryChanges:
        """What `actuals` change in the history: rows it gains and rows whose value changed."""
        known = self._with_aggregates(actuals)
        return HistoryChanges(self._contiguous_new(known), self._corrected(known))

    def applied(self, changes: HistoryChanges) -> tuple[LiveModel, int]:
        """The snapshot with `changes` made and their series refitted (self when none)."""
        if changes.empty:
            return self, 0
        history = pd.concat(
            [with_corrections(self.history, changes.corrected), changes.extra], ignore_index=True
        )
        history = history.sort_values([ID, TIME], kind="stable").reset_index(drop=True)
        moved = changes.series
        panel = history[history[ID].isin(set(moved))]
        model = refreshed(self.model, panel, freq=self.model.freq_)
        return replace(self, model=model, history=history, loaded_at=time.time()), len(moved)

    def new_rows(self, actuals: pd.DataFrame) -> pd.DataFrame:
        """The rows `moved_forward(actuals)` adds to the history (unique_id, ds, y)."""
        return self._contiguous_new(self._with_aggregates(actuals))

    def _corrected(self, known: pd.DataFrame) -> pd.DataFrame:
        """Rows of `known` for periods the history holds after training, with another value."""
        if known.empty:
            return known.iloc[0:0][[ID, TIME, TARGET]]
        days = self.history[TIME].to_numpy()
        recent = self.history[days >= known[TIME].min().to_datetime64()]
        if recent.empty:
            return known.iloc[0:0][[ID, TIME, TARGET]]
        both = known[[ID, TIME, TARGET]].merge(
            recent[[ID, TIME, TARGET]], on=[ID, TIME], suffixes=("", "_held")
        )
        trained = self.trained_last_ds.reindex(both[ID]).to_numpy()
        after_training = both[TIME].to_numpy() > trained
        differs = ~np.isclose(both[TARGET], both[f"{TARGET}_held"], rtol=1e-12, atol=0.0)
        out = both.loc[after_training & differs, [ID, TIME, TARGET]]
        return out.reset_index(drop=True)

    def _with_aggregates(self, actuals: pd.DataFrame) -> pd.DataFrame:
        membership = self.bundle.membership
        known = actuals[actuals[ID].isin(set(self.hierarchy_levels.index))]
        if membership is None or known.empty:
            return known
        bottom = known.merge(membership, on=ID, how="inner")
        sizes = {c: membership.groupby(c).size() for c in membership.columns if c != ID}
        parts = [known]
        for level, size in sizes.items():
            if level == BOTTOM_LEVEL:
                continue
            sums = bottom.groupby([level, TIME]).agg(y=(TARGET, "sum"), n=(TARGET, "size"))
            sums = sums.reset_index()
            complete = sums[sums["n"].to_numpy() == size.reindex(sums[level]).to_numpy()]
            parts.append(complete.rename(columns={level: ID})[[ID, TIME, TARGET]])
        out = pd.concat(parts, ignore_index=True).drop_duplicates([ID, TIME], keep="first")
        return out[out[ID].isin(set(self.hierarchy_levels.index))]

    def _contiguous_new(self, actuals: pd.DataFrame) -> pd.DataFrame:
        """The actuals after each series' last period that continue it without a gap."""
        if actuals.empty:
            return actuals.iloc[0:0]
        last = self.last_ds
        after = actuals[actuals[TIME].to_numpy() > last.reindex(actuals[ID]).to_numpy()]
        if after.empty:
            return after
        after = after.sort_values([ID, TIME], kind="stable", ignore_index=True)
        step = pd.tseries.frequencies.to_offset(self.model.freq_)
        period = _fixed_period(step)
        if period is not None:  # steps from each series' last date; a gap ends its run
            steps = (after[TIME].to_numpy() - last.reindex(after[ID]).to_numpy()) / period
            rank = after.groupby(ID, sort=False).cumcount().to_numpy() + 1
            broken = pd.Series(steps != rank).groupby(after[ID].to_numpy(), sort=False).cumsum()
            return after.loc[broken.to_numpy() == 0, [ID, TIME, TARGET]].reset_index(drop=True)
        keep = []
        for uid, part in after.groupby(ID, sort=False):
            current, count = last[uid], 0
            for ds in part[TIME]:
                if ds != current + step:
                    break
                current, count = ds, count + 1
            keep.append(part.iloc[:count])
        out = pd.concat(keep, ignore_index=True) if keep else after.iloc[0:0]
        return out[[ID, TIME, TARGET]]


def _fixed_period(step: pd.DateOffset) -> np.timedelta64 | None:
    """The length of one period when every period is as long (days, hours, weeks), else None.

    Dates of a series are on its grid, so with a fixed period a date's step from the last one is
    (date - last) / period; months and years have no fixed length.
    """
    if isinstance(step, pd.offsets.Tick):
        return pd.Timedelta(step).to_timedelta64()
    if isinstance(step, pd.offsets.Week):
        return np.timedelta64(7 * step.n, "D")
    return None


def finite_or_none(value: object) -> float | None:
    """JSON-safe float: NaN and infinities become null."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
