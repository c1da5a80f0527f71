"""New-product forecasts: group profiles, scaling by first sales, calibrated launch intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import ID, TARGET, TIME
from features.synthetic import make_demo_sales
from training.launch_backtest import simulate_launches
from training.launch_grid import Grid
from training.new_products import LaunchProfiles, launch_backtest
from training.pyfunc import ForecastBundle

H = 7


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three shops and a web shop, 150 days: no launches (so no ramp)."""
    demo = make_demo_sales(seed=5, n_stores=3, n_bakery_items=18, n_web_items=4, n_days=150)
    return demo.sales[[ID, TIME, TARGET]], demo.attributes


@pytest.fixture(scope="module")
def fitted(small: tuple[pd.DataFrame, pd.DataFrame]) -> LaunchProfiles:
    return LaunchProfiles().fit(*small, h=H)


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The default demo data (launched items included) and its launch backtest."""
    data = make_demo_sales()
    panel = data.sales[[ID, TIME, TARGET]]
    return panel, data.attributes, launch_backtest(panel, data.attributes, h=14)


def _new(category: str, store: str, uid: str = "new@x") -> pd.DataFrame:
    return pd.DataFrame({ID: [uid], "category": [category], "store": [store]})


def _hand_profile(panel: pd.DataFrame, attributes: pd.DataFrame, peers: list[str]) -> np.ndarray:
    """Median over peers of their mean per weekday over the last 56 days."""
    recent = panel[panel[TIME] > panel[TIME].max() - pd.Timedelta(days=56)]
    recent = recent[recent[ID].isin(peers)]
    means = recent.groupby([ID, recent[TIME].dt.day_of_week])[TARGET].mean().unstack()
    return means.median(axis=0).to_numpy()


def test_a_series_without_sales_is_forecast_by_its_group_profile(small, fitted) -> None:
    """No sales: the forecast is the category × store group's median weekday profile."""
    panel, attributes = small
    peers = attributes[(attributes["category"] == "bread") & (attributes["store"] == "shop-1")]
    assert len(peers) >= 3  # the group itself, no fallback
    expected = _hand_profile(panel, attributes, peers[ID].tolist())
    frame = fitted.predict(_new("bread", "shop-1"), pd.DataFrame(columns=[ID, TIME, TARGET]), H)
    assert (frame[TIME].iloc[0] - panel[TIME].max()).days == 1
    np.testing.assert_allclose(frame["yhat"], expected[frame[TIME].dt.day_of_week], rtol=1e-12)
    assert frame["n_observed"].iloc[0] == 0
    assert frame["profile_group"].iloc[0] == "category=bread/store=shop-1"


def test_sales_twice_the_profile_scale_the_forecast_by_the_shrunk_ratio(fitted) -> None:
    """With n days at 2x the profile the forecast is the profile x (1 + n / (n + k))."""
    profile, _ = fitted.profile_of({"category": "bread", "store": "shop-2"})
    days = pd.date_range(fitted.origin_ + pd.Timedelta(days=1), periods=5)
    actuals = pd.DataFrame({ID: "new@x", TIME: days, TARGET: 2 * profile[days.day_of_week]})
    frame = fitted.predict(_new("bread", "shop-2"), actuals, H, interval_levels=(80,))
    k = fitted.shrink_periods
    np.testing.assert_allclose(
        frame["yhat"], profile[frame[TIME].dt.day_of_week] * (1 + 5 / (5 + k)), rtol=1e-12
    )
    assert frame[TIME].iloc[0] == days[-1] + pd.Timedelta(days=1)
    assert (frame["yhat_lo_80"] <= frame["yhat"]).all() and (
        frame["yhat"] <= frame["yhat_hi_80"]
    ).all()


def test_unknown_attribute_values_fall_back_to_coarser_groups(fitted) -> None:
    """A category never seen uses the store's profile; nothing known uses all series."""
    _, group = fitted.profile_of({"category": "ice-cream", "store": "shop-1"})
    assert group == "store=shop-1"
    assert fitted.profile_of({"category": "x", "store": "y"})[1] == "all"


def test_intervals_are_wider_with_less_history(fitted) -> None:
    """Relative to the forecast, bounds at 0 observed days are wider than at 14."""
    profile, _ = fitted.profile_of({"category": "rolls", "store": "shop-1"})
    days = pd.date_range(fitted.origin_ + pd.Timedelta(days=1), periods=14)
    actuals = pd.DataFrame({ID: "new@x", TIME: days, TARGET: profile[days.day_of_week]})

    def relative_width(observed: pd.DataFrame) -> float:
        frame = fitted.predict(_new("rolls", "shop-1"), observed, H, interval_levels=(80,))
        return float(((frame["yhat_hi_80"] - frame["yhat_lo_80"]) / frame["yhat"].mean()).mean())

    assert relative_width(actuals.iloc[0:0]) > 1.3 * relative_width(actuals)


def test_a_series_own_future_never_changes_its_own_simulated_forecast(small) -> None:
    """No leakage: scaling one series' sales after its launch date x10 leaves its n=0 and
    its other replayed forecasts from the same first days unchanged."""
    panel, attributes = small
    profiles = LaunchProfiles()
    groupings = profiles.groupings(attributes)
    params = dict(
        h=H, window=56, min_peers=3, shrink_periods=1.0, ramp_length=84, n_origins=3, seed=0
    )
    before = simulate_launches(Grid.of(panel, attributes, groupings), ratios=None, **params)
    target = before[before["kind"] == "mature"]["series"].iloc[0]
    start = before[before["series"] == target]["first"].min()
    grid = Grid.of(panel, attributes, groupings)
    uid = grid.ids[target]
    changed = panel.copy()
    after_launch = (changed[ID] == uid) & (changed[TIME] >= grid.dates[start])
    changed.loc[after_launch, TARGET] *= 10
    after = simulate_launches(Grid.of(changed, attributes, groupings), ratios=None, **params)
    mine = (before["series"] == target) & (before["first"] == start) & (before["n"] == 0)
    np.testing.assert_allclose(after.loc[mine, "yhat"], before.loc[mine, "yhat"], rtol=1e-12)
    assert (after.loc[mine, TARGET] == 10 * before.loc[mine, TARGET]).all()


def test_bundles_saved_before_launch_profiles_load_without_them() -> None:
    """An old bundle's state has no `launch`: it loads, and new products are off."""
    bundle = ForecastBundle.__new__(ForecastBundle)
    bundle.__setstate__({"levels": pd.DataFrame(), "horizon": 7, "interval_levels": (80,)})
    assert bundle.launch is None


def test_launched_items_of_the_demo_are_covered_and_beat_the_group_mean(demo) -> None:
    """The demo's real launches, held out a cohort at a time: 80 % intervals cover 80 % ± 7
    points and 95 % ones at least 90 % in every bucket; MASE beats the group's flat mean."""
    *_, scores = demo
    launched = scores[scores["population"] == "launched"].set_index(["method", "bucket"])
    profile, naive = launched.loc["new_product"], launched.loc["group_mean"]
    assert (profile["n_series"] >= 30).all()
    assert profile["coverage_80"].between(0.73, 0.87).all(), profile
    assert (profile["coverage_95"] >= 0.90).all(), profile
    assert (profile["mase"] < naive["mase"]).all()
    assert profile.loc["14-27", "mase"] < profile.loc["0", "mase"]


def test_the_demo_launches_show_a_ramp(demo) -> None:
    """The generator's launches start near half their later level: the learned ramp too."""
    panel, attributes, _ = demo
    ramp = LaunchProfiles().fit(panel, attributes, h=14).ramp_
    assert 0.4 < ramp[0] < 0.7 and ramp[-1] > 0.85
