"""The default forecaster: one backtest, a combination, conformal intervals and final fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import ID, TARGET, TIME
from features.synthetic import make_small_panel
from training.auto import AutoForecaster
from training.errors import TrainingError
from training.models import TSB, Drift, Naive, SeasonalNaive


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """Daily bakery sales of a few products."""
    return make_small_panel(seed=3, n_series=6, n_days=150).sales[[ID, TIME, TARGET]]


def test_median_combination_is_the_median_of_the_members(panel: pd.DataFrame) -> None:
    """The combined forecast equals the median of the members' own forecasts."""
    members = [Naive(), SeasonalNaive(), Drift()]
    auto = AutoForecaster(members, combination="median", h=7).fit(panel)
    combined = auto.predict(7)
    own = pd.concat([m.fit(panel).predict(7) for m in members])
    expected = own.groupby([ID, TIME])["yhat"].median().clip(lower=0).to_numpy()
    assert np.allclose(combined.sort_values([ID, TIME])["yhat"], expected)


def test_backtest_keeps_every_member_and_the_combination(panel: pd.DataFrame) -> None:
    """The expected accuracy shown to users comes from this backtest frame."""
    auto = AutoForecaster([Naive(), SeasonalNaive()], h=7, n_windows=3, alias="default").fit(panel)
    models = set(auto.backtest_["model"])
    assert models == {"naive", "seasonal_naive", "default"}
    assert auto.backtest_.groupby("model")["window"].nunique().eq(3).all()


def test_per_series_weights_favour_the_better_member(panel: pd.DataFrame) -> None:
    """With inverse-error weights, a series' weights sum to one and favour the lower error."""
    auto = AutoForecaster([Naive(), SeasonalNaive()], combination="inverse_error", h=7).fit(panel)
    weights = auto.weights_
    assert np.allclose(weights.sum(axis=1), 1.0)
    errors = auto.backtest_.assign(e=(auto.backtest_[TARGET] - auto.backtest_["yhat"]).abs())
    mae = errors.pivot_table(index=ID, columns="model", values="e")
    better = mae["naive"] < mae["seasonal_naive"]
    assert ((weights["naive"] > 0.5) == better).all()


def test_members_need_distinct_names(panel: pd.DataFrame) -> None:
    """Two members with the same alias would be indistinguishable in the backtest."""
    with pytest.raises(TrainingError, match="distinct"):
        AutoForecaster([Naive(), Naive()], h=7).fit(panel)


def test_intermittent_series_go_to_the_intermittent_model() -> None:
    """Slow movers are forecast by the intermittent model; regular series by the combination."""
    rng = np.random.default_rng(7)
    days = pd.date_range("2024-01-01", periods=120)
    regular = pd.DataFrame({ID: "bread", TIME: days, TARGET: rng.poisson(30, 120).astype(float)})
    slow = np.zeros(120)
    slow[rng.choice(120, 12, replace=False)] = rng.integers(1, 6, 12)
    sparse = pd.DataFrame({ID: "gift-box", TIME: days, TARGET: slow})
    panel = pd.concat([regular, sparse], ignore_index=True)
    auto = AutoForecaster([Naive(), Drift()], h=7, intermittent=TSB()).fit(panel)
    assert list(auto.sparse_ids_) == ["gift-box"]
    forecast = auto.predict(7, interval_levels=(80,)).set_index(ID)
    own = TSB().fit(sparse).predict(7)
    assert np.allclose(forecast.loc["gift-box", "yhat"], own["yhat"])
    regular_mean = np.median(
        [Naive().fit(regular).predict(7)["yhat"], Drift().fit(regular).predict(7)["yhat"]], axis=0
    )
    assert np.allclose(forecast.loc["bread", "yhat"], regular_mean)
    assert set(auto.backtest_[auto.backtest_["model"] == "default"][ID]) == {"bread", "gift-box"}
