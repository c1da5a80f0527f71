"""The trained model as an MLflow pyfunc: a PythonModel over our own bundle saved with joblib.

(`mlflow.sklearn` would serialise with skops, which refuses our estimators' types; a bundle we
save ourselves is smaller and loads anywhere the package is installed.)

    model = mlflow.pyfunc.load_model("models:/anticipate-demand@champion")
    model.predict(pd.DataFrame({"unique_id": ["total"]}), params={"horizon": 14, "levels": [80]})
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.schema import ID, LEVEL
from training.auto import AutoForecaster
from training.errors import TrainingError

BUNDLE = "bundle"


@dataclass
class ForecastBundle:
    """What serving needs: the fitted model, each series' hierarchy level, and defaults."""

    model: AutoForecaster
    levels: pd.DataFrame
    horizon: int
    interval_levels: tuple[int, ...]
    freq: str

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
        frame = self.bundle.forecast(ids, params.get("horizon"), list(levels) if levels else None)
        frame[LEVEL] = frame[LEVEL].astype("str")
        return frame
