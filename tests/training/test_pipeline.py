"""run_training: every series at every hierarchy level forecast, and scores users can trust."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import ID, LEVEL
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.errors import TrainingError
from training.pipeline import REPORTED, run_training


@pytest.fixture(scope="module")
def datasets():  # type: ignore[no-untyped-def]
    """A small bakery chain as demand and trend datasets."""
    demo = make_demo_sales(seed=2, n_stores=2, n_bakery_items=6, n_web_items=3, n_days=150)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    return demand, build_trend_dataset(demand)


@pytest.fixture(scope="module")
def result(datasets):  # type: ignore[no-untyped-def]
    """One fast training run (no global model, to keep the suite quick)."""
    demand, trend = datasets
    config = TrainConfig.model_validate(
        {"model": {"horizon": 7, "members": ["dynamic_theta", "auto_ets"]}, "run": {"n_jobs": 1}}
    )
    return run_training(config, demand, trend)


def test_every_series_and_level_gets_a_forecast_with_bounds(result, datasets) -> None:  # type: ignore[no-untyped-def]
    """Planners get forecasts for items, stores, categories and the total, with 80/95 % bounds."""
    _, trend = datasets
    expected = trend.frame.groupby(LEVEL)[ID].nunique()
    got = result.forecasts.groupby(LEVEL)[ID].nunique()
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert result.forecasts.groupby(ID).size().eq(7).all()
    assert {"yhat_lo_80", "yhat_hi_95"} <= set(result.forecasts.columns)


def test_scores_are_reported_overall_per_level_and_per_bucket(result) -> None:  # type: ignore[no-untyped-def]
    """Every reported metric has a value overall, per hierarchy level and per horizon bucket."""
    assert set(result.summary) == set(REPORTED)
    assert all(pd.notna(v) for v in result.summary.values())
    assert set(result.per_level[LEVEL]) == set(result.levels[LEVEL])
    assert list(result.per_bucket["bucket"]) == ["1-2", "3-4", "5-6", "7-7"]


def test_the_same_data_and_config_give_the_same_forecasts(result, datasets) -> None:  # type: ignore[no-untyped-def]
    """Retraining on unchanged data reproduces the forecasts exactly."""
    demand, trend = datasets
    again = run_training(result.config, demand, trend)
    pd.testing.assert_frame_equal(again.forecasts, result.forecasts)


def test_config_files_are_checked_field_by_field(tmp_path: Path) -> None:
    """A typo in the config names the file and the field instead of training the wrong thing."""
    path = tmp_path / "train.toml"
    path.write_text('[model]\nhorizon = 0\nmembers = ["prophet"]\n')
    with pytest.raises(TrainingError, match=r"train\.toml.*horizon.*members"):
        TrainConfig.from_toml(path)
    path.write_text("[model]\nhorizon = 14\n")
    assert TrainConfig.from_toml(path).model.horizon == 14
    with pytest.raises(TrainingError, match="does not exist"):
        TrainConfig.from_toml(tmp_path / "missing.toml")
