"""The forecaster protocol, in scikit-learn's spirit, over the canonical long panel.

    model = SomeModel(season_length=12).fit(panel)   # unique_id, ds, y (+ exogenous)
    frame = model.predict(h=18, interval_levels=(80, 95))  # unique_id, ds, model, yhat, yhat_lo_80

`__init__` only stores hyper-parameters; `fit` learns and returns self; learned state ends with
an underscore; `predict` before `fit` raises `NotFittedError`. Local models implement
`_fit_series(y) -> state` and `_forecast_series(state, h) -> array`; the fan-out over series
is done once, here, with joblib (or Dask). Forecasts and bounds are never negative: this is demand.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from features.frequency import infer_native_frequency, period_alias
from features.schema import ID, SEASON_LENGTH, TARGET, TIME
from training.errors import NotEnoughHistoryError, TrainingError
from training.parallel import fan_out

MODEL = "model"
YHAT = "yhat"


def lo(interval_level: float) -> str:
    """Column of the lower bound at `interval_level` percent."""
    return f"yhat_lo_{level_name(interval_level)}"


def hi(interval_level: float) -> str:
    """Column of the upper bound at `interval_level` percent."""
    return f"yhat_hi_{level_name(interval_level)}"


@dataclass(frozen=True)
class SeriesBatch:
    """A panel cut into its series: ids, the y values of each, and each one's last date."""

    ids: np.ndarray
    values: list[np.ndarray]
    last_ds: np.ndarray
    starts: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """Number of observations per series."""
        return np.array([len(v) for v in self.values])


def check_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel contract models rely on: columns, finite y, sorted by (unique_id, ds), unique.

    Sorting is skipped when the panel is already in order (checked in one vectorised pass).

    Raises:
        TrainingError: naming what is wrong and, where it applies, the series.
    """
    missing = [c for c in (ID, TIME, TARGET) if c not in panel.columns]
    if missing:
        raise TrainingError(f"the panel lacks column(s) {missing}; it has {list(panel.columns)}")
    if panel.empty:
        raise TrainingError("the panel has no rows")
    y = panel[TARGET].to_numpy(dtype="float64")
    bad = ~np.isfinite(y)
    if bad.any():
        ids = pd.unique(panel.loc[bad, ID])
        raise NotEnoughHistoryError("y must be finite (fill gaps first) in series", list(ids))
    if not _in_order(panel):
        panel = panel.sort_values([ID, TIME], ignore_index=True, kind="stable")
        if not _in_order(panel):
            repeated = panel.duplicated([ID, TIME])
            ids = pd.unique(panel.loc[repeated, ID])
            raise TrainingError(f"repeated (unique_id, ds) rows in series {list(ids)[:5]}")
    return panel.reset_index(drop=True) if not isinstance(panel.index, pd.RangeIndex) else panel


def _in_order(panel: pd.DataFrame) -> bool:
    """Whether series are contiguous, in id order, and strictly increasing in time."""
    codes, uniques = pd.factorize(panel[ID])
    if len(codes) > 1 and (np.diff(codes) < 0).any():
        return False
    names = np.asarray(uniques, dtype=object)
    if len(names) > 1 and not all(a < b for a, b in itertools.pairwise(names)):
        return False
    ds = panel[TIME].to_numpy().astype("datetime64[us]").view("int64")
    same = codes[1:] == codes[:-1]
    return not (same & (np.diff(ds) <= 0)).any()


def split_panel(panel: pd.DataFrame) -> SeriesBatch:
    """Cut a sorted panel into per-series arrays without a Python loop over rows."""
    ids = panel[ID].to_numpy()
    boundaries = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(ids)]])
    y = panel[TARGET].to_numpy(dtype="float64")
    values = np.split(y, boundaries)
    return SeriesBatch(
        ids=ids[starts].astype(str),
        values=values,
        last_ds=panel[TIME].to_numpy()[ends - 1],
        starts=starts,
    )


def frequency_code(alias: str) -> str:
    """D, W, M, Q or Y for a pandas offset alias such as "MS", "W-MON" or "QS-JAN"."""
    head = alias.split("-")[0].upper()
    return {"D": "D", "W": "W", "MS": "M", "M": "M", "ME": "M", "QS": "Q", "Q": "Q"}.get(
        head, "Y" if head in ("YS", "Y", "YE", "AS", "A") else "D"
    )


def infer_alias(panel: pd.DataFrame) -> str:
    """The offset alias of the panel's grid, inferred once from its dates."""
    native = infer_native_frequency(panel)
    if native.code is None:
        raise TrainingError(f"cannot tell the panel's frequency: {native.problem}")
    return period_alias(native.code, native.anchor)


def future_dates(last_ds: np.ndarray, h: int, alias: str) -> np.ndarray:
    """The h dates after each series' last date, as a flat array (series-major)."""
    offset = pd.tseries.frequencies.to_offset(alias)
    last = pd.DatetimeIndex(last_ds)
    if alias == "D" or alias.startswith("W"):
        step = np.timedelta64(1, "D") * (7 if alias.startswith("W") else 1)
        grid = last.to_numpy()[:, None] + step * np.arange(1, h + 1)[None, :]
        return grid.ravel()
    unique, inverse = np.unique(last, return_inverse=True)
    per_date = np.stack([pd.date_range(d, periods=h + 1, freq=offset)[1:] for d in unique])
    return per_date[inverse].ravel()


def forecast_frame(
    ids: np.ndarray,
    dates: np.ndarray,
    name: str,
    mean: np.ndarray,
    bounds: dict[int, tuple[np.ndarray, np.ndarray]],
) -> pd.DataFrame:
    """The forecast frame of the data contract, built from (n_series, h) arrays."""
    h = mean.shape[1]
    frame = pd.DataFrame(
        {
            ID: pd.Series(np.repeat(ids, h), dtype="str"),
            TIME: pd.DatetimeIndex(dates).astype("datetime64[us]"),
            MODEL: name,
            YHAT: mean.ravel(),
        }
    )
    for interval_level in sorted(bounds):
        low, high = bounds[interval_level]
        frame[lo(interval_level)] = low.ravel()
        frame[hi(interval_level)] = high.ravel()
    return frame


def level_name(interval_level: float) -> int | float:
    """A level in percent as columns and answers name it: 80 for 80.0, 97.5 stays 97.5.

    Rounded to 9 decimals, so that 2 * 99.9 - 100 is 99.8 and not 99.80000000000001.
    """
    number = round(float(interval_level), 9)
    return int(number) if number.is_integer() else number


def central_interval_of(quantile: float) -> tuple[int | float, str] | None:
    """The central interval whose bound is the quantile `quantile` (percent), and which bound.

    Above the median q is the upper bound at level 2q - 100 ("hi"), below it the lower bound at
    100 - 2q ("lo"); None for the median itself (q = 50), which is the point forecast.
    """
    q = float(quantile)
    if level_name(q) == 50:
        return None
    level = level_name(2 * q - 100 if q > 50 else 100 - 2 * q)
    if not (0 < q < 100 and 0 < level < 100):
        raise TrainingError(
            f"quantile levels must be between 0 and 100 (percent, to 9 decimals), got {quantile}"
        )
    return level, "hi" if q > 50 else "lo"


def check_interval_levels(interval_levels: Sequence[float]) -> tuple[int | float, ...]:
    """Interval levels as sorted unique numbers strictly between 0 and 100 (whole ones as int)."""
    out = tuple(sorted({level_name(lv) for lv in interval_levels}))
    bad = [lv for lv in out if not 0 < lv < 100]
    if bad:
        raise TrainingError(f"interval levels must be between 0 and 100 (percent), got {bad}")
    return out


def check_horizon(h: int) -> int:
    """A positive whole horizon."""
    if isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1:
        raise TrainingError(f"the horizon h must be a whole number >= 1, got {h!r}")
    return int(h)


class BaseForecaster(BaseEstimator):
    """Common `fit`/`predict` plumbing; subclasses implement `_fit` and `_predict_mean`."""

    #: Name of the model in forecast frames when no alias is given.
    default_alias: ClassVar[str] = "model"
    #: Fewest observations a series needs for this model.
    min_length: ClassVar[int] = 1

    def fit(self, panel: pd.DataFrame, *, freq: str | None = None) -> Self:
        """Learn from the panel; `freq` is the pandas offset alias (inferred when None)."""
        panel = check_panel(panel)
        batch = split_panel(panel)
        self.freq_ = freq or infer_alias(panel)
        self.season_length_ = self._resolve_season_length()
        short = batch.ids[batch.lengths < self.min_length]
        if len(short):
            raise NotEnoughHistoryError(
                f"{type(self).__name__} needs at least {self.min_length} observations per series",
                list(short),
            )
        self.unique_ids_ = batch.ids
        self.last_ds_ = batch.last_ds
        self._fit(panel, batch)
        return self

    def predict(
        self, h: int, interval_levels: Sequence[int] = (), *, future: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Forecast h periods past each series' end; bounds at each of `interval_levels` (%)."""
        check_is_fitted(self, "unique_ids_")
        h = check_horizon(h)
        interval_levels = check_interval_levels(interval_levels)
        mean = np.maximum(np.asarray(self._predict_mean(h, future), dtype="float64"), 0.0)
        bounds = self._predict_bounds(h, interval_levels, mean) if interval_levels else {}
        bounds = {
            lv: (np.maximum(np.minimum(low, mean), 0.0), np.maximum(high, mean))
            for lv, (low, high) in bounds.items()
        }
        dates = future_dates(self.last_ds_, h, self.freq_)
        return forecast_frame(self.unique_ids_, dates, self.alias_name, mean, bounds)

    @property
    def alias_name(self) -> str:
        """The model's name in forecast frames and metrics."""
        return getattr(self, "alias", None) or self.default_alias

    def _resolve_season_length(self) -> int:
        given = getattr(self, "season_length", None)
        if given is not None:
            if int(given) < 1:
                raise TrainingError(f"season_length must be >= 1, got {given}")
            return int(given)
        return SEASON_LENGTH[frequency_code(self.freq_)]

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        raise NotImplementedError

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        raise NotImplementedError

    def _predict_bounds(
        self, h: int, interval_levels: tuple[int, ...], mean: np.ndarray
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        raise TrainingError(
            f"{type(self).__name__} has no intervals of its own; wrap it in Conformal(...)"
        )


class LocalForecaster(BaseForecaster):
    """A model fitted to each series on its own, fanned out over series with joblib.

    Subclasses implement `_fit_series(y) -> state` (a small picklable object) and
    `_forecast_series(state, h) -> array of h values`. `self.season_length_` is set before.
    """

    n_jobs: int = 1

    def _fit(self, panel: pd.DataFrame, batch: SeriesBatch) -> None:
        self.states_ = fan_out(self._fit_series, batch.values, getattr(self, "n_jobs", 1))

    def _predict_mean(self, h: int, future: pd.DataFrame | None) -> np.ndarray:
        return np.vstack([self._forecast_series(state, h) for state in self.states_])

    def _fit_series(self, y: np.ndarray) -> Any:
        raise NotImplementedError

    def _forecast_series(self, state: Any, h: int) -> np.ndarray:
        raise NotImplementedError
