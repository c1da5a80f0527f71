"""AutoETS: our fast estimator agrees with statsmodels, and the AICc search picks the right form."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from model_panels import panel_of
from sklearn.exceptions import NotFittedError
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from features.schema import ID
from training.models.ets import (
    AutoETS,
    fit_fast,
    forecast_state,
    initial_states,
    profiled_errors,
    valid_forms,
)

SM_ARGS = {
    "ANN": {"error": "add"},
    "AAN": {"error": "add", "trend": "add"},
    "AAdN": {"error": "add", "trend": "add", "damped_trend": True},
}


def simulate(n: int, alpha: float, beta: float, phi: float, trend: float, seed: int) -> np.ndarray:
    """A path of ETS(A,Ad,N) (ANN with beta = trend = 0) from level 100, noise sd 2."""
    rng = np.random.default_rng(seed)
    level, slope, out = 100.0, trend, []
    for _ in range(n):
        fit = level + phi * slope
        err = rng.normal(0, 2)
        out.append(fit + err)
        level, slope = fit + alpha * err, phi * slope + beta * err
    return np.array(out)


def seasonal_series(n: int = 48, seed: int = 0) -> np.ndarray:
    """A positive quarterly series with a growing multiplicative season."""
    rng = np.random.default_rng(seed)
    level = 200 + 2.0 * np.arange(n) + rng.normal(0, 3, n).cumsum()
    return level * np.resize([0.7, 1.1, 1.4, 0.8], n) * rng.normal(1, 0.02, n)


def sm_model(y: np.ndarray, form: str) -> ETSModel:
    """statsmodels' ETSModel for one of the fast forms."""
    return ETSModel(y, **SM_ARGS[form])


@pytest.mark.parametrize("form", ["ANN", "AAN", "AAdN"])
def test_fast_forecasts_equal_statsmodels_for_the_same_parameters(form: str) -> None:
    """Our final states reproduce ETSModel.smooth(params).forecast exactly."""
    y = simulate(60, 0.4, 0.1, 0.9, 1.5, seed=1)
    state, params = fit_fast(y, form)
    x0 = initial_states(form, params, y, profiled_errors(form, params, y))
    smoothing = [params[0]]
    if form != "ANN":
        smoothing.append(params[0] * params[1])
    if form == "AAdN":
        smoothing.append(params[2])
    sm_params = np.r_[smoothing, x0[0], x0[1:] if form != "ANN" else []]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sm_model(y, form).smooth(sm_params).forecast(12)
    np.testing.assert_allclose(forecast_state(state, 12), expected, rtol=1e-9)


@pytest.mark.parametrize("form", ["ANN", "AAdN"])
def test_fast_fit_reaches_the_statsmodels_maximum_likelihood(form: str) -> None:
    """Profiling the initial states finds ETSModel.fit's AICc (or better) and its forecasts."""
    y = simulate(80, 0.3, 0.1, 0.95, 2.0, seed=2)
    state, _ = fit_fast(y, form)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sm_model(y, form).fit(disp=False)
    assert state.aicc <= result.aicc + 1e-6
    assert state.aicc == pytest.approx(result.aicc, rel=1e-4)
    np.testing.assert_allclose(forecast_state(state, 10), result.forecast(10), rtol=1e-3)


def test_listed_forms_use_statsmodels_and_forecast_the_same() -> None:
    """forms=["MAM"] keeps ETSModel's final states: forecasts equal its own."""
    y = seasonal_series()
    ours = AutoETS(season_length=4, forms=["MAM"]).fit(panel_of({"a": y}, "QS")).predict(9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ETSModel(y, error="mul", trend="add", seasonal="mul", seasonal_periods=4)
        expected = model.fit(disp=False).forecast(9)
    np.testing.assert_allclose(ours["yhat"].to_numpy(), expected, rtol=1e-9)


def test_aicc_picks_the_simulated_form() -> None:
    """Level-only data gets ANN, strongly trending damped data gets AAdN (seeded simulations)."""
    level_only = {f"l{s}": simulate(80, 0.3, 0.0, 1.0, 0.0, seed=s) for s in range(5)}
    trending = {f"t{s}": simulate(60, 0.5, 0.2, 0.95, 4.0, seed=s) for s in range(5)}
    model = AutoETS(season_length=1).fit(panel_of(level_only | trending))
    forms = dict(zip(model.unique_ids_, (state.form for state in model.states_), strict=True))
    assert sum(forms[f"l{s}"] == "ANN" for s in range(5)) >= 4
    assert all(forms[f"t{s}"] == "AAdN" for s in range(5))


def test_full_search_finds_multiplicative_seasonality() -> None:
    """forms="all" on a multiplicative seasonal series picks a seasonal form."""
    model = AutoETS(season_length=4, forms="all").fit(panel_of({"a": seasonal_series()}, "QS"))
    assert model.states_[0].form[-1] in "AM" and model.states_[0].form[-1] != "N"


def test_seasonality_test_switches_decomposition() -> None:
    """The pruned search deseasonalises a seasonal series and leaves a flat one alone."""
    rng = np.random.default_rng(5)
    panel = panel_of({"flat": 300 + rng.normal(0, 5, 48), "seasonal": seasonal_series()}, "QS")
    flat, seasonal = AutoETS(season_length=4).fit(panel).states_
    assert flat.season is None and seasonal.season is not None and seasonal.season.multiplicative


def test_valid_forms_follow_hyndman_restrictions() -> None:
    """No A-error with M-season; multiplicative only for positive data; seasons need 2 cycles."""
    positive = valid_forms(np.arange(1.0, 30), 4, True, None)
    assert "ANM" not in positive and "AAdM" not in positive and "MAM" in positive
    assert len(positive) == 15
    with_zero = valid_forms(np.arange(0.0, 30), 4, True, None)
    assert all("M" not in form for form in with_zero)
    assert all(form.endswith("N") for form in valid_forms(np.arange(1.0, 7), 4, True, None))
    assert all(form[1:-1] != "A" for form in valid_forms(np.arange(1.0, 30), 4, True, True))


@pytest.mark.parametrize("forms", ["auto", "all"])
def test_short_constant_and_non_positive_series_give_finite_forecasts(forms: str) -> None:
    """Series of 1 to 9 points, constant, or with zeros and negatives never crash."""
    rng = np.random.default_rng(6)
    series = {f"n{n}": 5.0 + np.arange(n) for n in (1, 2, 3, 4, 6, 9)}
    series |= {"constant": np.full(20, 3.0), "negative": rng.normal(0, 5, 30)}
    series["zeros"] = np.resize([0.0, 4.0, 0.0, 9.0], 24)
    forecast = AutoETS(season_length=4, forms=forms).fit(panel_of(series, "QS")).predict(6)
    assert np.isfinite(forecast["yhat"]).all() and (forecast["yhat"] >= 0).all()
    np.testing.assert_allclose(forecast.loc[forecast[ID] == "constant", "yhat"], 3.0)


def test_fitted_model_pickles_small() -> None:
    """A fitted model costs a few hundred bytes per series."""
    panel = panel_of({f"s{i}": seasonal_series(seed=i) for i in range(20)}, "QS")
    assert len(pickle.dumps(AutoETS(season_length=4).fit(panel))) / 20 < 400


def test_params_validation_and_not_fitted() -> None:
    """get_params lists the constructor; bad forms are refused; predict before fit raises."""
    assert AutoETS(damped=True).get_params()["damped"] is True
    assert AutoETS().alias_name == "auto_ets"
    with pytest.raises(NotFittedError):
        AutoETS().predict(3)
    with pytest.raises(ValueError, match="form"):
        AutoETS(forms=["AXN"]).fit(panel_of({"a": seasonal_series()}, "QS"))
