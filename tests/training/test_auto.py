"""The default forecaster: one backtest, a combination, conformal intervals and final fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import ID, TARGET, TIME
from features.synthetic import make_small_panel
from training.auto import AutoForecaster
from training.errors import TrainingError
from training.models import Drift, Naive, SeasonalNaive


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
