"""Period totals: the conformal rank by hand, windows of backtest sums, pools, and coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import ID, TARGET, TIME
from features.synthetic import make_demo_sales
from training.backtest import Windows, cross_validation
from training.base import central_interval_of, check_interval_levels
from training.errors import TrainingError
from training.intervals import naive_scales
from training.models import MODELS
from training.orders import total_errors
from training.period_totals import Pool, period_total, pool_for, resolvable, window_errors


def test_bounds_and_quantiles_take_the_conformal_rank_by_hand() -> None:
    # 19 scaled errors -9..9, series scale 2, forecasts 10 + 10 + 10 = 30.
    # 80 %: tails of 10 %, rank ceil(20 * 0.9) = 18 -> upper error 8, lower error -8.
    # 97.5 % quantile: rank ceil(20 * 0.975) = 20, capped at the 19th (largest) error, 9.
    pool = Pool(np.arange(-9.0, 10.0), "level")
    total = period_total(np.array([10.0, 10.0, 10.0]), 2.0, pool, [80], [10, 50, 90, 97.5])
    assert total.mean == 30.0
    assert total.bounds == {80: (30.0 - 16.0, 30.0 + 16.0)}
    assert total.quantiles == {10: 14.0, 50: 30.0, 90: 46.0, 97.5: 48.0}
    assert total.capped_levels == () and total.capped_quantiles == (97.5,)
    # a wide spread cannot push a total below zero
    low = period_total(np.array([10.0, 10.0, 10.0]), 5.0, pool, [80], [2.5])
    assert low.bounds[80][0] == 0.0 and low.quantiles[2.5] == 0.0


def test_a_pool_resolves_a_level_only_with_enough_errors() -> None:
    # 95 %: p = 0.975 needs n >= 0.975 / 0.025 = 39; 80 %: p = 0.9 needs n >= 9
    assert not resolvable(38, 95) and resolvable(39, 95)
    assert not resolvable(8, 80) and resolvable(9, 80)


def test_quantile_levels_map_to_central_interval_bounds() -> None:
    assert central_interval_of(97.5) == (95, "hi")
    assert central_interval_of(2.5) == (95, "lo")
    assert central_interval_of(99.9) == (99.8, "hi")
    assert central_interval_of(50) is None
    assert check_interval_levels([95.0, 80, 97.5]) == (80, 95, 97.5)
    for bad in (0, 100, 1e-12, 100 - 1e-12):
        with pytest.raises(TrainingError, match="between 0 and 100"):
            central_interval_of(bad)


def _backtest() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": ["a"] * 3 + ["b"] * 3,
            "cutoff": pd.Timestamp("2026-01-01"),
            "step": [1, 2, 3] * 2,
            "model": "default",
            "y": [10.0, 12.0, 8.0, 100.0, 90.0, 110.0],
            "yhat": [9.0, 10.0, 10.0, 95.0, 100.0, 100.0],
        }
    )


def test_a_window_total_sums_the_errors_of_its_steps_only() -> None:
    scale = pd.Series({"a": 2.0, "b": 10.0})
    levels = pd.Series({"a": "series", "b": "series"})
    errors = total_errors(_backtest(), "default", scale, levels, max_periods=3)["series"]
    # a: errors 1, 2, -2 over scale 2; b: 5, -10, 10 over scale 10
    np.testing.assert_allclose(window_errors(errors, 2, 3), [0.0, 0.0])
    np.testing.assert_allclose(window_errors(errors, 2, 2), [1.0, -1.0])
    np.testing.assert_allclose(window_errors(errors, 1, 2), [1.5, -0.5])
    with pytest.raises(TrainingError, match="outside the backtest"):
        window_errors(errors, 2, 4)


def test_a_small_level_borrows_the_errors_of_every_level() -> None:
    scale = pd.Series({"a": 2.0, "b": 10.0})
    levels = pd.Series({"a": "series", "b": "store"})
    errors = total_errors(_backtest(), "default", scale, levels, max_periods=3)
    own = pool_for(errors, "store", 2, 2, min_pool=1)
    assert own.source == "level" and own.errors.tolist() == [-1.0]
    shared = pool_for(errors, "store", 2, 2, min_pool=2)
    assert shared.source == "all levels" and shared.errors.tolist() == [-1.0, 1.0]


@pytest.fixture(scope="module")
def backtest_of_demo() -> tuple[pd.DataFrame, pd.Series]:
    """16 rolling origins (3 days apart, 7 days each) of a seasonal naive on 28 demo series."""
    demo = make_demo_sales(seed=5, n_stores=3, n_bakery_items=8, n_web_items=4, n_days=240)
    panel = demo.sales[[ID, TIME, TARGET]].sort_values([ID, TIME], ignore_index=True)
    cv = cross_validation(
        MODELS["seasonal_naive"](), panel, Windows(h=7, n_windows=16, step=3), freq="D"
    )
    return cv, naive_scales(panel)


def test_totals_intervals_cover_held_out_series_at_their_level(
    backtest_of_demo: tuple[pd.DataFrame, pd.Series],
) -> None:
    """Calibrated on 14 series, the 80 % interval of 7-day and 3..6-day totals covers about 80 %
    of the other 14 series' actual totals (mean over 20 random halvings within 5 points; one
    halving alone varies by +-15 points: the errors of one origin are correlated)."""
    cv, scale = backtest_of_demo
    model = str(cv["model"].iloc[0])
    ids = np.array(sorted(cv[ID].unique()))
    levels = pd.Series("series", index=ids)
    rng = np.random.default_rng(0)
    for first, last in ((1, 7), (3, 6)):
        coverage = []
        for _ in range(20):
            half = set(rng.permutation(ids)[: len(ids) // 2])
            calibrating = cv[cv[ID].isin(half)]
            errors = total_errors(calibrating, model, scale, levels, max_periods=7)
            pool = pool_for(errors, "series", first, last)
            held_out = cv[~cv[ID].isin(half) & cv["step"].between(first, last)]
            sums = held_out.groupby([ID, "cutoff"]).agg(y=(TARGET, "sum"), yhat=("yhat", "sum"))
            hits = []
            for (uid, _cutoff), row in sums.iterrows():
                total = period_total(np.array([row["yhat"]]), float(scale[uid]), pool, [80])
                low, high = total.bounds[80]
                hits.append(low <= row["y"] <= high)
            coverage.append(np.mean(hits))
        assert np.mean(coverage) == pytest.approx(0.80, abs=0.05), (first, last)
