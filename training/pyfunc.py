"""The trained model as an MLflow pyfunc: a PythonModel over our own bundle saved with joblib.

(`mlflow.sklearn` would serialise with skops, which refuses our estimators' types; a bundle we
save ourselves is smaller, and the logged model carries our code, so it loads anywhere.)
A request forecasts only the series it names: the fitted model is first cut down to them.

    model = mlflow.pyfunc.load_model("models:/anticipate-demand@champion")
    model.predict(pd.DataFrame({"unique_id": ["total"]}), params={"horizon": 14, "levels": [80]})
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.demand import DemandDataset
from features.schema import HIERARCHY_LEVEL, ID, TARGET, TIME
from features.trend import TrendDataset
from training.auto import AutoForecaster, Route
from training.backtest import CUTOFF
from training.base import MODEL, BaseForecaster
from training.errors import TrainingError
from training.evaluate import METRIC, VALUE
from training.new_products import LaunchProfiles, fit_launch_profiles
from training.pipeline import TrainingResult, training_panel

BUNDLE = "bundle"
#: Backtest metrics kept per series and window as the accuracy serving should expect.
EXPECTED_METRICS = ("mase", "wape", "bias", "coverage_80", "coverage_95", "direction_hit_rate")


def expected_accuracy(
    series_metrics: pd.DataFrame, hierarchy_levels: pd.DataFrame, model: str | None = None
) -> pd.DataFrame:
    """Backtest metrics per series and window, wide: unique_id, level, cutoff, mase, wape, ....

    `series_metrics` is the long frame of `training.evaluate.evaluate` (one model, or the one
    named `model`); metrics it lacks (a coverage level not trained for) are NaN.
    """
    long = series_metrics
    if model is not None and MODEL in long:
        long = long[long[MODEL] == model]
    long = long[long[METRIC].isin(EXPECTED_METRICS)]
    wide = long.pivot(index=[ID, CUTOFF], columns=METRIC, values=VALUE)
    wide = wide.reindex(columns=list(EXPECTED_METRICS)).reset_index()
    wide.columns.name = None
    wide = wide.merge(hierarchy_levels[[ID, HIERARCHY_LEVEL]], on=ID, how="left")
    return wide[[ID, HIERARCHY_LEVEL, CUTOFF, *EXPECTED_METRICS]]


def restricted(model: BaseForecaster, unique_ids: Sequence[str]) -> BaseForecaster | SelectedSeries:
    """A shallow copy of fitted `model` that forecasts only `unique_ids` (in the model's order).

    Its forecasts are the rows of those series in the full model's, at a cost that grows with
    the series asked for, not with all the model knows.

    Raises:
        TrainingError: naming series the model does not know.
    """
    known = pd.Index(model.unique_ids_)
    asked = pd.unique(np.asarray([str(u) for u in unique_ids], dtype=object))
    rows = known.get_indexer(asked)
    if (rows < 0).any():
        unknown = sorted(asked[rows < 0])
        raise TrainingError(f"unknown series {unknown[:5]}; the model knows {len(known)}")
    if getattr(model, "reconciliation_", None) is not None:
        return SelectedSeries(model, np.sort(rows))
    return _restricted(model, np.sort(rows))


class SelectedSeries:
    """Some series of a reconciled model: each coherent forecast depends on the base forecasts
    of others (an aggregate's members, or every series with MinT), so all are forecast and the
    asked rows kept."""

    def __init__(self, model: BaseForecaster, rows: np.ndarray) -> None:
        self.model = model
        self.unique_ids_ = model.unique_ids_[rows]

    def predict(
        self, h: int, interval_levels: Sequence[int] = (), *, future: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """The full model's forecast frame, cut to the selected series."""
        frame = self.model.predict(h, interval_levels, future=future)
        return frame[frame[ID].isin(set(self.unique_ids_))].reset_index(drop=True)


def _restricted(model: BaseForecaster, rows: np.ndarray) -> BaseForecaster:
    """`model` cut to its series at sorted positions `rows`.

    Learned state with one entry per series is cut: arrays and lists along their first axis,
    frames keyed by unique_id (a global model's stored history, the last exogenous values) to
    those series' rows; sub-models (routes, intermittent parts) are cut in turn. Everything else
    is shared: estimators, calibration, and the backtest, which forecasting never reads.
    """
    n = len(model.unique_ids_)
    kept = set(model.unique_ids_[rows])
    out = copy.copy(model)
    for name, value in vars(model).items():
        if not name.endswith("_") or name.startswith("_") or name == "backtest_":
            continue
        if name == "routes_":
            out.routes_ = [r for r in (_restricted_route(r, rows) for r in value) if r]
        elif name == "parts_":
            out.parts_ = [p for p in (_restricted_part(p, rows) for p in value) if p]
        elif isinstance(value, pd.DataFrame) and ID in value:
            setattr(out, name, value[value[ID].isin(kept)])
        elif isinstance(value, np.ndarray) and value.ndim and len(value) == n:
            setattr(out, name, value[rows])
        elif isinstance(value, list) and len(value) == n and not _names(value):
            setattr(out, name, [value[i] for i in rows])
    return out


def _names(values: list[object]) -> bool:
    """Whether a learned list holds names (feature columns), not one state per series."""
    return bool(values) and all(isinstance(v, str) for v in values)


def _within(part_rows: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of a part's series (positions `part_rows` in the whole), those kept: (in part, in cut)."""
    local = np.flatnonzero(np.isin(part_rows, rows))
    return local, np.searchsorted(rows, part_rows[local])


def _restricted_route(route: Route, rows: np.ndarray) -> Route | None:
    """The route with its members cut to the kept series, or None when it keeps none."""
    local, kept = _within(route.rows, rows)
    if not len(local):
        return None
    members = [_restricted(m, local) for m in route.members]
    return dataclasses.replace(route, rows=kept, members=members)


def _restricted_part(
    part: tuple[np.ndarray, BaseForecaster], rows: np.ndarray
) -> tuple[np.ndarray, BaseForecaster] | None:
    """One (rows, model) part of a per-series split cut to the kept series, or None."""
    local, kept = _within(part[0], rows)
    return (kept, _restricted(part[1], local)) if len(local) else None


@dataclass
class ForecastBundle:
    """What serving needs: the fitted model, each series' hierarchy level, and defaults.

    The optional parts (None in bundles saved before they existed) are the history the model was
    trained on (unique_id, ds, y at every level), the hierarchy membership, the static attributes,
    the backtest accuracy per series and window (`expected_accuracy`), the season length and
    the launch profiles that forecast new products (training.new_products).
    Bundles saved before `hierarchy_levels` got its name (it was `levels`) load as well.
    """

    model: AutoForecaster
    hierarchy_levels: pd.DataFrame  # unique_id -> its hierarchy level (column "level")
    horizon: int
    interval_levels: tuple[int, ...]
    freq: str
    history: pd.DataFrame | None = None
    membership: pd.DataFrame | None = None
    attributes: pd.DataFrame | None = None
    expected: pd.DataFrame | None = None
    season_length: int | None = None
    launch: LaunchProfiles | None = None

    @classmethod
    def from_training(
        cls,
        result: TrainingResult,
        demand: DemandDataset,
        trend: TrendDataset | None,
        horizon: int,
        interval_levels: Sequence[int],
    ) -> ForecastBundle:
        """The bundle of a training run with everything serving needs filled in."""
        history = training_panel(demand, trend)[[ID, TIME, TARGET]].reset_index(drop=True)
        return cls(
            model=result.model,
            hierarchy_levels=result.hierarchy_levels,
            horizon=int(horizon),
            interval_levels=tuple(int(lv) for lv in interval_levels),
            freq=result.freq,
            history=history,
            membership=None if trend is None else trend.membership,
            attributes=demand.static,
            expected=expected_accuracy(
                result.series_metrics, result.hierarchy_levels, model=result.model.alias_name
            ),
            season_length=int(result.season_length),
            launch=fit_launch_profiles(demand, horizon),
        )

    def forecast(
        self,
        unique_ids: Sequence[str] | None,
        horizon: int | None,
        interval_levels: Sequence[int] | None,
    ) -> pd.DataFrame:
        """Forecasts with bounds for the requested series (all when None), only those computed."""
        h = int(horizon or self.horizon)
        wanted = tuple(interval_levels) if interval_levels else self.interval_levels
        model = self.model if unique_ids is None else restricted(self.model, unique_ids)
        frame = model.predict(h, interval_levels=wanted)
        return frame.merge(self.hierarchy_levels, on=ID, how="left")

    def save(self, path: Path) -> Path:
        """Write the bundle with joblib (compressed)."""
        joblib.dump(self, path, compress=3)
        return path

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle, renaming the field of bundles saved before `hierarchy_levels` had its name."""
        state = dict(state)
        if "levels" in state and "hierarchy_levels" not in state:
            state["hierarchy_levels"] = state.pop("levels")
        self.__dict__.update(state)


class AnticipateModel(PythonModel):
    """pyfunc wrapper: rows of `unique_id` in, their forecast frame out.

    Params: `horizon` and `levels` (interval levels in percent, the API's name for them).
    """

    def load_context(self, context: Any) -> None:
        """Load the bundle once, when MLflow loads the model."""
        self.bundle: ForecastBundle = joblib.load(context.artifacts[BUNDLE])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecast the series named in `model_input` (every series when it has no rows)."""
        params = params or {}
        ids = None
        if isinstance(model_input, pd.DataFrame) and ID in model_input and len(model_input):
            ids = [str(u) for u in model_input[ID]]
        interval_levels = params.get("levels")
        try:
            frame = self.bundle.forecast(
                ids, params.get("horizon"), list(interval_levels) if interval_levels else None
            )
        except TrainingError as err:
            # MLflow's scoring server answers an MlflowException with its own code (400 here)
            # and our message, instead of a generic error with a stack trace.
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from err
        frame[HIERARCHY_LEVEL] = frame[HIERARCHY_LEVEL].astype("str")
        return frame
