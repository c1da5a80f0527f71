"""run_training: every series at every hierarchy level forecast, and scores users can trust."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import HIERARCHY_LEVEL, ID
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.errors import TrainingError
from training.pipeline import REPORTED, build_model, run_training


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
        {"model": {"horizon": 7, "members": ["dynamic_theta", "auto_ets"]}}
    )
    return run_training(config, demand, trend)


def test_every_series_and_level_gets_a_forecast_with_bounds(result, datasets) -> None:  # type: ignore[no-untyped-def]
    """Planners get forecasts for items, stores, categories and the total, with 80/95 % bounds."""
    _, trend = datasets
    expected = trend.frame.groupby(HIERARCHY_LEVEL)[ID].nunique()
    got = result.forecasts.groupby(HIERARCHY_LEVEL)[ID].nunique()
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert result.forecasts.groupby(ID).size().eq(7).all()
    assert {"yhat_lo_80", "yhat_hi_95"} <= set(result.forecasts.columns)


def test_scores_are_reported_overall_per_level_and_per_bucket(result) -> None:  # type: ignore[no-untyped-def]
    """Every reported metric has a value overall, per hierarchy level and per horizon bucket."""
    assert set(result.summary) == set(REPORTED)
    assert all(pd.notna(v) for v in result.summary.values())
    assert set(result.per_hierarchy_level[HIERARCHY_LEVEL]) == set(
        result.hierarchy_levels[HIERARCHY_LEVEL]
    )
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


@pytest.fixture(scope="module")
def priced(datasets):  # type: ignore[no-untyped-def]
    """A training run whose members include the global model, on data with price and promo."""
    demand, trend = datasets
    config = TrainConfig.model_validate(
        {"model": {"horizon": 7, "members": ["global_hgb", "seasonal_naive"]}}
    )
    return run_training(config, demand, trend)


def _global_member(model):  # type: ignore[no-untyped-def]
    (member,) = [m for r in model.routes_ for m in r.members if m.alias_name == "global_hgb"]
    return member


def test_run_training_builds_the_model_with_build_model(result) -> None:  # type: ignore[no-untyped-def]
    """The fitted model has the parameters `build_model` gives for the same config."""
    built = build_model(result.config, result.season_length, n_jobs=1)
    assert repr(result.model.get_params(deep=True)) == repr(built.get_params(deep=True))


@pytest.mark.slow
def test_price_and_promo_reach_the_global_model(priced, datasets) -> None:  # type: ignore[no-untyped-def]
    """The sales file's price and promo are features of the fitted global member."""
    demand, _ = datasets
    assert {"price", "promo"} <= set(demand.manifest.exogenous)
    assert set(priced.model.exog_) == set(demand.manifest.exogenous)
    member = _global_member(priced.model)
    assert member.spec_.exog == ("price", "promo")
    assert {"price_change", "promo", "promo_lag_1"} <= set(member.known_columns_)


@pytest.mark.slow
def test_a_planned_price_or_promotion_changes_the_forecast(priced, datasets) -> None:  # type: ignore[no-untyped-def]
    """Without a plan, the last price and no promotion; a posted plan moves the forecast."""
    model = priced.model
    plan = model.default_future(7)
    assumed = model.predict(7)
    pd.testing.assert_frame_equal(assumed, model.predict(7, future=plan))
    bottom = priced.hierarchy_levels.loc[priced.hierarchy_levels[HIERARCHY_LEVEL] == "series", ID]
    uid = next(u for u in bottom if u not in set(model.sparse_ids_))
    dearer = plan.assign(price=plan["price"].where(plan[ID] != uid, plan["price"] * 2))
    promoted = plan.assign(promo=plan["promo"].where(plan[ID] != uid, 1.0))
    base = assumed.loc[assumed[ID] == uid, "yhat"].to_numpy()
    membership = datasets[1].membership
    containing = set(membership.loc[membership[ID] == uid].drop(columns=[ID]).iloc[0])
    for changed in (dearer, promoted):
        moved = model.predict(7, future=changed)
        change = moved.loc[moved[ID] == uid, "yhat"].to_numpy() - base
        assert not np.allclose(change, 0.0)
        # the aggregates holding the series move with it; with bottom-up nothing else moves
        # (MinT spreads a change over every series, the sums still adding up)
        for aggregate in containing:  # the what-if forecast adds up too
            members = membership.loc[membership.isin([aggregate]).any(axis=1), ID]
            summed = moved[moved[ID].isin(set(members))].groupby("ds")["yhat"].sum()
            mine = moved[moved[ID] == aggregate].set_index("ds")["yhat"]
            np.testing.assert_allclose(mine.to_numpy(), summed.loc[mine.index], rtol=1e-9)
        if model.reconciliation_.method == "bottom_up":
            for aggregate in containing:
                np.testing.assert_allclose(
                    moved.loc[moved[ID] == aggregate, "yhat"].to_numpy()
                    - assumed.loc[assumed[ID] == aggregate, "yhat"].to_numpy(),
                    change,
                    atol=1e-9,
                )
            others = ~moved[ID].isin({uid, *containing})
            np.testing.assert_array_equal(
                moved.loc[others, "yhat"].to_numpy(), assumed.loc[others, "yhat"].to_numpy()
            )


@pytest.mark.slow
def test_training_on_a_dask_cluster_gives_the_local_forecasts(result, datasets) -> None:  # type: ignore[no-untyped-def]
    """Through the scheduler's address the fan-out runs on the cluster, with the same result."""
    from distributed import LocalCluster

    demand, trend = datasets
    local = run_training(result.config, demand, trend, n_jobs=2)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        remote = run_training(
            result.config, demand, trend, n_jobs=-1, dask_scheduler=cluster.scheduler_address
        )
        ran_there = [name for name in cluster.scheduler.task_prefixes if "run_chunk" in name]
    assert ran_there, "no fit ran on the cluster"
    pd.testing.assert_frame_equal(remote.forecasts, local.forecasts)
    pd.testing.assert_frame_equal(local.forecasts, result.forecasts)
