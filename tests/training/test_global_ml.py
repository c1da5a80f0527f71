"""Global models: protocol, determinism, no look-ahead, price and promotion, errors, pickling."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from features.errors import DataError
from features.schema import ID, TARGET, TIME
from training.base import check_panel, split_panel
from training.errors import NotFittedError, TrainingError
from training.models.global_ml import (
    GlobalLinear,
    GlobalRegressor,
    WindowSpec,
    flatten,
    known_features,
    training_pairs,
    window_features,
)

H = 7
FAST = {"max_iter": 40, "learning_rate": 0.2, "min_samples_leaf": 20}


def make_panel(
    n_series: int = 8, n_days: int = 160, *, seed: int = 0, uplift: float = 2.0
) -> pd.DataFrame:
    """Daily demand with a weekly profile, series of different levels and lengths, price and promo;
    a promotion multiplies demand by `uplift`."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 30)))
        ds = pd.date_range(start, periods=n_days - (start.day - 1), freq="D", unit="us")
        promo = (rng.random(len(ds)) < 0.2).astype("int64")
        weekly = np.array([0.8, 0.9, 0.9, 1.0, 1.1, 1.5, 0.8])[ds.day_of_week]
        mean = (5 + 20 * i) * weekly * np.where(promo == 1, uplift, 1.0)
        y = rng.poisson(mean).astype("float64")
        price = np.round(np.where(promo == 1, 2.0, 2.5) + 0.1 * i, 2)
        frames.append(
            pd.DataFrame({ID: f"s{i}", TIME: ds, TARGET: y, "price": price, "promo": promo})
        )
    return pd.concat(frames, ignore_index=True).astype({ID: "str"})


def future_of(panel: pd.DataFrame, h: int = H, promo: int = 0) -> pd.DataFrame:
    """Known-future rows for the h days after each series' end: its regular price, or the
    promotional one (0.5 less) with promo=1."""
    last = panel.groupby(ID)[TIME].max()
    regular = panel[panel["promo"] == 0].groupby(ID)["price"].last() if "promo" in panel else None
    rows = [
        (uid, end + pd.Timedelta(days=k), regular[uid] - 0.5 * promo if regular is not None else 0)
        for uid, end in last.items()
        for k in range(1, h + 1)
    ]
    future = pd.DataFrame(rows, columns=[ID, TIME, "price"])
    return future.astype({ID: "str", TIME: "datetime64[us]"}).assign(promo=promo)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return make_panel()


MODELS = [
    pytest.param(lambda **kw: GlobalRegressor(**FAST, **kw), id="hgb"),
    pytest.param(lambda **kw: GlobalRegressor(strategy="recursive", **FAST, **kw), id="hgb-rec"),
    pytest.param(lambda **kw: GlobalLinear(**kw), id="linear"),
]


@pytest.mark.parametrize("make", MODELS)
def test_forecasts_follow_the_protocol(make, panel: pd.DataFrame) -> None:
    """h non-negative rows per series on the days after its end, in the contract's columns."""
    model = make(country="DE", horizon=H).fit(panel)
    forecast = model.predict(H, future=future_of(panel))
    assert list(forecast.columns) == [ID, TIME, "model", "yhat"]
    assert len(forecast) == panel[ID].nunique() * H
    assert (forecast.groupby(ID).size() == H).all()
    assert forecast["model"].unique().tolist() == [model.alias_name]
    assert np.isfinite(forecast["yhat"]).all() and (forecast["yhat"] >= 0).all()
    first = forecast.groupby(ID)[TIME].min()
    assert (first == panel.groupby(ID)[TIME].max() + pd.Timedelta(days=1)).all()


def test_level_follows_each_series(panel: pd.DataFrame) -> None:
    """Normalised windows give each series forecasts near its own level, not a pooled average."""
    forecast = GlobalRegressor(**FAST).fit(panel).predict(H, future=future_of(panel))
    recent = panel.groupby(ID).tail(28).groupby(ID)[TARGET].mean()
    ratio = forecast.groupby(ID)["yhat"].mean() / recent
    assert ratio.between(0.6, 1.5).all(), ratio


def test_same_random_state_gives_identical_forecasts(panel: pd.DataFrame) -> None:
    """Fitting twice with one random_state gives the same forecasts; another seed samples others."""
    make = lambda seed: GlobalRegressor(**FAST, max_samples=2_000, random_state=seed)  # noqa: E731
    future = future_of(panel)
    first = make(0).fit(panel).predict(H, future=future)
    pd.testing.assert_frame_equal(first, make(0).fit(panel).predict(H, future=future))
    other = make(1).fit(panel).predict(H, future=future)
    assert not np.allclose(first["yhat"], other["yhat"])


def test_forecasts_beyond_the_trained_horizon_continue_the_first_block(panel: pd.DataFrame) -> None:
    """Past `horizon`, direct forecasts go on from their own; the first block is unchanged."""
    model = GlobalRegressor(**FAST, horizon=4).fit(panel)
    short = model.predict(4, future=future_of(panel, 4))
    long = model.predict(10, future=future_of(panel, 10))
    head = long.groupby(ID).head(4).reset_index(drop=True)
    np.testing.assert_allclose(head["yhat"], short["yhat"])
    assert long.groupby(ID).size().eq(10).all()


def test_training_targets_stay_inside_their_series() -> None:
    """Every example's origin + step lies in its own series, after min_history values."""
    lengths, starts = np.array([5, 30, 12, 1]), np.array([0, 5, 35, 47])
    for max_samples in (10_000, 50):
        origin, step = training_pairs(lengths, starts, 6, 3, max_samples, np.random.default_rng(0))
        series = np.searchsorted(starts, origin, side="right") - 1
        assert (origin >= starts[series] + 2).all()
        assert (origin + step <= starts[series] + lengths[series] - 1).all()
        assert ((step >= 1) & (step <= 6)).all() and len(origin) <= max_samples
    everything = training_pairs(lengths, starts, 6, 3, 10_000, np.random.default_rng(0))[0]
    assert len(everything) == (2 + 1) + (6 * 22 + 15) + (6 * 4 + 15)


def test_window_features_use_no_value_after_the_origin(panel: pd.DataFrame) -> None:
    """Rewriting every y after the origin leaves the example's features and scale unchanged."""
    panel = check_panel(panel)
    batch = split_panel(panel)
    spec = WindowSpec(14, 7, 7, (7, 14), False, True, ("price", "promo"))
    known = known_features(panel, "D", use_calendar=True, country="DE")
    rng = np.random.default_rng(0)
    origin, step = training_pairs(batch.lengths, batch.starts, 7, 7, 500, rng)
    rows = flatten(panel, known)
    features, scale = window_features(rows, origin, step, spec)
    for i in rng.choice(len(origin), 25, replace=False):
        series = np.searchsorted(batch.starts, origin[i], side="right") - 1
        end = batch.starts[series] + batch.lengths[series]
        changed = flatten(panel, known)
        changed.y[origin[i] + 1 : end] = rng.uniform(0, 1_000, end - origin[i] - 1)
        again, again_scale = window_features(changed, origin[i : i + 1], step[i : i + 1], spec)
        np.testing.assert_array_equal(again[0], features[i])
        assert again_scale[0] == scale[i]


@pytest.mark.parametrize("make", [MODELS[0], MODELS[2]])
def test_a_promotion_raises_the_forecast(make) -> None:
    """Where a promotion doubles demand, forecasts with promo=1 ahead are well above promo=0."""
    panel = make_panel(n_series=10, n_days=200, seed=1)
    model = make(horizon=H).fit(panel)
    with_promo = model.predict(H, future=future_of(panel, promo=1))
    without = model.predict(H, future=future_of(panel, promo=0))
    assert with_promo["yhat"].sum() > 1.4 * without["yhat"].sum()


def test_missing_future_exogenous_values_name_the_series(panel: pd.DataFrame) -> None:
    """A model fitted with price and promo refuses a future frame lacking some of their rows."""
    model = GlobalRegressor(**FAST).fit(panel)
    future = future_of(panel)
    gap = future[(future[ID] == "s3")].index[2:4]
    with pytest.raises(DataError, match=r"'s3': price, promo on"):
        model.predict(H, future=future.drop(index=gap))
    with pytest.raises(DataError, match="future="):
        model.predict(H)


def test_series_shorter_than_the_window_still_fit() -> None:
    """Lags older than every series' history are constant at fit and ignored at predict."""
    panel = make_panel(n_series=4, n_days=60)
    forecast = GlobalRegressor(**FAST, n_lags=90).fit(panel).predict(H, future=future_of(panel))
    assert np.isfinite(forecast["yhat"]).all() and len(forecast) == 4 * H


def test_a_panel_without_exogenous_needs_no_future() -> None:
    """Without price and promo columns the model forecasts from y (and the calendar) alone."""
    panel = make_panel(n_series=4).drop(columns=["price", "promo"])
    forecast = GlobalLinear(use_calendar=False).fit(panel).predict(H)
    assert len(forecast) == 4 * H and (forecast["yhat"] >= 0).all()


def test_pickles_and_exposes_its_parameters(panel: pd.DataFrame, tmp_path) -> None:
    """A joblib round trip forecasts the same; get_params and clone see the constructor's values."""
    model = GlobalRegressor(**FAST, n_lags=21, alias="g").fit(panel)
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    future = future_of(panel)
    pd.testing.assert_frame_equal(loaded.predict(H, future=future), model.predict(H, future=future))
    params = model.get_params()
    assert params["n_lags"] == 21 and params["max_iter"] == 40 and params["alias"] == "g"
    assert clone(model).get_params() == params
    assert GlobalLinear(alpha=3.0).get_params()["alpha"] == 3.0


def test_predict_before_fit_raises_not_fitted() -> None:
    """Forecasting with an unfitted model is a NotFittedError."""
    with pytest.raises(NotFittedError):
        GlobalRegressor().predict(H)


def test_an_unknown_strategy_is_refused(panel: pd.DataFrame) -> None:
    """Only "direct" and "recursive" strategies exist."""
    with pytest.raises(TrainingError, match="strategy"):
        GlobalLinear(strategy="dirrect").fit(panel)
