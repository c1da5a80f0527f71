"""Drift of served forecasts against the backtest, and the expected-accuracy summary, checked
against values computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anticipation_cases import BASE, day, history_of, row_of, served, served_points, windows

from serving.anticipation import (
    BIAS_BAND,
    DRIFT_RULE,
    MIN_POINTS,
    TOO_FEW,
    drift,
    expected_summary,
    realized,
)

DRIFT_COLUMNS = [
    "drift",
    "reason",
    "n_points",
    "window_start",
    "window_end",
    "realized_mase",
    "mase_threshold",
    "threshold_rule",
    "n_windows",
    "expected_mase",
    "realized_bias",
    "bias_band",
]


def test_drift_when_realized_mase_exceeds_the_90th_percentile_of_the_windows() -> None:
    """MASE 2 over 8 points against windows 0.5..1.0 (p90 = 0.95) drifts for MASE, not bias."""
    points, history = served([3.0, -3.0] * 4)  # |e| = 3 -> MASE 3 / 1.5 = 2; bias 0
    expected = windows("a", [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    out = drift(points, history, expected, season_length=1)
    assert list(out.columns) == ["unique_id", *DRIFT_COLUMNS]
    row = row_of(out, unique_id="a")
    # p90 of 6 values, linear: position 0.9 * 5 = 4.5 -> 0.9 + 0.5 * (1.0 - 0.9) = 0.95
    assert row["mase_threshold"] == pytest.approx(0.95)
    assert row["threshold_rule"] == "p90 of backtest windows"
    assert row["n_windows"] == 6
    assert row["expected_mase"] == pytest.approx(0.75)
    assert row["realized_mase"] == pytest.approx(2.0)
    assert row["realized_bias"] == pytest.approx(0.0)
    assert row["n_points"] == MIN_POINTS
    assert row["drift"]
    assert row["reason"] == "mase"
    assert row["window_start"] == day(7)
    assert row["window_end"] == day(14)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_drift_when_bias_stays_beyond_twenty_percent(sign: float) -> None:
    """Errors of +/-2.5 on actuals of 10 (bias +/-25 %) drift for bias under a MASE of 1.67."""
    points, history = served([sign * 2.5] * 8)
    expected = windows("a", [2.0] * 5)  # p90 = 2 > 2.5 / 1.5
    row = row_of(drift(points, history, expected, season_length=1), unique_id="a")
    assert row["realized_mase"] == pytest.approx(2.5 / 1.5)
    assert row["mase_threshold"] == pytest.approx(2.0)
    assert row["realized_bias"] == pytest.approx(sign * 0.25)
    assert row["bias_band"] == BIAS_BAND
    assert row["drift"]
    assert row["reason"] == "bias"


def test_both_rules_broken_name_both_reasons() -> None:
    """A MASE and a bias breach together give the reason mase+bias."""
    points, history = served([3.0] * 8)  # MASE 2, bias 30 %
    row = row_of(drift(points, history, windows("a", [1.0] * 5), 1), unique_id="a")
    assert row["drift"]
    assert row["reason"] == "mase+bias"


def test_no_drift_inside_both_limits() -> None:
    """MASE under the threshold and bias inside +/-20 % is no drift, with no reason."""
    points, history = served([1.5, -1.5] * 4)  # MASE 1, bias 0
    row = row_of(drift(points, history, windows("a", [1.0] * 5 + [2.0]), 1), unique_id="a")
    assert row["realized_mase"] == pytest.approx(1.0)
    assert row["mase_threshold"] == pytest.approx(1.5)  # 1.0 + 0.5 * (2.0 - 1.0)
    assert not row["drift"]
    assert pd.isna(row["reason"])


def test_fewer_than_eight_scored_points_is_never_drift() -> None:
    """Seven wildly wrong points are too few for a verdict."""
    points, history = served([10.0] * (MIN_POINTS - 1))
    row = row_of(drift(points, history, windows("a", [0.5] * 5), 1), unique_id="a")
    assert row["n_points"] == MIN_POINTS - 1
    assert row["realized_mase"] == pytest.approx(10 / 1.5)
    assert not row["drift"]
    assert row["reason"] == TOO_FEW


def test_unscored_points_do_not_count_towards_the_minimum() -> None:
    """Eight served points of which one has no actual yet are still too few."""
    points, history = served([10.0] * MIN_POINTS)
    points.loc[7, "y"] = np.nan
    row = row_of(drift(points, history, windows("a", [0.5] * 5), 1), unique_id="a")
    assert row["n_points"] == MIN_POINTS - 1
    assert row["reason"] == TOO_FEW


def test_a_series_with_no_actuals_yet_is_listed_without_a_verdict() -> None:
    """Served but unscored series appear with zero points and no drift."""
    points, history = served([10.0] * MIN_POINTS)
    points["y"] = np.nan
    row = row_of(drift(points, history, windows("a", [0.5] * 5), 1), unique_id="a")
    assert row["n_points"] == 0
    assert not row["drift"]
    assert row["reason"] == TOO_FEW


@pytest.mark.parametrize(("error", "drifts"), [(1.8, False), (2.1, True)])
def test_fewer_than_five_windows_use_one_and_a_half_times_the_mean(
    error: float, drifts: bool
) -> None:
    """Windows 0.8 and 1.0: threshold 1.5 x 0.9 = 1.35, not their p90 (0.98)."""
    points, history = served([error, -error] * 4)  # MASE = error / 1.5: 1.2 or 1.4
    row = row_of(drift(points, history, windows("a", [0.8, 1.0]), 1), unique_id="a")
    assert row["n_windows"] == 2
    assert row["expected_mase"] == pytest.approx(0.9)
    assert row["mase_threshold"] == pytest.approx(1.35)
    assert row["threshold_rule"] == "1.5 x backtest mean"
    assert row["realized_mase"] == pytest.approx(error / 1.5)
    assert row["drift"] == drifts


def test_drift_looks_only_at_the_most_recentserved_points() -> None:
    """Old bad forecasts fall out of the window of the last max(8, h) target dates."""
    bad, _ = served([5.0] * 8)  # days 7..14, MASE 3.3
    good = served_points("a", "r2", [10.0] * 8, [10.0] * 8, origin=14)  # days 15..22, perfect
    history = history_of({"a": BASE + [10.0] * 16})
    points = pd.concat([bad, good], ignore_index=True)
    row = row_of(drift(points, history, windows("a", [1.0] * 5), 1), unique_id="a")
    assert row["n_points"] == 8
    assert row["window_start"] == day(15)
    assert row["window_end"] == day(22)
    assert row["realized_mase"] == 0.0
    assert not row["drift"]
    # the whole record would be biased: 40 over-forecast units on 160 actuals
    assert realized(points, history, 1).loc[0, "bias"] == pytest.approx(40 / 160)


def test_the_window_covers_one_horizon_when_it_is_longer_than_eight() -> None:
    """A 10-step forecast is judged on all its 10 target dates."""
    points, history = served([1.5] * 10)
    row = row_of(drift(points, history, windows("a", [1.0] * 5), 1), unique_id="a")
    assert row["n_points"] == 10
    assert row["window_end"] - row["window_start"] == pd.Timedelta(days=9)


def test_drift_of_a_level_pools_its_member_series_per_window() -> None:
    """A level's window MASE is the mean of its series' MASE in that window."""
    a, history_a = served([3.0, -3.0] * 4, uid="a")  # MASE 2
    b, history_b = served([3.0, -3.0] * 4, uid="b")
    points = pd.concat([a, b], ignore_index=True)
    history = pd.concat([history_a, history_b], ignore_index=True)
    # windows: a 1.0, 1.2 and b 3, 4 at the same two cutoffs -> level windows 2, 2.6
    expected = pd.concat([windows("a", [1.0, 1.2]), windows("b", [3.0, 4.0])])
    out = drift(points, history, expected, season_length=1, by=("level",))
    assert list(out.columns) == ["level", *DRIFT_COLUMNS]
    row = row_of(out, level="item")
    assert row["n_windows"] == 2
    assert row["expected_mase"] == pytest.approx(2.3)
    assert row["mase_threshold"] == pytest.approx(1.5 * 2.3)
    assert row["n_points"] == 16
    assert row["realized_mase"] == pytest.approx(2.0)
    assert not row["drift"]
    by_series = drift(points, history, expected, season_length=1)
    assert row_of(by_series, unique_id="a")["drift"]  # 2 > 1.5 x 1.1
    assert not row_of(by_series, unique_id="b")["drift"]  # 2 < 1.5 x 3.5


def test_drift_by_model_version_and_overall() -> None:
    """Model versions and the overall group get one row each with the same rule."""
    a, history = served([3.0, -3.0] * 4, version="7")
    expected = windows("a", [1.0] * 5)
    out = drift(a, history, expected, season_length=1, by=("model_version",))
    assert list(out.columns) == ["model_version", *DRIFT_COLUMNS]
    assert row_of(out, model_version="7")["reason"] == "mase"
    overall = drift(a, history, expected, season_length=1, by=())
    assert list(overall.columns) == DRIFT_COLUMNS
    assert len(overall) == 1
    assert overall.loc[0, "reason"] == "mase"


def test_a_series_without_backtest_windows_can_only_drift_for_bias() -> None:
    """No windows: no MASE threshold, and the bias rule still applies."""
    points, history = served([3.0] * 8)
    row = row_of(drift(points, history, windows("zz", [1.0] * 5), 1), unique_id="a")
    assert row["n_windows"] == 0
    assert np.isnan(row["mase_threshold"])
    assert row["reason"] == "bias"


def test_drift_rule_text_states_the_numbers() -> None:
    """The rule text for the API and the README names its limits."""
    for part in ("at least 8", "90th percentile", "1.5 x", "fewer than 5", "20%"):
        assert part in DRIFT_RULE


# --- expected --------------------------------------------------------------------------------


def test_expected_summary_averages_windows_per_group() -> None:
    """Expected accuracy is the mean over (series, window) values, with the counts behind it."""
    expected = pd.concat(
        [
            windows("a", [1.0, 2.0]),
            windows("b", [3.0, 4.0]),
            windows("t", [0.5, 0.7, 0.9], level="total"),
        ],
        ignore_index=True,
    )
    expected.loc[expected["unique_id"] == "b", "wape"] = 0.3
    out = expected_summary(expected, by=("level",))
    assert list(out.columns[:3]) == ["level", "n_series", "n_windows"]
    item = row_of(out, level="item")
    assert item["n_series"] == 2
    assert item["n_windows"] == 2
    assert item["mase"] == pytest.approx(2.5)
    assert item["wape"] == pytest.approx((0.1 * 2 + 0.3 * 2) / 4)
    assert row_of(out, level="total")["mase"] == pytest.approx(0.7)
    series = expected_summary(expected)
    assert row_of(series, unique_id="a")["mase"] == pytest.approx(1.5)
    overall = expected_summary(expected, by=())
    assert overall.loc[0, "mase"] == pytest.approx((1 + 2 + 3 + 4 + 0.5 + 0.7 + 0.9) / 7)
    assert overall.loc[0, "n_series"] == 3
    assert overall.loc[0, "n_windows"] == 3
    with pytest.raises(ValueError, match="model_version"):
        expected_summary(expected, by=("model_version",))
