"""Reconciled forecasts add up at every level; the method is chosen on the backtest and kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import ID
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.pipeline import run_training
from training.reconcile import (
    METHODS,
    Reconciliation,
    _mint_shrink,
    hierarchy_of,
    shrunk_covariance,
)
from training.tracking import run_metrics, run_params


@pytest.fixture(scope="module")
def datasets():  # type: ignore[no-untyped-def]
    demo = make_demo_sales(seed=11, n_stores=2, n_bakery_items=4, n_web_items=2, n_days=150)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    return demand, build_trend_dataset(demand)


def _worst_gap(forecasts: pd.DataFrame, membership: pd.DataFrame, value: str = "yhat") -> float:
    """The largest relative difference between an aggregate's forecast and its members' sum."""
    wide = forecasts.pivot_table(index="ds", columns=ID, values=value)
    worst, checked = 0.0, 0
    for level in (c for c in membership.columns if c != ID):
        for aggregate, members in membership.groupby(level)[ID]:
            if aggregate in wide and aggregate not in set(members):
                summed = wide[list(members)].sum(axis=1)
                gap = (wide[aggregate] - summed).abs() / summed.abs().clip(lower=1e-9)
                worst, checked = max(worst, float(gap.max())), checked + 1
    assert checked >= 3, "no aggregate was checked"
    return worst


def _assert_nested_bounds(forecasts: pd.DataFrame, membership: pd.DataFrame) -> None:
    """Each aggregate's bounds lie within the sums of its members' bounds, around its mean."""
    mean = forecasts.pivot_table(index="ds", columns=ID, values="yhat")
    low = forecasts.pivot_table(index="ds", columns=ID, values="yhat_lo_95")
    high = forecasts.pivot_table(index="ds", columns=ID, values="yhat_hi_95")
    assert (low <= mean + 1e-9).all().all() and (high >= mean - 1e-9).all().all()
    for level in (c for c in membership.columns if c != ID):
        for aggregate, members in membership.groupby(level)[ID]:
            if aggregate in mean and aggregate not in set(members):
                members = list(members)
                assert (low[aggregate] >= low[members].sum(axis=1) - 1e-9).all(), aggregate
                assert (high[aggregate] <= high[members].sum(axis=1) + 1e-9).all(), aggregate


@pytest.mark.parametrize("method", [*METHODS, "auto"])
def test_every_aggregate_equals_the_sum_of_its_members(datasets, method: str) -> None:  # type: ignore[no-untyped-def]
    demand, trend = datasets
    config = TrainConfig.model_validate(
        {
            "model": {
                "horizon": 7,
                "members": ["dynamic_theta", "seasonal_naive"],
                "reconciliation": method,
            }
        }
    )
    result = run_training(config, demand, trend)
    reconciliation = result.model.reconciliation_
    assert reconciliation is not None
    assert _worst_gap(result.forecasts, trend.membership) < 1e-6
    _assert_nested_bounds(result.forecasts, trend.membership)
    if method == "auto":  # the better on the backtest, every method's score recorded
        scores = reconciliation.scores
        assert set(scores) == {"base", *METHODS}
        # the fewest levels made less accurate than the base forecasts, then the best score
        harmed = reconciliation.harmed
        assert reconciliation.method == min(METHODS, key=lambda m: (harmed[m], scores[m]))
    else:
        assert reconciliation.method == method
    assert run_params(result)["reconciliation.method"] == reconciliation.method
    assert f"reconciliation.{reconciliation.method}.level_mean_scaled_mae" in run_metrics(result)
    # the expected accuracy is that of the coherent forecasts the model serves
    combined = result.backtest[result.backtest["model"] == result.model.alias_name]
    for cutoff, window in combined.groupby("cutoff"):
        assert _worst_gap(window, trend.membership) < 1e-6, cutoff


def test_without_reconciliation_the_levels_do_not_add_up(datasets) -> None:  # type: ignore[no-untyped-def]
    demand, trend = datasets
    config = TrainConfig.model_validate(
        {"model": {"horizon": 7, "members": ["dynamic_theta"], "reconciliation": "none"}}
    )
    result = run_training(config, demand, trend)
    assert result.model.reconciliation_ is None
    assert _worst_gap(result.forecasts, trend.membership) > 1e-3
    assert run_params(result)["reconciliation.method"] == "none"


def _small_hierarchy():  # type: ignore[no-untyped-def]
    membership = pd.DataFrame(
        {
            ID: ["a", "b", "c"],
            "store": ["s1", "s1", "s2"],
            "total": ["total", "total", "total"],
        }
    )
    ids = np.array(["a", "b", "c", "s1", "s2", "total"], dtype=object)
    hierarchy = hierarchy_of(ids, membership)
    assert hierarchy is not None
    return ids, hierarchy


def test_coherent_forecasts_stay_as_they_are() -> None:
    """MinT is a projection onto coherent forecasts: S G S = S; bottom-up sums the bottom."""
    _, hierarchy = _small_hierarchy()
    summing = hierarchy.summing.toarray()
    np.testing.assert_array_equal(
        summing, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 1], [1, 1, 1]]
    )
    rng = np.random.default_rng(0)
    errors = rng.normal(size=(6, 40)) * np.array([1, 2, 3, 4, 5, 6])[:, None]
    combination = _mint_shrink(hierarchy, errors)
    np.testing.assert_allclose(combination @ summing, np.eye(3), atol=1e-9)
    coherent = summing @ np.array([[3.0, 4.0], [1.0, 0.5], [2.0, 2.0]])
    for reconciliation in (
        Reconciliation("mint_shrink", hierarchy, combination),
        Reconciliation("bottom_up", hierarchy),
    ):
        np.testing.assert_allclose(reconciliation.apply(coherent), coherent, atol=1e-9)
    base = coherent + rng.normal(size=coherent.shape)
    bottom_up = Reconciliation("bottom_up", hierarchy).apply(base)
    np.testing.assert_allclose(bottom_up[5], base[0] + base[1] + base[2])


def test_shrinkage_of_the_error_covariance() -> None:
    """Independent errors shrink towards the diagonal; strongly correlated ones keep theirs."""
    rng = np.random.default_rng(1)
    independent = rng.normal(size=(30, 4))
    shrunk = shrunk_covariance(independent)
    raw = independent.T @ independent / 30
    np.testing.assert_allclose(np.diag(shrunk), np.diag(raw))
    off = ~np.eye(4, dtype=bool)
    assert np.abs(shrunk[off]).max() < np.abs(raw[off]).max()
    common = rng.normal(size=(200, 1))
    correlated = common + 0.05 * rng.normal(size=(200, 4))
    kept = shrunk_covariance(correlated)
    np.testing.assert_allclose(kept, correlated.T @ correlated / 200, rtol=0.05)
    assert np.all(np.linalg.eigvalsh(kept) > 0)


def test_series_outside_the_hierarchy_leave_it_unreconciled() -> None:
    membership = pd.DataFrame({ID: ["a", "b"], "total": ["total", "total"]})
    assert hierarchy_of(np.array(["a", "b", "total", "stray"], dtype=object), membership) is None
    assert hierarchy_of(np.array(["a", "total"], dtype=object), membership) is None
    assert hierarchy_of(np.array(["a", "b", "total"], dtype=object), None) is None


def test_a_model_saved_before_reconciliation_loads_unreconciled(datasets) -> None:  # type: ignore[no-untyped-def]
    """A champion pickled by an older version has no `reconciliation`: it reads as "none", so
    the promotion gate re-scores it as it was trained."""
    import pickle

    from sklearn.base import clone

    demand, trend = datasets
    config = TrainConfig.model_validate({"model": {"horizon": 7, "members": ["seasonal_naive"]}})
    model = run_training(config, demand, trend).model
    state = model.__getstate__()
    for name in ("reconciliation", "reconciliation_"):
        state.pop(name)
    old = type(model).__new__(type(model))
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert clone(old).get_params()["reconciliation"] == "none"
    assert old.reconciliation == "none"
    assert old.predict(3)["yhat"].notna().all()


def test_the_backtest_scores_mint_weights_out_of_window() -> None:
    """Each backtest window is reconciled with weights fitted on the other windows' errors:
    changing what was sold in one window changes the other window's forecasts, not its own."""
    from training.reconcile import choose

    ids, hierarchy = _small_hierarchy()
    rng = np.random.default_rng(4)
    rows = []
    for cutoff in pd.to_datetime(["2026-01-01", "2026-02-01"]):
        for step in range(1, 8):
            bottom = rng.gamma(5.0, 2.0, 3)
            truth = hierarchy.summing.toarray() @ bottom
            for uid, y in zip(ids, truth, strict=True):
                rows.append(
                    {
                        ID: uid,
                        "ds": cutoff + pd.Timedelta(days=step),
                        "cutoff": cutoff,
                        "step": step,
                        "model": "default",
                        "y": y,
                        "yhat": y * rng.uniform(0.7, 1.3),
                    }
                )
    backtest = pd.DataFrame(rows)
    scale = np.ones(len(ids))
    _, first = choose(hierarchy, ids, backtest, scale, "mint_shrink")
    later = backtest["cutoff"] == backtest["cutoff"].max()
    changed = backtest.assign(y=np.where(later, backtest["y"] * 3.0, backtest["y"]))
    _, second = choose(hierarchy, ids, changed, scale, "mint_shrink")
    np.testing.assert_allclose(first.loc[later, "yhat"], second.loc[later, "yhat"])
    assert not np.allclose(first.loc[~later, "yhat"], second.loc[~later, "yhat"])


def test_a_hierarchy_with_mixed_origins_is_served_unreconciled(datasets) -> None:  # type: ignore[no-untyped-def]
    """One item moved forward by a new actual, its store not yet: summing step by step would
    add up different dates, so the base forecasts are served until the origins agree again."""
    from training.refresh import refreshed

    demand, trend = datasets
    config = TrainConfig.model_validate({"model": {"horizon": 7, "members": ["seasonal_naive"]}})
    result = run_training(config, demand, trend)
    model = result.model
    assert model.reconciliation_in_use() is not None
    history = trend.frame[["unique_id", "ds", "y"]]
    uid = str(trend.membership[ID].iloc[0])
    own = history[history[ID] == uid]
    extended = pd.concat(
        [
            own,
            pd.DataFrame({ID: [uid], "ds": [own["ds"].max() + pd.Timedelta(days=1)], "y": [3.0]}),
        ],
        ignore_index=True,
    )
    moved = refreshed(model, extended, freq=model.freq_)
    assert moved.reconciliation_in_use() is None
    forecasts = moved.predict(7)
    first = forecasts.groupby(ID)["ds"].min()
    assert first[uid] == own["ds"].max() + pd.Timedelta(days=2)
    assert (first.drop(uid) == own["ds"].max() + pd.Timedelta(days=1)).all()
    everyone = pd.concat(
        [
            history,
            history.groupby(ID, as_index=False)["ds"]
            .max()
            .assign(ds=lambda d: d["ds"] + pd.Timedelta(days=1), y=1.0),
        ],
        ignore_index=True,
    )
    again = refreshed(model, everyone, freq=model.freq_)
    assert again.reconciliation_in_use() is not None
    assert _worst_gap(again.predict(7), trend.membership) < 1e-6
