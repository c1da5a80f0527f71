"""The forecast bundle carries what serving needs besides the model, and old bundles still load."""

from __future__ import annotations

from pathlib import Path

import joblib
import pandas as pd
import pytest

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import HIERARCHY_LEVEL, ID, TARGET, TIME
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.evaluate import METRIC, VALUE
from training.pipeline import run_training
from training.pyfunc import EXPECTED_METRICS, ForecastBundle

OPTIONAL = ("history", "membership", "attributes", "expected", "season_length")


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    """A small, fast training run (no global member) and the datasets it used."""
    demo = make_demo_sales(seed=3, n_stores=2, n_bakery_items=4, n_web_items=2, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    trend = build_trend_dataset(demand)
    config = TrainConfig.model_validate(
        {
            "model": {"horizon": 7, "interval_levels": [80], "members": ["dynamic_theta", "naive"]},
        }
    )
    return run_training(config, demand, trend), demand, trend


def test_from_training_fills_every_part(trained) -> None:  # type: ignore[no-untyped-def]
    """History at every level, membership, attributes, expected accuracy and season length."""
    result, demand, trend = trained
    bundle = ForecastBundle.from_training(result, demand, trend, 7, [80])
    pd.testing.assert_frame_equal(
        bundle.history, trend.frame[[ID, TIME, TARGET]].reset_index(drop=True)
    )
    assert bundle.membership is trend.membership
    assert bundle.attributes is demand.static
    assert bundle.season_length == result.season_length == 7
    assert (bundle.horizon, bundle.interval_levels, bundle.freq) == (7, (80,), result.freq)


def test_expected_accuracy_is_per_series_and_backtest_window(trained) -> None:  # type: ignore[no-untyped-def]
    """One row per series and cutoff with the backtest's own values; untrained levels are NaN."""
    result, demand, trend = trained
    expected = ForecastBundle.from_training(result, demand, trend, 7, [80]).expected
    assert list(expected.columns) == [ID, HIERARCHY_LEVEL, "cutoff", *EXPECTED_METRICS]
    n_windows = result.config.model.n_windows
    assert expected.groupby(ID)["cutoff"].nunique().eq(n_windows).all()
    assert set(expected[ID]) == set(result.hierarchy_levels[ID])
    assert not expected.duplicated([ID, "cutoff"]).any()
    levels = expected.drop_duplicates(ID).set_index(ID)[HIERARCHY_LEVEL]
    assert levels.equals(
        result.hierarchy_levels.set_index(ID)[HIERARCHY_LEVEL].reindex(levels.index)
    )
    long = result.series_metrics
    for metric in ("mase", "wape", "bias", "coverage_80", "direction_hit_rate"):
        own = long[long[METRIC] == metric].set_index([ID, "cutoff"])[VALUE]
        got = expected.set_index([ID, "cutoff"])[metric].reindex(own.index)
        pd.testing.assert_series_equal(got, own, check_names=False)
    assert expected["coverage_95"].isna().all()


def test_without_trend_the_history_is_the_demand_panel(trained) -> None:  # type: ignore[no-untyped-def]
    """Bundles of bottom-level runs keep the demand panel and have no membership table."""
    result, demand, _ = trained
    bundle = ForecastBundle.from_training(result, demand, None, 7, (80,))
    pd.testing.assert_frame_equal(bundle.history, demand.panel[[ID, TIME, TARGET]])
    assert bundle.membership is None


def test_old_bundles_load_with_the_new_parts_missing(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A bundle pickled before these fields existed still loads and forecasts; they are None."""
    result, _, _ = trained
    bundle = ForecastBundle(result.model, result.hierarchy_levels, 7, (80,), result.freq)
    assert all(getattr(bundle, name) is None for name in OPTIONAL)
    for name in OPTIONAL:  # what an instance pickled by the older class holds
        del bundle.__dict__[name]
    loaded = joblib.load(bundle.save(tmp_path / "old.joblib"))
    assert all(getattr(loaded, name) is None for name in OPTIONAL)
    assert len(loaded.forecast(None, None, None)) == 7 * len(result.hierarchy_levels)


def test_a_full_bundle_round_trips(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Saved and loaded, the bundle gives the same forecasts and the same serving data."""
    result, demand, trend = trained
    bundle = ForecastBundle.from_training(result, demand, trend, 7, (80,))
    loaded = joblib.load(bundle.save(tmp_path / "bundle.joblib"))
    pd.testing.assert_frame_equal(
        loaded.forecast(None, None, None), bundle.forecast(None, None, None)
    )
    pd.testing.assert_frame_equal(loaded.expected, bundle.expected)
    pd.testing.assert_frame_equal(loaded.history, bundle.history)
