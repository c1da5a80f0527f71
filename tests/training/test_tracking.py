"""A training run is logged to a real MLflow store (SQLite in a temp folder) completely."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import ID, TARGET, TIME
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.pipeline import run_training
from training.pyfunc import ForecastBundle
from training.tracking import log_training


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    """A small, fast training run and the datasets it used."""
    demo = make_demo_sales(seed=3, n_stores=2, n_bakery_items=5, n_web_items=2, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    trend = build_trend_dataset(demand)
    config = TrainConfig.model_validate(
        {
            "model": {"horizon": 7, "members": ["dynamic_theta", "seasonal_naive"]},
            "run": {"n_jobs": 1},
        }
    )
    return run_training(config, demand, trend), demand, trend


@pytest.mark.slow
def test_run_records_params_metrics_inputs_and_artifacts(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Data scientists find the config, the scores, the data hash and the charts in the run."""
    result, demand, trend = trained
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    history = trend.frame[[ID, TIME, TARGET]]
    run_id = log_training(
        client,
        result,
        [demand.manifest, trend.manifest],
        history,
        artifact_location=str(tmp_path / "artifacts"),
    )
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.horizon"] == "7"
    assert "member.dynamic_theta.season_length" in run.data.params
    for name in ("mase", "wape", "coverage_80", "level.total.mase", "steps.1-2.mase"):
        assert name in run.data.metrics
    assert run.data.metrics["mase"] == pytest.approx(result.summary["mase"])
    digests = {i.dataset.digest for i in run.inputs.dataset_inputs}
    assert demand.manifest.content_hash[:36] in digests
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"backtest", "fan_charts", "environment"} <= artifacts
    charts = client.list_artifacts(run_id, "fan_charts")
    assert charts and all(c.path.endswith(".png") for c in charts)


LOAD_IN_FRESH_PROCESS = """
import sys, mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(f"runs:/{sys.argv[2]}/model")
ids = pd.read_parquet(sys.argv[3])["unique_id"].drop_duplicates().sort_values()
out = model.predict(pd.DataFrame({"unique_id": ids}), params={"horizon": 7, "levels": [80, 95]})
out.to_parquet(sys.argv[4])
"""


@pytest.mark.slow
def test_logged_model_reproduces_the_forecasts_in_a_fresh_process(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The pyfunc model loaded by URI in a new process gives exactly the logged forecasts."""
    result, demand, trend = trained
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    bundle = ForecastBundle(result.model, result.levels, 7, (80, 95), result.freq)
    run_id = log_training(
        MlflowClient(tracking_uri=uri),
        result,
        [demand.manifest],
        trend.frame[[ID, TIME, TARGET]],
        artifact_location=str(tmp_path / "artifacts"),
        bundle=bundle,
    )
    expected = bundle.forecast(None, None, None)
    expected.to_parquet(tmp_path / "expected.parquet")
    subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_IN_FRESH_PROCESS,
            uri,
            run_id,
            str(tmp_path / "expected.parquet"),
            str(tmp_path / "out.parquet"),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    again = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(again, expected, check_dtype=False)
