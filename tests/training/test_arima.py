"""AutoARIMA: SARIMAX's own forecasts from a few stored floats, and a stepwise search that works."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from model_panels import panel_of
from scipy.optimize._numdiff import approx_derivative
from sklearn.exceptions import NotFittedError
from statsmodels.tsa.statespace.sarimax import SARIMAX
from statsmodels.tsa.stattools import kpss

import training.models.arima as arima
from features.schema import ID
from training.models.arima import AutoARIMA, Order, css_jacobian, css_residuals, kpss_statistic


def ar1(n: int, phi: float, seed: int) -> np.ndarray:
    """A stationary AR(1) around 50."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal()
    return 50 + x


def seasonal_walk(n: int, m: int, seed: int) -> np.ndarray:
    """A random walk with drift plus a fixed strong season (D = 1 material)."""
    rng = np.random.default_rng(seed)
    season = np.resize(np.linspace(-20, 20, m), n)
    return 200 + np.cumsum(0.5 + rng.normal(0, 1, n)) + season + rng.normal(0, 1, n)


def statsmodels_forecast(y: np.ndarray, state: arima.ArimaState, h: int) -> np.ndarray:
    """SARIMAX's forecast with our parameters (simple differencing), undifferenced by hand."""
    p, d, q, P, D, Q, m = state.order
    seasonal = (P, D, Q, m) if P + D + Q else (0, 0, 0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SARIMAX(
            y,
            order=(p, d, q),
            seasonal_order=seasonal,
            trend="c" if state.constant else "n",
            simple_differencing=True,
            concentrate_scale=True,
        )
        w = np.asarray(model.filter(np.array(state.params)).forecast(h))
    delta = np.array([1.0])
    for _ in range(d):
        delta = np.convolve(delta, [1.0, -1.0])
    for _ in range(D):
        delta = np.convolve(delta, np.r_[1.0, np.zeros(m - 1), -1.0])
    history = list(y)
    for value in w:
        history.append(value - sum(delta[i] * history[-i] for i in range(1, len(delta))))
    return np.array(history[len(y) :])


def test_forecasts_equal_sarimax_for_the_chosen_orders() -> None:
    """Stored params + predicted state + tail reproduce SARIMAX's forecasts, seasonal or not."""
    series = {
        "ar": ar1(120, 0.7, 0),
        "seasonal": seasonal_walk(60, 4, 1),
        "drift": ar1(40, 0.99, 2),
    }
    model = AutoARIMA(season_length=4).fit(panel_of(series, "QS"))
    states = dict(zip(model.unique_ids_, model.states_, strict=True))
    assert states["seasonal"].order[4] == 1 and states["ar"].constant
    for uid, y in series.items():
        ours = arima.forecast_state(states[uid], 10)
        expected = statsmodels_forecast(y, states[uid], 10)
        np.testing.assert_allclose(ours, expected, rtol=1e-8, err_msg=uid)


def test_kpss_matches_statsmodels() -> None:
    """Our KPSS statistic is statsmodels' with the same truncation lag."""
    y = ar1(100, 0.9, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = kpss(y, regression="c", nlags=int(3 * np.sqrt(100) / 13))[0]
    assert kpss_statistic(y) == pytest.approx(expected, rel=1e-12)


def test_css_jacobian_is_the_derivative_of_the_residuals() -> None:
    """The analytic Jacobian equals finite differences for a seasonal ARMA with a mean."""
    w = np.random.default_rng(0).normal(size=60) + 3
    order, params = Order(2, 1, 1, 1, True), np.array([0.3, -0.2, 0.4, 0.2, -0.3, 2.0])
    numeric = approx_derivative(lambda x: css_residuals(x, w, order, 4), params)
    np.testing.assert_allclose(css_jacobian(params, w, order, 4), numeric, atol=1e-6)


def test_orders_are_found_on_simulated_data() -> None:
    """Stepwise mostly finds AR(1) with a mean; a drifting walk gets d = 1, a season D = 1."""
    limits = {"max_p": 5, "max_q": 5, "max_P": 2, "max_Q": 2, "max_order": 5}
    found = [arima.stepwise(ar1(300, 0.6, seed), 1, True, limits, 30)[0] for seed in range(8)]
    assert sum(order == Order(1, 0, 0, 0, True) for order in found) >= 5  # AICc overfits some
    assert all(order.p >= 1 and order.constant for order in found)
    walk = np.cumsum(1 + np.random.default_rng(0).normal(0, 1, 150))
    assert arima.differencing_orders(walk, 1, 2, 0) == (1, 0)
    assert arima.differencing_orders(seasonal_walk(80, 4, 6), 4, 2, 1)[1] == 1
    assert arima.differencing_orders(ar1(200, 0.2, 1), 4, 2, 1) == (0, 0)


def test_search_stays_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """No more than `budget` candidate fits per series."""
    calls = []
    original = arima.fit_css
    monkeypatch.setattr(arima, "fit_css", lambda *a: calls.append(a[1]) or original(*a))
    AutoARIMA(season_length=4, budget=6).fit(panel_of({"a": seasonal_walk(60, 4, 7)}, "QS"))
    assert 1 <= len(calls) <= 6


@pytest.mark.parametrize("refit", [True, False])
def test_short_constant_and_non_positive_series_give_finite_forecasts(refit: bool) -> None:
    """Series of 1 to 14 points, constant, or with zeros and negatives never crash."""
    rng = np.random.default_rng(8)
    series = {f"n{n}": 5.0 + np.arange(n) ** 1.1 for n in (1, 2, 4, 6, 14)}
    series |= {"constant": np.full(20, 3.0), "negative": rng.normal(0, 5, 30)}
    series["zeros"] = np.resize([0.0, 4.0, 0.0, 9.0], 24)
    model = AutoARIMA(season_length=4, refit=refit).fit(panel_of(series, "QS"))
    forecast = model.predict(8)
    assert np.isfinite(forecast["yhat"]).all() and (forecast["yhat"] >= 0).all()
    np.testing.assert_allclose(forecast.loc[forecast[ID] == "constant", "yhat"], 3.0)


def test_fitted_model_pickles_small() -> None:
    """A fitted model costs a few hundred bytes per series."""
    panel = panel_of({f"s{i}": seasonal_walk(48, 4, i) for i in range(10)}, "QS")
    assert len(pickle.dumps(AutoARIMA(season_length=4).fit(panel))) / 10 < 600


def test_params_validation_and_not_fitted() -> None:
    """get_params lists the constructor; a zero budget is refused; predict before fit raises."""
    assert AutoARIMA(budget=7).get_params()["budget"] == 7
    assert AutoARIMA().alias_name == "auto_arima"
    with pytest.raises(NotFittedError):
        AutoARIMA().predict(3)
    with pytest.raises(ValueError, match="budget"):
        AutoARIMA(budget=0).fit(panel_of({"a": ar1(30, 0.5, 0)}))
