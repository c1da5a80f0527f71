"""A feature for period t never uses data after t: change the future, the features up to t stay.

For a forecast h periods ahead the target is only known up to t - h, so the checker rewrites y
after t - h and the (planned, known-in-advance) exogenous values after t, also drops the rows
after t and appends new ones, and requires the features of every row with ds <= t to be
identical. Deliberately leaky builders show that the checker does catch leaks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panels import (
    extend_future,
    make_panel,
    periods_before,
    rewrite_future,
    truncate_future,
)

from features.builders import (
    build_feature_frame,
    default_lags,
    feature_matrix,
    feature_names,
)
from features.calendar_features import calendar_features, holiday_features
from features.errors import DataError
from features.exog import join_static, price_promo_features
from features.lags import ewm_features, lag_features, rolling_features
from features.schema import FREQUENCY_ORDER, ID, TARGET, TIME

Builder = Callable[[pd.DataFrame], pd.DataFrame]

STATIC = pd.DataFrame(
    {ID: ["s0", "s1", "s2"], "category": ["toys", "food", "toys"], "store": ["n", "s", "s"]}
).astype("str")
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None)


def _up_to(features: pd.DataFrame, panel: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The feature rows of periods up to `cutoff`, after checking they line up with the panel."""
    assert len(features) == len(panel)
    assert features.index.equals(panel.index)
    return features[(panel[TIME] <= cutoff).to_numpy()].reset_index(drop=True)


def assert_no_leak(
    build: Builder,
    panel: pd.DataFrame,
    freq: str,
    cutoff: pd.Timestamp,
    *,
    h: int = 1,
    seed: int = 0,
) -> None:
    """Fail unless features up to `cutoff` ignore y after cutoff - h and all else after cutoff."""
    y_after = periods_before(cutoff, freq, h)
    rewritten = rewrite_future(panel, y_after=y_after, exog_after=cutoff, seed=seed)
    variants = {
        "rewritten": rewritten,
        "truncated": truncate_future(rewritten, cutoff),
        "extended": extend_future(rewritten, freq, 4, seed + 1, after=cutoff),
    }
    reference = _up_to(build(panel), panel, cutoff)
    for name, variant in variants.items():
        got = _up_to(build(variant), variant, cutoff)
        try:
            pd.testing.assert_frame_equal(got, reference, check_exact=True)
        except AssertionError as exc:
            raise AssertionError(
                f"feature leak: the future was {name} after {cutoff}: {exc}"
            ) from None


def _builders(freq: str, h: int) -> dict[str, Builder]:
    """Every feature builder, configured for frequency `freq` and horizon `h`."""
    return {
        "calendar": lambda p: calendar_features(p[TIME], freq),
        "holidays": lambda p: holiday_features(p[TIME], freq, country="DE"),
        "lags": lambda p: lag_features(p, default_lags(freq, h), h=h),
        "rolling": lambda p: rolling_features(p, [1, 3, 7], h=h),
        "ewm": lambda p: ewm_features(p, [0.2, 1.0], h=h),
        "price_promo": lambda p: price_promo_features(p, windows=(2, 6)),
        "static": lambda p: join_static(p, STATIC),
        "feature_frame": lambda p: feature_matrix(
            build_feature_frame(p, freq=freq, h=h, country="DE", static=STATIC, ewm_alphas=(0.5,))
        ),
    }


BUILDER_NAMES = list(_builders("D", 1))


@pytest.mark.parametrize("freq", FREQUENCY_ORDER)
@pytest.mark.parametrize("name", BUILDER_NAMES)
@pytest.mark.parametrize("h", [1, 3])
def test_builder_ignores_the_future(name: str, freq: str, h: int) -> None:
    panel = make_panel(freq, lengths=(40, 30, 18), offsets=(0, 6, 14), missing=0.05)
    grid = np.sort(panel[TIME].unique())
    for cutoff in (grid[3], grid[20], grid[-2]):  # before s2 starts, mid-way, near the end
        assert_no_leak(_builders(freq, h)[name], panel, freq, pd.Timestamp(cutoff), h=h)


# --- the checker catches leaky builders ----------------------------------------------------------


def _centred_mean(p: pd.DataFrame) -> pd.DataFrame:
    """A classic leak: a rolling mean centred on the row, so it reads the next period."""
    roll = p.groupby(ID)[TARGET].rolling(3, center=True, min_periods=1).mean()
    return pd.DataFrame({"y_centred": roll.to_numpy()}, index=p.index)


def _unshifted_mean(p: pd.DataFrame) -> pd.DataFrame:
    """The rolling mean of y including the row itself: it reads the target it should predict."""
    roll = p.groupby(ID)[TARGET].rolling(3, min_periods=1).mean()
    return pd.DataFrame({"y_mean": roll.to_numpy()}, index=p.index)


def _series_mean(p: pd.DataFrame) -> pd.DataFrame:
    """Target encoding with the whole series' mean: every row sees the future."""
    return pd.DataFrame({"y_series_mean": p.groupby(ID)[TARGET].transform("mean")})


def _next_price(p: pd.DataFrame) -> pd.DataFrame:
    """Next period's price: planned prices are known, but not beyond the period being forecast."""
    return pd.DataFrame({"next_price": p.groupby(ID)["price"].shift(-1)})


def _short_lag(p: pd.DataFrame) -> pd.DataFrame:
    """Lag 1 used for a 3-period horizon: y after the forecast origin."""
    return pd.DataFrame({"y_lag_1": p.groupby(ID)[TARGET].shift(1)})


@pytest.mark.parametrize(
    ("leaky", "h"),
    [
        (_centred_mean, 1),
        (_unshifted_mean, 1),
        (_series_mean, 1),
        (_next_price, 1),
        (_short_lag, 3),
    ],
)
def test_checker_catches_a_leaky_builder(leaky: Builder, h: int) -> None:
    panel = make_panel("D")
    cutoff = panel[TIME].iloc[25]
    with pytest.raises(AssertionError, match="feature leak"):
        assert_no_leak(leaky, panel, "D", cutoff, h=h)


def test_lags_below_the_horizon_are_refused_rather_than_leaked() -> None:
    panel = make_panel("D")
    with pytest.raises(ValueError, match="would use the future"):
        build_feature_frame(panel, freq="D", h=7, lags=[1, 7])


# --- the same property over random panels, cutoffs, lags and horizons ----------------------------


@st.composite
def leak_cases(draw: st.DrawFn) -> dict:
    """A random panel (1-3 series, ragged starts and ends, some missing y) and its settings."""
    freq = draw(st.sampled_from(FREQUENCY_ORDER))
    n = draw(st.integers(1, 3))
    lengths = draw(st.lists(st.integers(1, 35), min_size=n, max_size=n))
    offsets = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    h = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    panel = make_panel(freq, lengths, offsets, seed=seed, missing=draw(st.sampled_from([0, 0.2])))
    grid = np.sort(panel[TIME].unique())
    return {
        "panel": panel,
        "freq": freq,
        "h": h,
        "cutoff": pd.Timestamp(grid[draw(st.integers(0, len(grid) - 1))]),
        "lags": draw(st.lists(st.integers(h, h + 10), min_size=1, max_size=4)),
        "windows": draw(st.lists(st.integers(1, 8), min_size=1, max_size=3)),
        "seed": seed,
    }


@PROPERTY
@given(case=leak_cases())
def test_autoregressive_features_never_leak(case: dict) -> None:
    lags, windows, h = case["lags"], case["windows"], case["h"]

    def build(p: pd.DataFrame) -> pd.DataFrame:
        parts = [
            lag_features(p, lags, h=h),
            rolling_features(p, windows, h=h, min_periods=1),
            ewm_features(p, [0.3], h=h),
        ]
        return pd.concat(parts, axis=1)

    assert_no_leak(build, case["panel"], case["freq"], case["cutoff"], h=h, seed=case["seed"])


@PROPERTY
@given(case=leak_cases())
def test_exogenous_and_calendar_features_never_leak(case: dict) -> None:
    freq, windows = case["freq"], case["windows"]

    def build(p: pd.DataFrame) -> pd.DataFrame:
        parts = [
            calendar_features(p[TIME], freq),
            holiday_features(p[TIME], freq, country="FR"),
            price_promo_features(p, windows=windows),
            join_static(p, STATIC),
        ]
        return pd.concat(parts, axis=1)

    assert_no_leak(build, case["panel"], freq, case["cutoff"], seed=case["seed"])


@PROPERTY
@given(case=leak_cases())
def test_feature_frame_never_leaks(case: dict) -> None:
    freq, h = case["freq"], case["h"]

    def build(p: pd.DataFrame) -> pd.DataFrame:
        frame = build_feature_frame(
            p, freq=freq, h=h, lags=case["lags"], windows=case["windows"], country="US"
        )
        return feature_matrix(frame)

    assert_no_leak(build, case["panel"], freq, case["cutoff"], h=h, seed=case["seed"])


# --- the combined frame --------------------------------------------------------------------------


def test_feature_frame_keeps_the_panel_rows_index_and_columns() -> None:
    panel = make_panel("W")
    panel.index = pd.Index(np.arange(len(panel))[::-1] * 10)
    frame = build_feature_frame(panel, freq="W", h=2, country="DE", static=STATIC)
    assert frame.index.equals(panel.index)
    pd.testing.assert_frame_equal(frame[panel.columns], panel)
    names = feature_names(frame)
    assert {"price", "promo", "week_of_year", "holidays_in_period", "category"} <= set(names)
    assert {"y_lag_2", "y_roll_mean_4", "price_rel_mean_13", "periods_since_promo"} <= set(names)
    assert not {ID, TIME, TARGET} & set(names)
    assert names == [c for c in frame.columns if c in set(names)]
    assert isinstance(frame["category"].dtype, pd.CategoricalDtype)


@pytest.mark.parametrize("freq", FREQUENCY_ORDER)
@pytest.mark.parametrize("h", [1, 2, 5, 14, 60])
def test_default_lags_start_at_the_horizon(freq: str, h: int) -> None:
    lags = default_lags(freq, h)
    assert min(lags) == h
    assert len(lags) >= 3
    assert lags == sorted(set(lags))


def test_default_features_per_frequency() -> None:
    assert default_lags("D", 1) == [1, 2, 3, 7, 14, 21, 28]
    assert default_lags("D", 10) == [10, 14, 21, 28]
    assert default_lags("W", 1) == [1, 2, 3, 4, 8, 13, 26, 52]
    assert default_lags("M", 4) == [4, 6, 12]
    assert default_lags("Q", 3) == [3, 4, 8]
    assert default_lags("Y", 1) == [1, 2, 3]
    frame = build_feature_frame(make_panel("M", exog=False), freq="M", h=1)
    assert "y_roll_mean_3" in frame
    assert "y_roll_max_12" in frame
    assert "price" not in frame


def test_feature_frame_refuses_clashing_names() -> None:
    panel = make_panel("D").rename(columns={"price": "month"})
    with pytest.raises(DataError, match="month"):
        build_feature_frame(panel, freq="D", h=1)


def test_feature_frame_passes_known_exogenous_columns_through() -> None:
    panel = make_panel("D").assign(temperature_forecast=1.5)
    frame = build_feature_frame(panel, freq="D", h=1, known_exog=["temperature_forecast"])
    assert "temperature_forecast" in feature_names(frame)
    with pytest.raises(DataError, match="not in the panel"):
        build_feature_frame(panel, freq="D", h=1, known_exog=["rain"])


def test_feature_frame_refuses_an_unsorted_panel() -> None:
    panel = make_panel("D").sample(frac=1.0, random_state=0)
    with pytest.raises(DataError, match="sort"):
        build_feature_frame(panel, freq="D", h=1)
