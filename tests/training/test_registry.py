"""The promotion gate: a worse model never takes the champion alias by accident."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import ID, TARGET, TIME
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.pipeline import backtest_score, run_training
from training.pyfunc import ForecastBundle
from training.registry import CHALLENGER, CHAMPION, MODEL_NAME, promote, register_with_gate
from training.tracking import MODEL_URI_TAG, log_training


def _train_and_register(client, config, demand, trend, tmp_path, fitted):  # type: ignore[no-untyped-def]
    """Train, log and register one config; `fitted` maps versions to their fitted models."""
    result = run_training(config, demand, trend, n_jobs=1)
    bundle = ForecastBundle(result.model, result.hierarchy_levels, 7, (80, 95), result.freq)
    run_id = log_training(
        client,
        result,
        [demand.manifest],
        trend.frame[[ID, TIME, TARGET]],
        artifact_location=str(tmp_path / "artifacts"),
        bundle=bundle,
    )

    def rescore(version: str) -> float:
        return backtest_score(fitted[version], demand, trend, result.season_length)

    uri = client.get_run(run_id).data.tags[MODEL_URI_TAG]
    decision = register_with_gate(client, uri, run_id, result.summary["mase"], rescore)
    fitted[decision.version] = result.model
    return decision


@pytest.mark.slow
def test_a_worse_model_does_not_move_the_champion(tmp_path: Path) -> None:
    """The first model becomes champion; a deliberately worse one becomes challenger."""
    demo = make_demo_sales(seed=4, n_stores=2, n_bakery_items=5, n_web_items=2, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    trend = build_trend_dataset(demand)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    good = TrainConfig.model_validate(
        {"model": {"horizon": 7, "members": ["dynamic_theta", "seasonal_naive"]}}
    )
    worse = TrainConfig.model_validate(
        {"model": {"horizon": 7, "members": ["drift"], "intermittent": None}}
    )
    fitted: dict = {}
    first = _train_and_register(client, good, demand, trend, tmp_path, fitted)
    assert first.promoted
    second = _train_and_register(client, worse, demand, trend, tmp_path, fitted)
    assert not second.promoted
    assert second.champion_score is not None and second.candidate_score > second.champion_score
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == first.version
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHALLENGER).version) == second.version
    tags = client.get_model_version(MODEL_NAME, second.version).tags
    assert tags["gate.decision"] == "kept champion" and "mase" in tags["gate.rule"]
    with pytest.raises(PermissionError, match="--force"):
        promote(client, second.version)
    promote(client, second.version, force=True)
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == second.version


@pytest.mark.slow
def test_a_version_that_fails_its_check_is_deleted_and_no_alias_moves(tmp_path: Path) -> None:
    """A registered version that cannot be loaded or used never keeps a number or an alias."""
    demo = make_demo_sales(seed=6, n_stores=1, n_bakery_items=3, n_web_items=1, n_days=90)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    trend = build_trend_dataset(demand)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    config = TrainConfig.model_validate({"model": {"horizon": 7, "members": ["seasonal_naive"]}})
    fitted: dict = {}
    first = _train_and_register(client, config, demand, trend, tmp_path, fitted)
    run_id = client.get_model_version(MODEL_NAME, first.version).run_id
    uri = client.get_run(run_id).data.tags[MODEL_URI_TAG]

    def broken(version: str) -> None:
        raise RuntimeError(f"version {version} does not load")

    for failure in (broken, lambda version: (_ for _ in ()).throw(KeyboardInterrupt())):
        with pytest.raises((RuntimeError, KeyboardInterrupt)):
            register_with_gate(client, uri, run_id, 0.0, lambda v: 1.0, verify=failure)
        versions = client.search_model_versions(f"name='{MODEL_NAME}'")
        assert [str(v.version) for v in versions] == [first.version]
        assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == first.version
        with pytest.raises(MlflowException):
            client.get_model_version_by_alias(MODEL_NAME, CHALLENGER)
