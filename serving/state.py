"""The model the server forecasts with: loaded from the registry, kept current, swapped atomically.

A `LiveModel` is an immutable snapshot (fitted model, history, precomputed forecasts, expected
accuracy). Requests take the current snapshot once and use it to the end, so a swap (a new
champion, or series moved forward by new actuals) never drops or mixes a request. A model that
fails to load leaves the previous snapshot in place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from features.schema import BOTTOM_LEVEL, ID, LEVEL, TARGET, TIME
from training.auto import AutoForecaster
from training.base import hi, lo
from training.pyfunc import ForecastBundle
from training.refresh import refreshed
from training.registry import CHAMPION
from training.tracking import using_store

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

    def take(self, unique_ids: list[str], horizon: int, columns: list[str]) -> pd.DataFrame:
        """The first `horizon` rows of each series, in the order of `unique_ids`."""
        spans = [self.rows[uid] for uid in unique_ids]
        index = np.concatenate(
            [np.arange(a, min(a + horizon, b)) for a, b in spans] or [np.arange(0)]
        )
        return pd.DataFrame({column: self.arrays[column][index] for column in columns})


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
    def levels(self) -> pd.Series:
        """Hierarchy level of every series the model knows, indexed by id."""
        return self.bundle.levels.set_index(ID)[LEVEL].astype("str")

    @cached_property
    def last_ds(self) -> pd.Series:
        """Last observed period of every series (the origin of its next forecast)."""
        return self.history.groupby(ID, sort=False)[TIME].max()

    @cached_property
    def level_of(self) -> dict[str, str]:
        """`levels` as a dict (a lookup per series and request without pandas)."""
        return dict(zip(self.levels.index.astype("str"), self.levels, strict=True))

    @cached_property
    def origin_of(self) -> dict[str, pd.Timestamp]:
        """`last_ds` as a dict."""
        return dict(zip(self.last_ds.index.astype("str"), self.last_ds, strict=True))

    @cached_property
    def precomputed(self) -> ForecastTable:
        """Forecasts at the bundle's horizon and default levels."""
        return self.forecast_all(self.bundle.horizon, self.bundle.interval_levels)

    def forecast_all(self, horizon: int, levels: Iterable[int]) -> ForecastTable:
        """Every series' forecast (ds, yhat, bounds) at `horizon` and `levels`."""
        levels = tuple(levels)
        frame = self.model.predict(int(horizon), levels=levels)
        columns = [ID, TIME, "yhat", *(c for lv in levels for c in (lo(lv), hi(lv)))]
        return ForecastTable.of(frame[columns])

    def forecast(self, unique_ids: list[str], horizon: int, levels: list[int]) -> pd.DataFrame:
        """The requested series' forecasts, long (unique_id, ds, yhat, bounds), in their order.

        Uses the precomputed forecasts when it can.
        """
        if horizon <= self.bundle.horizon and set(levels) <= set(self.bundle.interval_levels):
            table = self.precomputed
        else:
            table = self._cached(horizon, tuple(levels))
        columns = [ID, TIME, "yhat", *(c for lv in levels for c in (lo(lv), hi(lv)))]
        return table.take(unique_ids, horizon, columns)

    def _cached(self, horizon: int, levels: tuple[int, ...]) -> ForecastTable:
        key = (horizon, levels)
        cache = self.__dict__.setdefault("_other_levels", {})
        if key not in cache:
            if len(cache) > 8:
                cache.clear()
            cache[key] = self.forecast_all(horizon, levels)
        return cache[key]

    def moved_forward(self, actuals: pd.DataFrame) -> tuple[LiveModel, int]:
        """A new snapshot whose series start after their newest contiguous actuals.

        `actuals` holds every known actual (unique_id, ds, y), bottom series and aggregates.
        Aggregates are summed from their members for periods where every member is known.
        Returns the snapshot and how many series moved.
        """
        extra = self._contiguous_new(self._with_aggregates(actuals))
        if extra.empty:
            return self, 0
        history = (
            pd.concat([self.history, extra], ignore_index=True)
            .sort_values([ID, TIME], kind="stable")
            .reset_index(drop=True)
        )
        moved = extra[ID].unique()
        panel = history[history[ID].isin(set(moved))]
        model = refreshed(self.model, panel, freq=self.model.freq_)
        return replace(self, model=model, history=history, loaded_at=time.time()), len(moved)

    def _with_aggregates(self, actuals: pd.DataFrame) -> pd.DataFrame:
        membership = self.bundle.membership
        known = actuals[actuals[ID].isin(set(self.levels.index))]
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
        return out[out[ID].isin(set(self.levels.index))]

    def _contiguous_new(self, actuals: pd.DataFrame) -> pd.DataFrame:
        """The actuals after each series' last period that continue it without a gap."""
        if actuals.empty:
            return actuals.iloc[0:0]
        last = self.last_ds
        after = actuals[actuals[TIME].to_numpy() > last.reindex(actuals[ID]).to_numpy()]
        if after.empty:
            return after
        after = after.sort_values([ID, TIME], kind="stable")
        step = pd.tseries.frequencies.to_offset(self.model.freq_)
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


class ModelHolder:
    """Holds the current LiveModel of a registered model name and swaps it safely."""

    def __init__(self, tracking_uri: str, name: str) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.name = name
        self._current: LiveModel | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.last_check: float | None = None

    @property
    def current(self) -> LiveModel | None:
        """The snapshot to serve with (take it once per request)."""
        return self._current

    def champion_version(self) -> str | None:
        """The version the champion alias points at now (None without a champion)."""
        try:
            return str(self.client.get_model_version_by_alias(self.name, CHAMPION).version)
        except MlflowException:
            return None

    def load(self, version: str | None = None, actuals: pd.DataFrame | None = None) -> bool:
        """Load `version` (the champion when None); True if the served model changed.

        On any failure the previous model stays and the error is kept in `last_error`.
        """
        import mlflow

        with self._lock:
            self.last_check = time.time()
            try:
                version = version or self.champion_version()
                if version is None:
                    raise LookupError(f"{self.name} has no champion version yet")
                if self._current is not None and self._current.version == version:
                    self.last_error = None
                    return False
                with using_store(self.client):
                    loaded = mlflow.pyfunc.load_model(f"models:/{self.name}/{version}")
                bundle: ForecastBundle = loaded.unwrap_python_model().bundle
                if bundle.history is None:
                    raise ValueError(
                        f"{self.name} version {version} was registered without its history; "
                        "retrain it with this version of anticipate"
                    )
                run_id = self.client.get_model_version(self.name, version).run_id
                live = LiveModel(self.name, version, run_id, bundle, bundle.model, bundle.history)
                if actuals is not None and not actuals.empty:
                    live, _ = live.moved_forward(actuals)
                _ = live.precomputed
            except Exception as err:  # keep serving the previous model, report why
                self.last_error = f"{type(err).__name__}: {err}"
                log.exception("loading %s version %s failed", self.name, version)
                return False
            self._current = live
            self.last_error = None
            log.info("serving %s version %s", self.name, version)
            return True

    def move_forward(self, actuals: pd.DataFrame) -> int:
        """Apply known actuals to the served model; returns how many series moved."""
        with self._lock:
            current = self._current
            if current is None:
                return 0
            live, moved = current.moved_forward(actuals)
            if moved:
                _ = live.precomputed
                self._current = live
            return moved


def finite_or_none(value: object) -> float | None:
    """JSON-safe float: NaN and infinities become null."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
