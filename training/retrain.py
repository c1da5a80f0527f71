"""One retraining, end to end: backtest and fit, log the run to MLflow, register behind the gate.

Shared by `anticipate train` and the API's retrain job. Plain arguments only (a client, names,
folders, n_jobs, a Dask scheduler address); the caller reads the settings. `progress(stage)` is
called as each stage starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from mlflow import MlflowClient

from features.demand import DemandDataset
from features.schema import ID, TARGET, TIME
from features.trend import TrendDataset
from training.config import TrainConfig
from training.errors import TrainingError
from training.pipeline import TrainingResult, backtest_score, run_training
from training.pyfunc import ForecastBundle
from training.registry import GateDecision, register_with_gate
from training.tracking import MODEL_URI_TAG, log_training, using_store

#: The stages `train_and_register` reports, in order.
STAGES = (
    "Backtesting and fitting",
    "Forecasting every series and level",
    "Scoring the backtest",
    "Logging the run to MLflow",
    "Re-scoring the champion and registering",
)
_PIPELINE = {"backtest and fit": STAGES[0], "forecast": STAGES[1], "score": STAGES[2]}


@dataclass(frozen=True)
class Retrained:
    """The outcome of one retraining: scores, the MLflow run and the gate's decision."""

    result: TrainingResult
    run_id: str
    decision: GateDecision


def train_and_register(
    config: TrainConfig,
    demand: DemandDataset,
    trend: TrendDataset,
    client: MlflowClient,
    *,
    model_name: str,
    artifact_location: str,
    tags: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    n_jobs: int = 1,
    dask_scheduler: str | None = None,
) -> Retrained:
    """Train on the datasets, log one run and register a version behind the promotion gate.

    `n_jobs` and `dask_scheduler` are those of `run_training` (the champion's re-scoring uses
    the scheduler too). An exception or interrupt at any point leaves no registered version and
    no moved alias.
    """
    say = progress or (lambda stage: None)
    result = run_training(
        config,
        demand,
        trend,
        progress=lambda s: say(_PIPELINE[s]),
        n_jobs=n_jobs,
        dask_scheduler=dask_scheduler,
    )
    say(STAGES[3])
    bundle = ForecastBundle.from_training(
        result, demand, trend, config.model.horizon, config.model.interval_levels
    )
    run_id = log_training(
        client,
        result,
        [demand.manifest, trend.manifest],
        trend.frame[[ID, TIME, TARGET]],
        artifact_location=artifact_location,
        tags=tags,
        bundle=bundle,
    )
    say(STAGES[4])

    def load(version: str):  # type: ignore[no-untyped-def]
        import mlflow

        with using_store(client):
            return mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")

    def rescore(version: str) -> float:
        champion = load(version).unwrap_python_model().bundle.model
        return backtest_score(
            champion, demand, trend, result.season_length, dask_scheduler=dask_scheduler
        )

    def verify(version: str) -> None:
        """The registered version loads and forecasts one step of one series, all finite."""
        first = str(result.hierarchy_levels[ID].iloc[0])
        frame = load(version).predict(pd.DataFrame({ID: [first]}), params={"horizon": 1})
        if len(frame) != 1 or not np.isfinite(frame["yhat"].to_numpy(dtype=float)).all():
            raise TrainingError(f"registered version {version} does not forecast {first!r}")

    decision = register_with_gate(
        client,
        client.get_run(run_id).data.tags[MODEL_URI_TAG],
        run_id,
        result.summary["mase"],
        rescore,
        name=model_name,
        verify=verify,
    )
    return Retrained(result, run_id, decision)
