"""Order quantities against hand computations: empirical and normal quantiles, a newsvendor."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from training.errors import TrainingError
from training.orders import OrderPolicy, demand_over, suggest_order, total_errors


def test_empirical_quantile_order_by_hand() -> None:
    # 19 possible demands 10, 20, ..., 190 over 3 periods; 95 %: rank ceil(20 * 0.95) = 19
    forecast = np.array([30.0, 30.0, 40.0, 99.0])
    errors = np.full((4, 19), np.nan)
    errors[2] = (np.arange(1, 20) * 10 - 100) / 5.0  # scaled by the series' scale of 5
    mean, samples = demand_over(forecast, 5.0, errors, periods=3)
    assert mean == 100.0
    np.testing.assert_allclose(np.sort(samples), np.arange(1, 20) * 10)
    policy = OrderPolicy(lead_time=2, review_period=1, service_level=0.95, pack_size=12)
    order = suggest_order(mean, samples, inventory_position=35.0, policy=policy)
    assert order.demand_quantile == 190.0
    assert order.order_quantity == 12 * math.ceil((190 - 35) / 12)  # 156
    stock = 35 + 156
    assert order.stockout_risk == 0.0
    assert order.expected_leftover == pytest.approx(np.mean(stock - np.arange(1, 20) * 10))
    # 80 %: rank ceil(20 * 0.8) = 16 -> 160; the minimum order lifts a small need
    low = suggest_order(mean, samples, 150.0, OrderPolicy(2, 1, 0.8, min_order=25))
    assert low.demand_quantile == 160.0 and low.order_quantity == 25.0
    assert low.stockout_risk == pytest.approx(2 / 19)  # demands 180 and 190 exceed 175
    covered = suggest_order(mean, samples, 500.0, policy)
    assert covered.order_quantity == 0.0 and covered.expected_leftover == pytest.approx(400.0)


def test_normal_quantile_order_by_hand() -> None:
    samples = np.array([80.0, 90.0, 100.0, 110.0, 120.0])
    sd = float(np.std(samples, ddof=1))  # 15.811
    policy = OrderPolicy(lead_time=1, review_period=1, service_level=0.9)
    order = suggest_order(100.0, samples, 20.0, policy, distribution="normal")
    z = stats.norm.ppf(0.9)
    assert order.demand_quantile == pytest.approx(100 + z * sd)
    assert order.order_quantity == math.ceil(100 + z * sd - 20)
    stock = 20 + order.order_quantity
    k = (stock - 100) / sd
    assert order.stockout_risk == pytest.approx(1 - stats.norm.cdf(k))
    shortage = sd * (stats.norm.pdf(k) - k * (1 - stats.norm.cdf(k)))
    assert order.expected_shortage == pytest.approx(shortage)
    assert order.expected_leftover == pytest.approx(shortage + stock - 100)


def test_newsvendor_ratio_for_perishables() -> None:
    # bread: cost 1.20, price 3.50, nothing back for a stale loaf -> ratio 2.30 / 3.50
    policy = OrderPolicy(lead_time=0, review_period=1, unit_cost=1.2, unit_price=3.5)
    probability, rule = policy.target_probability()
    assert rule == "newsvendor" and probability == pytest.approx(2.3 / 3.5)
    samples = np.arange(1.0, 100.0)  # 99 equally likely demands
    order = suggest_order(50.0, samples, 0.0, policy)
    assert order.demand_quantile == math.ceil(100 * 2.3 / 3.5)  # rank 66 -> demand 66
    salvage = OrderPolicy(0, 1, unit_cost=1.2, unit_price=3.5, salvage_value=0.5)
    assert salvage.target_probability()[0] == pytest.approx(2.3 / 3.0)
    with pytest.raises(TrainingError):
        OrderPolicy(0, 1, unit_cost=3.0, unit_price=2.0).target_probability()


def test_total_errors_are_scaled_sums_of_the_backtest_errors() -> None:
    backtest = pd.DataFrame(
        {
            "unique_id": ["a"] * 3 + ["b"] * 3,
            "cutoff": pd.Timestamp("2026-01-01"),
            "step": [1, 2, 3] * 2,
            "model": "default",
            "y": [10.0, 12.0, 8.0, 100.0, 90.0, 110.0],
            "yhat": [9.0, 10.0, 10.0, 95.0, 100.0, 100.0],
        }
    )
    scale = pd.Series({"a": 2.0, "b": 10.0})
    levels = pd.Series({"a": "series", "b": "store"})
    errors = total_errors(backtest, "default", scale, levels, max_periods=3)
    np.testing.assert_allclose(errors["series"][:, 0], [1 / 2, 3 / 2, 1 / 2])
    np.testing.assert_allclose(errors["store"][:, 0], [0.5, -0.5, 0.5])


def test_a_protection_period_beyond_the_forecast_is_refused() -> None:
    with pytest.raises(TrainingError, match="outside the forecast"):
        demand_over(np.ones(7), 1.0, np.zeros((7, 3)), periods=8)
