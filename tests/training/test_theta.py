"""Theta: statsmodels' forecasts for the standard method, Fiorucci's recursions for the others."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from model_panels import panel_of
from scipy.optimize import minimize
from sklearn.exceptions import NotFittedError
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.seasonal import seasonal_decompose
from statsmodels.tsa.stattools import acf as sm_acf

from features.schema import ID
from training.models.seasonality import classical_decomposition, seasonality_test
from training.models.theta import (
    DynamicOptimizedTheta,
    Theta,
    fit_fiorucci,
    forecast_fiorucci,
    linear_coefficients,
    profile_theta,
)

PATTERN = np.array([0.6, 0.8, 1.0, 1.2, 1.4, 1.0, 0.9, 1.1, 1.3, 0.9, 0.7, 1.1])


def seasonal_series(seed: int = 0, n: int = 72) -> np.ndarray:
    """A trending positive monthly series with a strong multiplicative season."""
    rng = np.random.default_rng(seed)
    level = 100 + 0.8 * np.arange(n) + rng.normal(0, 2, n).cumsum()
    return level * np.resize(PATTERN, n) * rng.normal(1, 0.03, n)


def naive_fiorucci(y: np.ndarray, level0: float, alpha: float, theta: float, dynamic: bool, h: int):
    """Fiorucci et al.'s recursions step by step: (in-sample SSE from t = 3, forecasts)."""
    n = len(y)
    a_all, b_all = linear_coefficients(y, False)
    level, mean_y = alpha * y[0] + (1 - alpha) * level0, y[0]
    a, b = (y[0], 0.0) if dynamic else (a_all[0], b_all[0])
    sse, out = 0.0, []
    for i in range(1, n + h):
        mu = level + (1 - 1 / theta) * (
            a * (1 - alpha) ** i + b * (1 - (1 - alpha) ** (i + 1)) / alpha
        )
        value = y[i] if i < n else mu
        if i < n and i >= 3:
            sse += (value - mu) ** 2
        if i >= n:
            out.append(mu)
        level = alpha * value + (1 - alpha) * level
        previous, mean_y = mean_y, (i * mean_y + value) / (i + 1)
        if dynamic:
            b = ((i - 1) * b + 6 * (value - previous) / (i + 1)) / (i + 2)
            a = mean_y - b * (i + 2) / 2
    return sse, np.array(out)


def test_standard_forecasts_equal_statsmodels_theta() -> None:
    """method="standard" gives ThetaModel's own forecasts (multiplicative decomposition on)."""
    y = seasonal_series()
    ours = Theta(season_length=12, method="standard").fit(panel_of({"a": y})).predict(18)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ThetaModel(y, period=12, deseasonalize=True, use_test=False, method="mul").fit()
        expected = np.asarray(res.forecast(18))
    np.testing.assert_allclose(ours["yhat"].to_numpy(), expected, rtol=1e-9)


@pytest.mark.parametrize("dynamic", [False, True])
def test_optimised_theta_matches_the_step_by_step_recursion(dynamic: bool) -> None:
    """OTM/DOTM: our SSE and forecasts equal the written-out recursion, and no optimum is better."""
    rng = np.random.default_rng(3)
    y = 50 + 0.7 * np.arange(40) + rng.normal(0, 3, 40).cumsum()
    state = fit_fiorucci(y, dynamic)
    a, b = linear_coefficients(y, dynamic)
    sse, level0, _ = profile_theta(y, a, b, state.alpha, None)
    naive_sse, naive_forecast = naive_fiorucci(y, level0, state.alpha, state.theta, dynamic, 8)
    assert sse == pytest.approx(naive_sse, rel=1e-9)
    np.testing.assert_allclose(forecast_fiorucci(state, 8), naive_forecast, rtol=1e-9)

    def objective(x: np.ndarray) -> float:
        return naive_fiorucci(y, x[0], x[1], x[2], dynamic, 1)[0]

    start = np.array([y[0] / 2, 0.5, 2.0])
    bounds = [(None, None), (0.1, 0.99), (1.0, 50.0)]
    brute = minimize(
        objective, start, method="Nelder-Mead", bounds=bounds, options={"maxiter": 4000}
    )
    assert sse <= brute.fun * (1 + 1e-6)


def test_dynamic_coefficients_follow_fiorucci_updates() -> None:
    """The expanding OLS line equals DOTM's recursive A_t, B_t updates."""
    y = np.random.default_rng(1).normal(size=30).cumsum()
    a, b = linear_coefficients(y, True)
    big_a, big_b, mean_y = [y[0]], [0.0], y[0]
    for i in range(1, len(y)):
        slope = ((i - 1) * big_b[-1] + 6 * (y[i] - mean_y) / (i + 1)) / (i + 2)
        mean_y = (i * mean_y + y[i]) / (i + 1)
        big_b.append(slope)
        big_a.append(mean_y - slope * (i + 2) / 2)
    np.testing.assert_allclose(b, big_b, atol=1e-12)
    np.testing.assert_allclose(a, big_a, atol=1e-12)


def test_seasonality_test_is_the_m3_test() -> None:
    """The 90 % test on r_m uses 1 + 2 sum r_k^2 and switches on for seasonal data only."""
    rng = np.random.default_rng(0)
    seasonal = seasonal_series()
    assert seasonality_test(seasonal, 12)
    noise_rate = np.mean([seasonality_test(rng.normal(0, 1, 72), 12) for _ in range(400)])
    assert 0.005 < noise_rate < 0.10  # a (conservative) 10 % test on white noise
    r = sm_acf(seasonal, nlags=12, fft=False)
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(r[1:12] ** 2)) / len(seasonal))
    assert (abs(r[12]) > limit) == seasonality_test(seasonal, 12)
    assert not seasonality_test(seasonal[:30], 12)  # fewer than three seasons: never seasonal


def test_decomposition_matches_statsmodels() -> None:
    """Classical decomposition gives seasonal_decompose's trend and seasonal indices."""
    y = seasonal_series(n=50)
    for model, multiplicative in (("mul", True), ("add", False)):
        trend, indices = classical_decomposition(y, 12, multiplicative)
        expected = seasonal_decompose(y, model=model, period=12)
        np.testing.assert_allclose(trend, expected.trend, rtol=1e-12)
        np.testing.assert_allclose(indices[np.arange(50) % 12], expected.seasonal, rtol=1e-12)


@pytest.mark.parametrize("method", ["standard", "optimized", "dynamic", "auto"])
def test_seasonal_data_is_deseasonalised_and_flat_data_is_not(method: str) -> None:
    """The test switches decomposition on for a seasonal series and off for a non-seasonal one."""
    rng = np.random.default_rng(2)
    panel = panel_of({"flat": 100 + rng.normal(0, 1, 72), "seasonal": seasonal_series()})
    model = Theta(season_length=12, method=method).fit(panel)
    flat, seasonal = model.states_
    assert flat.season is None and seasonal.season is not None
    forecast = model.predict(12)
    assert np.corrcoef(forecast.loc[forecast[ID] == "seasonal", "yhat"], PATTERN)[0, 1] > 0.9


@pytest.mark.parametrize("method", ["standard", "dynamic"])
def test_short_constant_and_non_positive_series_give_finite_forecasts(method: str) -> None:
    """Series of 1 to 5 points, constant, with zeros or negative values never crash."""
    rng = np.random.default_rng(4)
    zeros = np.resize([0.0, 5.0, 0.0, 8.0, 1.0, 0.0], 48) + rng.poisson(1, 48)
    series = {f"n{n}": np.arange(1.0, n + 1) for n in (1, 2, 3, 5)}
    series |= {"constant": np.full(30, 4.0), "zeros": zeros, "negative": rng.normal(0, 5, 40)}
    forecast = Theta(season_length=12, method=method).fit(panel_of(series)).predict(8)
    assert np.isfinite(forecast["yhat"]).all() and (forecast["yhat"] >= 0).all()
    constant = forecast.loc[forecast[ID] == "constant", "yhat"]
    np.testing.assert_allclose(constant, 4.0)


def test_fitted_model_pickles_small() -> None:
    """A fitted model costs a few hundred bytes per series."""
    panel = panel_of({f"s{i}": seasonal_series(i) for i in range(20)})
    for model in (Theta(season_length=12), DynamicOptimizedTheta(season_length=12)):
        size = len(pickle.dumps(model.fit(panel)))
        assert size / 20 < 400


def test_params_and_not_fitted() -> None:
    """get_params lists the constructor; predict before fit raises NotFittedError."""
    model = DynamicOptimizedTheta(season_length=4)
    assert model.get_params()["method"] == "dynamic" and model.alias_name == "dynamic_theta"
    with pytest.raises(NotFittedError):
        Theta().predict(3)
    with pytest.raises(ValueError, match="method"):
        Theta(method="magic").fit(panel_of({"a": seasonal_series()}))
