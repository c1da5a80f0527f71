"""Global models: one regressor trained across all series on normalised windows of their history.

An example is a (series, origin t, step k) triple: features from y up to t divided by the
window's scale s (mean |y| of the last `n_lags` values), on a log1p scale (lags, the last values
at the target's seasonal phase, rolling statistics, the window's promotion share), plus what is
known in advance at t + k (calendar, holidays, price, promotion, from `features/`). The target
is log1p(y[t + k] / s) - log1p(y[t] / s), so one model learns shapes across series of any level.
Origins have >= n_lags // 2 values; at most `max_samples` examples are drawn (`random_state`),
half from each series' last `horizon` origins; targets lie inside the training data.

Strategies: "direct" learns the steps k = 1..horizon (GlobalRegressor: k is a feature of one
model; GlobalLinear: one Ridge per step); "recursive" learns k = 1 and feeds forecasts back.
Past `horizon`, direct forecasts go on block by block from their own forecasts.

A panel with `price` and/or `promo` makes them features, so `predict` needs `future` rows
(unique_id, ds, price, promo) over the horizon and raises a DataError naming the series and
dates that lack them. The model itself assumes nothing; AutoForecaster (the shipped default)
passes `features.exog.default_plan` (last price carried forward, no promotion) when no plan is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_limits

from features.builders import DEFAULT_WINDOWS, PRICE_WINDOWS
from features.calendar_features import calendar_features, holiday_features
from features.errors import DataError
from features.exog import PRICE, PROMO, check_future_coverage, price_promo_features
from features.schema import ID, TARGET, TIME
from training.base import BaseForecaster, SeriesBatch, frequency_code, future_dates
from training.errors import NotEnoughHistoryError, TrainingError
from training.parallel import effective_jobs

#: Default lags (window length) and trained horizon per frequency code.
N_LAGS: dict[str, int] = {"D": 28, "W": 52, "M": 36, "Q": 12, "Y": 12}
HORIZONS: dict[str, int] = {"D": 28, "W": 13, "M": 18, "Q": 8, "Y": 6}
#: Last values at the target's seasonal phase used as features (seasonal naive and before).
PHASES = 3
#: periods_since_promo is capped here, so a stored history tail gives the same feature.
PROMO_CAP = 60
STRATEGIES = ("direct", "recursive")
#: Share of the examples kept for origins in the last `horizon` periods of each series.
RECENT_SHARE = 0.5
_LINEAR_KNOWN = ("fourier_", "is_", "contains_", "holidays_", "working_", "price_", "promo")


@dataclass(frozen=True)
class WindowSpec:
    """How examples are cut: lags, season, trained horizon, windows and which extras to add."""

    n_lags: int
    season: int
    horizon: int
    windows: tuple[int, ...]
    linear: bool
    step_feature: bool
    exog: tuple[str, ...]

    @property
    def depth(self) -> int:
        """How many past values one example reads."""
        return max(self.n_lags, PHASES * self.season if self.season > 1 else 1)


@dataclass
class Rows:
    """A panel flattened for gathering: y (NaN when unknown), series starts, known features."""

    y: np.ndarray
    first: np.ndarray
    known: np.ndarray
    price: np.ndarray | None
    promo: np.ndarray | None


def known_features(
    frame: pd.DataFrame, code: str, *, use_calendar: bool, country: str | None
) -> pd.DataFrame:
    """Features known in advance at each row's own date: calendar, holidays, price and promo."""
    parts = [pd.DataFrame(index=frame.index)]
    if use_calendar:
        parts.append(calendar_features(frame[TIME], code).drop(columns="year", errors="ignore"))
    if country is not None:
        parts.append(holiday_features(frame[TIME], code, country=country))
    exog = price_promo_features(frame, windows=PRICE_WINDOWS[code])
    since = exog.filter(["periods_since_promo"]).fillna(PROMO_CAP).clip(upper=PROMO_CAP)
    parts += [exog.drop(columns=[PRICE, *since], errors="ignore"), since]
    return pd.concat(parts, axis=1).astype("float64")


def flatten(frame: pd.DataFrame, known: pd.DataFrame) -> Rows:
    """Row arrays of a panel sorted by (unique_id, ds), with each row's series start."""
    ids = frame[ID].to_numpy()
    first = np.maximum.accumulate(
        np.where(np.r_[True, ids[1:] != ids[:-1]], np.arange(len(ids)), 0)
    )
    y, price, promo = (
        frame[c].to_numpy("float64", na_value=np.nan) if c in frame else None
        for c in (TARGET, PRICE, PROMO)
    )
    return Rows(y.copy(), first, known.to_numpy("float64"), price, promo)


def _masked_mean(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Row means over the cells where `ok` (NaN for rows without any)."""
    n = ok.sum(axis=1)
    total = np.where(ok, x, 0.0).sum(axis=1)
    return np.divide(total, n, out=np.full(len(x), np.nan), where=n > 0)


def _stats(x: np.ndarray) -> list[np.ndarray]:
    """Mean, standard deviation, min and max of rows holding a value, ignoring NaN."""
    ok = ~np.isnan(x)
    mean = _masked_mean(x, ok)
    std = np.sqrt(_masked_mean((x - mean[:, None]) ** 2, ok))
    return [mean, std, np.where(ok, x, np.inf).min(axis=1), np.where(ok, x, -np.inf).max(axis=1)]


def window_features(
    rows: Rows, origin: np.ndarray, step: np.ndarray, spec: WindowSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Features for forecasting row origin + step from y up to row `origin`, and the scales."""
    idx = origin[:, None] - np.arange(spec.depth)[None, :]
    ok = idx >= rows.first[origin][:, None]
    idx = np.where(ok, idx, origin[:, None])
    tail = np.where(ok, rows.y[idx], np.nan)
    lag_ok = ok[:, : spec.n_lags]
    scale = _masked_mean(np.abs(tail[:, : spec.n_lags]), lag_ok)
    scale = np.where(scale > 0, scale, _masked_mean(np.abs(tail), ok))
    scale = np.where(scale > 0, scale, 1.0)
    tail = np.log1p(np.maximum(tail / scale[:, None], 0.0))
    if spec.linear:  # before a series' start, repeat its first value
        oldest = tail[np.arange(len(tail)), ok.sum(axis=1) - 1]
        tail = np.where(ok, tail, oldest[:, None])
    lags = tail[:, : spec.n_lags]
    cols = [lags]
    if spec.season > 1:
        phase = (-step) % spec.season
        at = phase[:, None] + spec.season * np.arange(PHASES)[None, :]
        cols.append(np.take_along_axis(tail, at, axis=1))
    extra: list[np.ndarray] = []
    if not spec.linear:
        for w in (w for w in spec.windows if w <= spec.n_lags):
            extra += _stats(lags[:, :w])
        extra.append(_masked_mean((lags == 0).astype("float64"), lag_ok))
    if spec.step_feature:
        extra.append(step.astype("float64"))
    target = origin + step
    if rows.promo is not None:
        extra.append(_masked_mean(np.nan_to_num(rows.promo[idx[:, : spec.n_lags]]), lag_ok))
    if rows.price is not None:
        past = rows.price[idx[:, : spec.n_lags]]
        recent = _masked_mean(past, lag_ok & (past > 0))
        ratio = np.divide(rows.price[target], recent, out=np.ones(len(origin)), where=recent > 0)
        extra.append(np.log(np.clip(ratio, 1e-3, None)) if spec.linear else ratio)
    features = np.hstack(
        [*cols, np.column_stack(extra) if extra else lags[:, :0], rows.known[target]]
    )
    return (np.nan_to_num(features) if spec.linear else features), scale


def training_pairs(
    lengths: np.ndarray,
    starts: np.ndarray,
    horizon: int,
    min_history: int,
    max_samples: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Origin rows and steps of the examples: every origin + step lies inside its own series.

    Origins have at least `min_history` values; above `max_samples` examples, a sample (`rng`).
    """
    n_origins = np.maximum(lengths - min_history, 0)
    series = np.repeat(np.arange(len(lengths)), n_origins)
    offset = np.repeat(np.cumsum(n_origins) - n_origins, n_origins)
    t = np.arange(len(series)) - offset + min_history - 1  # position of the origin in its series
    n_steps = np.minimum(horizon, lengths[series] - 1 - t)
    total = int(n_steps.sum())
    if total == 0:
        raise NotEnoughHistoryError(f"no series has more than {min_history} observations")
    pick = np.arange(total)
    if total > max_samples:  # a share for the most recent origins, the rest from older ones
        recent = np.repeat(t >= lengths[series] - 1 - horizon, n_steps)
        new, old = np.flatnonzero(recent), np.flatnonzero(~recent)
        n_new = min(len(new), int(RECENT_SHARE * max_samples))
        n_old = min(len(old), max_samples - n_new)
        pick = np.sort(np.r_[rng.choice(new, n_new, replace=False), rng.choice(old, n_old, False)])
    ends = np.cumsum(n_steps)
    which = np.searchsorted(ends, pick, side="right")
    step = pick - (ends - n_steps)[which] + 1
    return starts[series[which]] + t[which], step


class _GlobalWindowModel(BaseForecaster):
    """Plumbing shared by the global models: examples, fitting, direct or recursive forecasts."""

    _linear: ClassVar[bool] = False
    _per_step: ClassVar[bool] = False

    def _make_estimator(self) -> HistGradientBoostingRegressor | Ridge:
        raise NotImplementedError

    def _by(self, step: np.ndarray) -> list[tuple[int, np.ndarray | slice]]:
        """(estimator key, rows) pairs: one per step if each step has its own model, else one."""
        keys = np.unique(step) if self._per_step else [0]
        return [(int(k), step == k if self._per_step else slice(None)) for k in keys]

    def _threads(self) -> threadpool_limits:
        """n_jobs threads (OpenMP, BLAS) for fit and predict: None is 1 and -1 every core."""
        return threadpool_limits(effective_jobs(self.n_jobs))

    def _spec(self, code: str, exog: tuple[str, ...]) -> WindowSpec:
        if self.strategy not in STRATEGIES:
            raise TrainingError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        n_lags = N_LAGS[code] if self.n_lags is None else int(self.n_lags)
        horizon = HORIZONS[code] if self.horizon is None else int(self.horizon)
        if min(n_lags, horizon, self.max_samples) < 1:
            raise TrainingError("n_lags, horizon and max_samples must be >= 1")
        direct = self.strategy == "direct"
        steps = horizon if direct else 1
        windows, step_feature = DEFAULT_WINDOWS[code], direct and not self._per_step
        return WindowSpec(
            n_lags, self.season_length_, steps, windows, self._linear, step_feature, exog
        )

    def _known(self, frame: pd.DataFrame) -> pd.DataFrame:
        known = known_features(
            frame, self.code_, use_calendar=self.use_calendar, country=self.country
        )
        if self._linear:
            known = known[[c for c in known if c.startswith(_LINEAR_KNOWN)]]
        return known

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        self.code_ = frequency_code(self.freq_)
        self.spec_ = spec = self._spec(self.code_, tuple(c for c in (PRICE, PROMO) if c in panel))
        known = self._known(panel)
        self.known_columns_ = list(known.columns)
        rows = flatten(panel, known)
        rng = np.random.default_rng(self.random_state)
        history = max(1, spec.n_lags // 2)
        origin, step = training_pairs(
            batch.lengths, batch.starts, spec.horizon, history, self.max_samples, rng
        )
        features, scale = window_features(rows, origin, step, spec)
        features[:, np.isnan(features).all(axis=0)] = 0.0  # no history that long: a constant
        target = np.log1p(np.maximum(rows.y[origin + step] / scale, 0.0)) - features[:, 0]
        with self._threads():
            self.estimators_ = {
                k: self._make_estimator().fit(features[at], target[at]) for k, at in self._by(step)
            }
        seen = np.isin(np.arange(1, spec.horizon + 1), step)
        self.horizon_ = int(np.argmin(seen)) if not seen.all() else spec.horizon
        keep = spec.depth + max(PRICE_WINDOWS[self.code_]) + PROMO_CAP + 1  # rows predict reads
        tails = panel[[ID, TIME, TARGET, *spec.exog]].groupby(ID, sort=False).tail(keep)
        self.history_ = tails.reset_index(drop=True)

    def _extended(self, h: int, future: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
        """The stored history with h rows per series appended (y unknown), and each origin row."""
        dates = future_dates(self.last_ds_, h, self.freq_)
        ahead = pd.DataFrame({ID: np.repeat(self.unique_ids_, h), TIME: dates})
        ahead = ahead.astype({ID: self.history_[ID].dtype, TIME: self.history_[TIME].dtype})
        exog = list(self.spec_.exog)
        if exog:
            if future is None:
                raise DataError(
                    f"{type(self).__name__} was fitted with {exog}: pass future=<frame with "
                    f"{ID}, {TIME}, {', '.join(exog)}> for the {h} periods after each series"
                )
            first = pd.Series(pd.DatetimeIndex(dates[::h]), index=self.unique_ids_)
            check_future_coverage(future, self.unique_ids_, h, self.code_, exog, start=first)
            given = future[[ID, TIME, *exog]].astype({ID: ahead[ID].dtype, TIME: ahead[TIME].dtype})
            given = given.drop_duplicates([ID, TIME], keep="last")
            ahead = ahead.merge(given, on=[ID, TIME], how="left")
        frame = pd.concat([self.history_, ahead], ignore_index=True)
        series = pd.Index(self.unique_ids_).get_indexer(frame[ID])  # in the order of unique_ids_
        frame = frame.iloc[np.lexsort((frame[TIME].to_numpy(), series))].reset_index(drop=True)
        ends = np.cumsum(np.bincount(series, minlength=len(self.unique_ids_))) - 1
        return frame, ends - h

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        frame, origins = self._extended(h, future)
        rows = flatten(frame, self._known(frame).reindex(columns=self.known_columns_))
        out = np.empty((len(origins), h))
        done = 0
        while done < h:
            block = min(self.horizon_, h - done)
            origin = np.repeat(origins + done, block)
            step = np.tile(np.arange(1, block + 1), len(origins))
            features, scale = window_features(rows, origin, step, self.spec_)
            ratio = np.empty(len(step))
            with self._threads():
                for k, at in self._by(step):
                    ratio[at] = self.estimators_[k].predict(features[at])
            values = np.maximum(np.expm1(ratio + features[:, 0]) * scale, 0.0)
            rows.y[origin + step] = values
            out[:, done : done + block] = values.reshape(len(origins), block)
            done += block
        return out


class GlobalRegressor(_GlobalWindowModel):
    """Gradient boosting over normalised windows of all series; uses price and promo if given.

    `loss`: "squared_error" or "absolute_error" (better sMAPE and MASE on M3, a third slower).
    `n_jobs`: threads; None is 1, as OpenMP threads of boosting stall on a busy machine.
    """

    default_alias = "global_hgb"

    def __init__(
        self,
        season_length: int | None = None,
        n_lags: int | None = None,
        horizon: int | None = None,
        strategy: str = "direct",
        country: str | None = None,
        use_calendar: bool = True,
        max_samples: int = 300_000,
        max_iter: int = 300,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 50,
        loss: str = "squared_error",
        random_state: int = 0,
        n_jobs: int | None = None,
        alias: str | None = None,
    ) -> None:
        self.season_length = season_length
        self.n_lags = n_lags
        self.horizon = horizon
        self.strategy = strategy
        self.country = country
        self.use_calendar = use_calendar
        self.max_samples = max_samples
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.loss = loss
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.alias = alias

    def _make_estimator(self) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            loss=self.loss,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            early_stopping=False,
            random_state=self.random_state,
        )


class GlobalLinear(_GlobalWindowModel):
    """Pooled ridge autoregression on normalised windows of all series, one Ridge per step."""

    default_alias = "global_linear"
    _linear = True
    _per_step = True

    def __init__(
        self,
        season_length: int | None = None,
        n_lags: int | None = None,
        horizon: int | None = None,
        strategy: str = "direct",
        country: str | None = None,
        use_calendar: bool = True,
        alpha: float = 1.0,
        max_samples: int = 300_000,
        random_state: int = 0,
        n_jobs: int | None = None,
        alias: str | None = None,
    ) -> None:
        self.season_length = season_length
        self.n_lags = n_lags
        self.horizon = horizon
        self.strategy = strategy
        self.country = country
        self.use_calendar = use_calendar
        self.alpha = alpha
        self.max_samples = max_samples
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.alias = alias

    def _make_estimator(self) -> Ridge:
        return Ridge(alpha=self.alpha)
