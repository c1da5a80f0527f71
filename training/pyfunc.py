"""The trained model as an MLflow pyfunc: a PythonModel over our own bundle saved with joblib.

(`mlflow.sklearn` would serialise with skops, which refuses our estimators' types; a bundle we
save ourselves is smaller and loads anywhere the package is installed.)

    model = mlflow.pyfunc.load_model("models:/anticipate-demand@champion")
    model.predict(pd.DataFrame({"unique_id": ["total"]}), params={"horizon": 14, "levels": [80]})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.demand import DemandDataset
from features.schema import ID, LEVEL, TARGET, TIME
from features.trend import TrendDataset
from training.auto import AutoForecaster
from training.backtest import CUTOFF
from training.base import MODEL
from training.errors import TrainingError
from training.evaluate import METRIC, VALUE
from training.pipeline import TrainingResult, training_panel

BUNDLE = "bundle"
#: Backtest metrics kept per series and window as the accuracy serving should expect.
EXPECTED_METRICS = ("mase", "wape", "bias", "coverage_80", "coverage_95", "direction_hit_rate")


def expected_accuracy(
    series_metrics: pd.DataFrame, levels: pd.DataFrame, model: str | None = None
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
    wide = wide.merge(levels[[ID, LEVEL]], on=ID, how="left")
    return wide[[ID, LEVEL, CUTOFF, *EXPECTED_METRICS]]


@dataclass
class ForecastBundle:
    """What serving needs: the fitted model, each series' hierarchy level, and defaults.

    The optional parts (None in bundles saved before they existed) are the history the model was
    trained on (unique_id, ds, y at every level), the hierarchy membership, the static attributes,
    the backtest accuracy per series and window (`expected_accuracy`) and the season length.
    """

    model: AutoForecaster
    levels: pd.DataFrame
    horizon: int
    interval_levels: tuple[int, ...]
    freq: str
    history: pd.DataFrame | None = None
    membership: pd.DataFrame | None = None
    attributes: pd.DataFrame | None = None
    expected: pd.DataFrame | None = None
    season_length: int | None = None

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
            levels=result.levels,
            horizon=int(horizon),
            interval_levels=tuple(int(level) for level in interval_levels),
            freq=result.freq,
            history=history,
            membership=None if trend is None else trend.membership,
            attributes=demand.static,
            expected=expected_accuracy(
                result.series_metrics, result.levels, model=result.model.alias_name
            ),
            season_length=int(result.season_length),
        )

    def forecast(
        self, unique_ids: list[str] | None, horizon: int | None, levels: list[int] | None
    ) -> pd.DataFrame:
        """Forecasts with bounds for the requested series (all when None)."""
        h = int(horizon or self.horizon)
        wanted = tuple(levels) if levels else self.interval_levels
        frame = self.model.predict(h, levels=wanted).merge(self.levels, on=ID, how="left")
        if unique_ids is None:
            return frame
        unknown = sorted(set(unique_ids) - set(self.levels[ID]))
        if unknown:
            raise TrainingError(f"unknown series {unknown[:5]}; the model knows {len(self.levels)}")
        return frame[frame[ID].isin(set(unique_ids))].reset_index(drop=True)

    def save(self, path: Path) -> Path:
        """Write the bundle with joblib (compressed)."""
        joblib.dump(self, path, compress=3)
        return path


class AnticipateModel(PythonModel):
    """pyfunc wrapper: rows of `unique_id` in, the forecast frame out; horizon/levels as params."""

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
        levels = params.get("levels")
        try:
            frame = self.bundle.forecast(
                ids, params.get("horizon"), list(levels) if levels else None
            )
        except TrainingError as err:
            # MLflow's scoring server answers an MlflowException with its own code (400 here)
            # and our message, instead of a generic error with a stack trace.
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from err
        frame[LEVEL] = frame[LEVEL].astype("str")
        return frame
