"""Lags, rolling statistics and EWM of y, checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from panels import make_panel

from features.errors import DataError
from features.lags import ewm_features, lag_features, rolling_features
from features.schema import ID, TARGET, TIME

NAN = np.nan


def _tiny(*series: list[float]) -> pd.DataFrame:
    """Daily series a, b, ... with the given values, all starting on 2024-01-01."""
    frames = [
        pd.DataFrame(
            {ID: chr(ord("a") + i), TIME: pd.date_range("2024-01-01", periods=len(y)), TARGET: y}
        )
        for i, y in enumerate(series)
    ]
    return pd.concat(frames, ignore_index=True).astype({ID: "str", TARGET: "float64"})


def _close(actual: pd.Series, expected: list[float]) -> None:
    np.testing.assert_allclose(actual.to_numpy(), np.array(expected, dtype=float), rtol=1e-12)


def test_lags_at_horizon_two_use_y_up_to_t_minus_two() -> None:
    panel = _tiny([1, 2, 4, 8, 16, 32])
    lags = lag_features(panel, [2, 3], h=2)
    assert list(lags.columns) == ["y_lag_2", "y_lag_3"]
    _close(lags["y_lag_2"], [NAN, NAN, 1, 2, 4, 8])
    _close(lags["y_lag_3"], [NAN, NAN, NAN, 1, 2, 4])


def test_lags_stop_at_series_boundaries() -> None:
    panel = _tiny([1, 2, 3], [10, 20, 30, 40])
    _close(lag_features(panel, [1])["y_lag_1"], [NAN, 1, 2, NAN, 10, 20, 30])
    _close(lag_features(panel, [5])["y_lag_5"], [NAN] * 7)


def test_lags_below_the_horizon_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"\[1, 2\].*h=3.*would use the future"):
        lag_features(_tiny([1, 2, 3]), [1, 2, 3, 7], h=3)


@pytest.mark.parametrize("lags", [[0], [-1], [1.5]])
def test_lags_must_be_positive_integers(lags: list) -> None:
    with pytest.raises(ValueError, match="positive integers"):
        lag_features(_tiny([1, 2, 3]), lags)


@pytest.mark.parametrize("h", [0, -1, 1.0, True])
def test_horizon_must_be_a_positive_integer(h: object) -> None:
    with pytest.raises(ValueError, match="h must be"):
        lag_features(_tiny([1, 2, 3]), [3], h=h)


def test_rolling_window_ends_h_periods_before_the_row() -> None:
    y = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    roll = rolling_features(_tiny(y), [3], h=1)
    assert list(roll.columns) == ["y_roll_mean_3", "y_roll_std_3", "y_roll_min_3", "y_roll_max_3"]
    # row 3 sees y[0:3] = 1, 2, 4; row 5 sees y[2:5] = 4, 8, 16
    _close(roll["y_roll_mean_3"], [NAN, NAN, NAN, 7 / 3, 14 / 3, 28 / 3])
    _close(roll["y_roll_min_3"], [NAN, NAN, NAN, 1, 2, 4])
    _close(roll["y_roll_max_3"], [NAN, NAN, NAN, 4, 8, 16])
    std = [np.std(y[t - 3 : t], ddof=1) for t in (3, 4, 5)]
    _close(roll["y_roll_std_3"], [NAN, NAN, NAN, *std])

    later = rolling_features(_tiny(y), [3], h=2, stats=["mean", "sum"])
    _close(later["y_roll_mean_3"], [NAN, NAN, NAN, NAN, 7 / 3, 14 / 3])
    _close(later["y_roll_sum_3"], [NAN, NAN, NAN, NAN, 7, 14])


def test_rolling_stays_within_each_series_and_honours_min_periods() -> None:
    panel = _tiny([1, 3, 5], [100, 200, 300, 400])
    roll = rolling_features(panel, [2], stats=["mean"], min_periods=1)
    _close(roll["y_roll_mean_2"], [NAN, 1, 2, NAN, 100, 150, 250])


def test_rolling_skips_missing_values() -> None:
    panel = _tiny([1, NAN, 3, 5])
    roll = rolling_features(panel, [3], stats=["mean", "max"], min_periods=2)
    _close(roll["y_roll_mean_3"], [NAN, NAN, NAN, 2])
    _close(roll["y_roll_max_3"], [NAN, NAN, NAN, 3])


def test_rolling_refuses_unknown_stats_and_bad_windows() -> None:
    with pytest.raises(ValueError, match="skew"):
        rolling_features(_tiny([1, 2]), [2], stats=["mean", "skew"])
    with pytest.raises(ValueError, match="windows"):
        rolling_features(_tiny([1, 2]), [0])


def test_ewm_with_alpha_one_is_the_lag_h() -> None:
    panel = _tiny([1, 2, 4, 8], [5, 6])
    ewm = ewm_features(panel, [1.0, 0.5], h=2)
    assert list(ewm.columns) == ["y_ewm_1", "y_ewm_0.5"]
    _close(ewm["y_ewm_1"], [NAN, NAN, 1, 2, NAN, NAN])
    # adjusted EWM of (1, 2) with alpha 0.5: (2 + 0.5 * 1) / (1 + 0.5)
    _close(ewm["y_ewm_0.5"], [NAN, NAN, 1, 2.5 / 1.5, NAN, NAN])
    with pytest.raises(ValueError, match="alphas"):
        ewm_features(panel, [0.0])


def test_features_keep_the_panel_index() -> None:
    panel = make_panel("W")
    panel.index = pd.Index([f"row{i}" for i in range(len(panel))])
    for frame in (
        lag_features(panel, [1, 52]),
        rolling_features(panel, [4]),
        ewm_features(panel, [0.3]),
    ):
        assert frame.index.equals(panel.index)


def test_match_a_groupby_shift_on_a_ragged_panel() -> None:
    panel = make_panel("D", lengths=(50, 9, 1, 30), offsets=(0, 3, 40, 12), missing=0.1)
    lags = lag_features(panel, [1, 7, 10], h=1)
    for k in (1, 7, 10):
        expected = panel.groupby(ID)[TARGET].shift(k)
        pd.testing.assert_series_equal(lags[f"y_lag_{k}"], expected, check_names=False)
    roll = rolling_features(panel, [5], h=3, stats=["mean"])
    shifted = panel.groupby(ID)[TARGET].shift(3)
    expected = shifted.groupby(panel[ID]).transform(lambda s: s.rolling(5).mean())
    pd.testing.assert_series_equal(roll["y_roll_mean_5"], expected, check_names=False)


def test_an_unsorted_or_interleaved_panel_is_refused() -> None:
    panel = _tiny([1, 2, 3], [4, 5])
    with pytest.raises(DataError, match="strictly increasing"):
        lag_features(panel.iloc[[1, 0, 2, 3, 4]], [1])
    with pytest.raises(DataError, match="grouped"):
        lag_features(panel.iloc[[0, 3, 1, 4, 2]], [1])
    with pytest.raises(DataError, match=TARGET):
        lag_features(panel.drop(columns=TARGET), [1])
