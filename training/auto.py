"""The default forecaster: backtest candidate models, combine them, calibrate intervals, refit.

`AutoForecaster.fit` sends series that the ADI/CV² classification calls intermittent or lumpy to
an intermittent-demand model and the rest to the candidate models. For each group it runs one
rolling-origin backtest, learns how to combine the candidates (median, mean or per-series weights
from the backtest), calibrates conformal intervals on the combined backtest errors, and fits on
the whole history. The backtest frame it keeps (`backtest_`) is the expected accuracy that the
registry and the API report.

Numeric columns of the panel beyond unique_id, ds, y (price, promo, ...) are exogenous: members
that use them (the global models) learn from them, and `predict` without `future` forecasts
under `features.exog.default_plan` (last price carried forward, no promotion).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from features.exog import default_plan
from features.schema import ID, TARGET, TIME
from training.backtest import CUTOFF, Windows, cross_validation
from training.base import MODEL, BaseForecaster, SeriesBatch, frequency_code, future_dates
from training.errors import TrainingError
from training.intervals import ConformalCalibration, naive_scales
from training.models.intermittent import SPARSE_CLASSES, classify_demand
from training.opening import OpeningCalendar, StoreOpening, learn_calendar
from training.reconcile import Reconciliation, choose, hierarchy_of
from training.selection import combine, error_weights


def configured(model: BaseForecaster, **params: object) -> BaseForecaster:
    """A clone of `model` with those of `params` it accepts."""
    accepted = model.get_params(deep=False)
    return clone(model).set_params(**{k: v for k, v in params.items() if k in accepted})


@dataclass
class Route:
    """One group of series, the models that forecast it and what the backtest taught about them."""

    rows: np.ndarray
    members: list[BaseForecaster]
    combination: str
    weights: pd.DataFrame | None
    calibration: ConformalCalibration
    backtest: pd.DataFrame

    def mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        """Combined point forecasts of this route's series, (n_rows, h)."""
        means = np.stack([np.maximum(m._predict_mean(h, future), 0.0) for m in self.members])
        if self.combination == "median":
            return np.median(means, axis=0)
        if self.combination == "mean" or self.weights is None:
            return means.mean(axis=0)
        ids = self.members[0].unique_ids_
        weights = self.weights.reindex(ids).to_numpy()
        weights = np.where(np.isnan(weights), 1.0 / len(self.members), weights)
        return np.einsum("msh,sm->sh", means, weights)


class AutoForecaster(BaseForecaster):
    """Backtest-selected combination of models with conformal intervals.

    Args:
        models: candidate models (unfitted); their `season_length` and `n_jobs` are set from here.
        combination: "median", "mean", "inverse_error" or "best" (per series, from the backtest).
        h: backtest horizon, also the horizon intervals are calibrated for.
        n_windows, step: rolling origins of the backtest.
        intermittent: model for intermittent and lumpy series (None: every series is regular).
        signed: asymmetric intervals from signed errors (else symmetric).
        reconciliation: with a hierarchy given to `fit`, how forecasts are made coherent:
            "auto" (bottom-up or MinT-shrink, the better on the backtest), "bottom_up",
            "mint_shrink" or "none" (see training.reconcile).
        closed_days: on daily data, learn each store's closing days (and, with `country`, its
            public holidays) and forecast 0 on them (see training.opening).
        country: the country whose public holidays a store may close on.
        opening: per store (`shop-1`), a StoreOpening correcting what was learned.
    """

    default_alias = "default"

    def __init__(
        self,
        models: Sequence[BaseForecaster] = (),
        combination: str = "median",
        h: int = 14,
        n_windows: int = 2,
        step: int | None = None,
        season_length: int | None = None,
        intermittent: BaseForecaster | None = None,
        signed: bool = True,
        n_jobs: int = 1,
        alias: str | None = None,
        reconciliation: str = "auto",
        closed_days: bool = True,
        country: str | None = None,
        opening: Mapping[str, StoreOpening] | None = None,
    ) -> None:
        self.models = models
        self.combination = combination
        self.h = h
        self.n_windows = n_windows
        self.step = step
        self.season_length = season_length
        self.intermittent = intermittent
        self.signed = signed
        self.n_jobs = n_jobs
        self.alias = alias
        self.reconciliation = reconciliation
        self.closed_days = closed_days
        self.country = country
        self.opening = opening

    def __setstate__(self, state: dict[str, object]) -> None:
        """Unpickle; models saved before reconciliation (or the opening calendar) existed were
        not reconciled (and forecast every day)."""
        defaults = {"closed_days": False, "country": None, "opening": None, "opening_": None}
        state = {"reconciliation": "none", **defaults, **state}
        super().__setstate__(state)

    def fit(
        self,
        panel: pd.DataFrame,
        *,
        freq: str | None = None,
        hierarchy: pd.DataFrame | None = None,
    ) -> AutoForecaster:
        """Fit on `panel`; with `hierarchy` (the membership table: each bottom series' aggregate
        at every level) the forecasts of all its levels are reconciled to add up."""
        self.membership_ = hierarchy
        return super().fit(panel, freq=freq)

    def _prepare(self, models: Sequence[BaseForecaster]) -> list[BaseForecaster]:
        members = [
            configured(m, season_length=self.season_length_, n_jobs=self.n_jobs) for m in models
        ]
        names = [m.alias_name for m in members]
        if len(set(names)) != len(names):
            raise TrainingError(f"candidate models need distinct aliases, got {names}")
        return members

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        if not self.models:
            raise TrainingError("AutoForecaster needs at least one candidate model")
        sparse = np.zeros(len(batch.ids), dtype=bool)
        if self.intermittent is not None:
            classes = classify_demand(batch.values, ids=batch.ids)["demand_class"].to_numpy()
            sparse = np.isin(classes, SPARSE_CLASSES)
        self.sparse_ids_ = batch.ids[sparse]
        self.routes_: list[Route] = []
        groups = [(~sparse, self._prepare(self.models), self.combination)]
        if sparse.any():
            groups.append((sparse, self._prepare([self.intermittent]), "mean"))  # type: ignore[list-item]
        for mask, members, combination in groups:
            if mask.any():
                subset = panel[panel[ID].isin(set(batch.ids[mask]))]
                self.routes_.append(self._route(subset, np.flatnonzero(mask), members, combination))
        self.backtest_ = pd.concat([r.backtest for r in self.routes_], ignore_index=True)
        self.scale_ = naive_scales(panel).reindex(batch.ids).to_numpy()
        self.exog_ = exogenous_columns(panel)
        self.exog_last_ = last_exogenous(panel, self.exog_)
        self.reconciliation_ = self._reconciled(panel, batch)
        self.opening_ = self._opening(panel)
        if self.opening_ is not None:
            self._close_backtest(panel)

    def _opening(self, panel: pd.DataFrame) -> OpeningCalendar | None:
        """The learned opening calendar, when the data is daily and some store closes."""
        if not self.closed_days or frequency_code(self.freq_) != "D":
            return None
        membership = getattr(self, "membership_", None)
        calendar = learn_calendar(
            panel, membership, country=self.country, overrides=self.opening or {}
        )
        return calendar if calendar.closes_anything else None

    def _close_backtest(self, panel: pd.DataFrame) -> None:
        """The combined backtest forecasts 0 on closed days, as `predict` will, each window with
        the calendar learned from the history up to its origin only; the intervals are
        calibrated on the open days only."""
        is_combined = self.backtest_[MODEL].to_numpy() == self.alias_name
        combined = self.backtest_[is_combined]
        ids, dates = combined[ID].to_numpy(), combined[TIME].to_numpy()
        closed = np.zeros(len(combined), dtype=bool)
        for cutoff, rows in combined.groupby(CUTOFF, sort=True).indices.items():
            calendar = self._opening(panel[panel[TIME] <= cutoff])
            if calendar is not None:
                closed[rows] = calendar.closed_rows(ids[rows], dates[rows])
        combined = combined.assign(yhat=np.where(closed, 0.0, combined["yhat"].to_numpy()))
        if self.reconciliation_ is not None:
            combined = self._summed_up(combined)
        self.backtest_ = pd.concat([self.backtest_[~is_combined], combined], ignore_index=True)
        open_rows = combined[~closed]
        for route in self.routes_:
            ids = set(route.members[0].unique_ids_)
            mine = combined[combined[ID].isin(ids)]
            rest = route.backtest[route.backtest[MODEL] != self.alias_name]
            route.backtest = pd.concat([rest, mine], ignore_index=True)[route.backtest.columns]
            calibrating = open_rows[open_rows[ID].isin(ids)]
            if len(calibrating):
                route.calibration = _open_days_first(
                    ConformalCalibration.from_backtest(calibrating, panel, signed=self.signed),
                    route.calibration,
                )

    def _summed_up(self, combined: pd.DataFrame) -> pd.DataFrame:
        """The backtest frame with every aggregate's yhat the sum of its members' (coherent
        again once closed members were set to 0)."""
        hierarchy = self.reconciliation_.hierarchy
        keys = [CUTOFF, TIME]
        wide = combined.pivot_table(index=keys, columns=ID, values="yhat", sort=True)
        wide = wide.reindex(columns=self.unique_ids_)
        bottom = np.nan_to_num(wide.to_numpy().T[hierarchy.bottom])
        summed = np.asarray(hierarchy.summing @ bottom).T
        columns = pd.Index(self.unique_ids_, name=ID)
        long = pd.DataFrame(summed, index=wide.index, columns=columns).stack(future_stack=True)
        long = long.rename("yhat").reset_index()
        out = combined.drop(columns=["yhat"]).merge(long, on=[*keys, ID], how="left")
        return out[combined.columns]

    def closed_mask(self, h: int) -> np.ndarray | None:
        """(n_series, h): the forecast days each series is closed on (None: always open)."""
        calendar = getattr(self, "opening_", None)
        if calendar is None:
            return None
        dates = future_dates(self.last_ds_, h, self.freq_).reshape(len(self.unique_ids_), h)
        return calendar.closed(self.unique_ids_, dates)

    def _reconciled(self, panel: pd.DataFrame, batch: SeriesBatch) -> Reconciliation | None:
        """Choose and fit the reconciliation on the combined backtest, then make the backtest
        (the expected accuracy) and the interval calibration those of the coherent forecasts."""
        membership = getattr(self, "membership_", None)
        if self.reconciliation == "none" or membership is None:
            return None
        hierarchy = hierarchy_of(batch.ids, membership)
        if hierarchy is None:
            return None
        is_combined = self.backtest_[MODEL].to_numpy() == self.alias_name
        combined = self.backtest_[is_combined]
        scale = np.where(self.scale_ > 0, self.scale_, np.nan)
        reconciliation, coherent = choose(
            hierarchy, batch.ids, combined, scale, self.reconciliation
        )
        self.backtest_ = pd.concat([self.backtest_[~is_combined], coherent], ignore_index=True)[
            self.backtest_.columns
        ]
        for route in self.routes_:
            mine = coherent[coherent[ID].isin(set(batch.ids[route.rows]))]
            route.calibration = ConformalCalibration.from_backtest(mine, panel, signed=self.signed)
            rest = route.backtest[route.backtest[MODEL] != self.alias_name]
            route.backtest = pd.concat([rest, mine], ignore_index=True)[route.backtest.columns]
        return reconciliation

    def _route(
        self, panel: pd.DataFrame, rows: np.ndarray, members: list[BaseForecaster], how: str
    ) -> Route:
        """Backtest, combine, calibrate and refit one group of series."""
        names = [m.alias_name for m in members]
        windows = Windows(h=self.h, n_windows=self.n_windows, step=self.step)
        cv = cross_validation(members, panel, windows, freq=self.freq_)
        weights = error_weights(cv, names, how) if how in ("inverse_error", "best") else None
        combined = combine(cv, names, how, weights=weights, name=self.alias_name)
        calibration = ConformalCalibration.from_backtest(combined, panel, signed=self.signed)
        fitted = [m.fit(panel, freq=self.freq_) for m in members]
        backtest = pd.concat([cv, combined], ignore_index=True)
        return Route(rows, fitted, how, weights, calibration, backtest)

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        if future is None and getattr(self, "exog_", None):
            future = self.default_future(h)
        out = np.empty((len(self.unique_ids_), h))
        for route in self.routes_:
            out[route.rows] = route.mean(h, future)
        reconciliation = self.reconciliation_in_use()
        closed = self.closed_mask(h)
        if reconciliation is None:
            return out if closed is None else np.where(closed, 0.0, out)
        if closed is None:
            return reconciliation.apply(out)
        # the closed bottom series forecast 0 and the aggregates sum what stays open
        coherent = reconciliation.apply(out)
        bottom = reconciliation.hierarchy.bottom
        members = np.where(closed[bottom], 0.0, coherent[bottom])
        return np.asarray(reconciliation.hierarchy.summing @ members)

    def reconciliation_in_use(self) -> Reconciliation | None:
        """The reconciliation, when every series' forecast starts on the same date.

        Reconciling sums forecasts step by step. Once actuals moved some series forward and
        not yet the aggregates holding them (an aggregate moves when all its members' actuals
        are known), step 1 is another date for each: then the base forecasts are served,
        incoherent but each of its own dates, until the hierarchy shares one origin again.
        """
        reconciliation = getattr(self, "reconciliation_", None)
        if reconciliation is None:
            return None
        last = np.asarray(self.last_ds_)
        return reconciliation if (last == last[0]).all() else None

    def _predict_bounds(
        self, h: int, interval_levels: tuple[int, ...], mean: np.ndarray
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        bounds = {lv: (np.empty_like(mean), np.empty_like(mean)) for lv in interval_levels}
        for route in self.routes_:
            rows = route.rows
            part = route.calibration.bounds(mean[rows], self.scale_[rows], interval_levels)
            for lv, (low, high) in part.items():
                bounds[lv][0][rows] = low
                bounds[lv][1][rows] = high
        closed = self.closed_mask(mean.shape[1])
        bounds = _zero_where(closed, bounds)  # closed members first: the sums nest inside theirs
        reconciliation = self.reconciliation_in_use()
        if reconciliation is not None:
            bounds = {lv: reconciliation.nested_bounds(mean, *b) for lv, b in bounds.items()}
            bounds = _zero_where(closed, bounds)
        return bounds

    def default_future(self, h: int) -> pd.DataFrame:
        """The exogenous plan `predict` assumes when none is given: last values, no promotion."""
        dates = future_dates(self.last_ds_, h, self.freq_)
        rows = pd.DataFrame({ID: np.repeat(self.unique_ids_, h), TIME: dates})
        return default_plan(self.exog_last_, rows, self.exog_)

    @property
    def weights_(self) -> pd.DataFrame | None:
        """Per-series member weights of the regular series (None for median/mean)."""
        return self.routes_[0].weights if self.routes_ else None


def _open_days_first(
    open_days: ConformalCalibration, every_day: ConformalCalibration
) -> ConformalCalibration:
    """The open days' errors per step; a step no open day reached keeps every day's errors."""
    scores = tuple(
        mine if step < open_days.horizon and len(mine := open_days.scores[step]) else all_days
        for step, all_days in enumerate(every_day.scores)
    )
    return ConformalCalibration(scores=scores, signed=every_day.signed)


def _zero_where(
    closed: np.ndarray | None, bounds: dict[int, tuple[np.ndarray, np.ndarray]]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Bounds with both sides 0 on the closed cells (unchanged without a calendar)."""
    if closed is None:
        return bounds
    return {
        lv: (np.where(closed, 0.0, lo), np.where(closed, 0.0, hi))
        for lv, (lo, hi) in bounds.items()
    }


def exogenous_columns(panel: pd.DataFrame) -> list[str]:
    """The numeric columns of a panel beyond unique_id, ds and y (price, promo, ...)."""
    return [
        c
        for c in panel.columns
        if c not in (ID, TIME, TARGET) and pd.api.types.is_numeric_dtype(panel[c])
    ]


def last_exogenous(panel: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Each series' last date and last known value of each of `columns` (what a plan carries)."""
    grouped = panel.groupby(ID, sort=False)
    last = grouped[columns].last().assign(**{TIME: grouped[TIME].max()})
    return last.reset_index()[[ID, TIME, *columns]]
