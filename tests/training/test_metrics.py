"""Accuracy metrics and their evaluation, against values computed by hand and a per-series loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import ID, TARGET, TIME
from training.errors import TrainingError
from training.evaluate import evaluate, evaluate_by_step, summarize
from training.metrics import (
    METRICS,
    bias,
    coverage,
    direction_hit_rate,
    get_metric,
    mae,
    mase,
    mean_error,
    pinball,
    pinball_loss,
    rmse,
    rmsse,
    smape,
    wape,
)

DAY0 = pd.Timestamp("2024-01-01")


def _day(i: int) -> pd.Timestamp:
    """The i-th day after DAY0."""
    return DAY0 + pd.Timedelta(days=i)


def _history(series: dict[str, list[float]]) -> pd.DataFrame:
    """A daily panel starting on DAY0, one list of values per series."""
    return pd.DataFrame(
        {
            ID: [uid for uid, values in series.items() for _ in values],
            TIME: [_day(i) for values in series.values() for i in range(len(values))],
            TARGET: [float(v) for values in series.values() for v in values],
        }
    )


def _forecast(
    uid: str, first: int, y: list[float], yhat: list[float], **cols: object
) -> pd.DataFrame:
    """Forecast rows of one series from day index `first` on, with extra columns."""
    days = [_day(first + i) for i in range(len(y))]
    frame = pd.DataFrame({ID: uid, TIME: days, TARGET: y, "yhat": yhat})
    return frame.assign(**cols)


def _value(frame: pd.DataFrame, column: str, **where: object) -> float:
    """The single value of `column` in the row matching `where`."""
    mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
    assert mask.sum() == 1
    return float(frame.loc[mask, column].iloc[0])


# Series a, season length 2: train 1 3 2 5 4 6, seasonal differences |2-1| |5-3| |4-2| |6-5|
# = 1 2 2 1, so the MASE scale is 6/4 = 1.5 and the RMSSE scale (1+4+4+1)/4 = 2.5.
# Series b: train 10 10 14 12 10 16, differences 4 2 4 4: scales 14/4 = 3.5 and 52/4 = 13.
TRAIN = _history({"a": [1, 3, 2, 5, 4, 6], "b": [10, 10, 14, 12, 10, 16]})
FORECAST = pd.concat(
    [_forecast("a", 6, [5, 7], [5.5, 9]), _forecast("b", 6, [12, 15], [13, 11])],
    ignore_index=True,
)


def test_mase_and_rmsse_match_hand_computation_per_series() -> None:
    """MASE is MAE over the in-sample seasonal naive MAE, RMSSE the root of the MSE ratio."""
    scaled = mase(FORECAST, TRAIN, season_length=2)
    assert list(scaled.columns) == [ID, "mase"]
    # a: |5-5.5|, |7-9| -> MAE 1.25; b: 1, 4 -> MAE 2.5
    assert _value(scaled, "mase", unique_id="a") == pytest.approx(1.25 / 1.5)
    assert _value(scaled, "mase", unique_id="b") == pytest.approx(2.5 / 3.5)
    root = rmsse(FORECAST, TRAIN, season_length=2)
    # a: MSE (0.25 + 4) / 2 = 2.125; b: (1 + 16) / 2 = 8.5
    assert _value(root, "rmsse", unique_id="a") == pytest.approx(np.sqrt(2.125 / 2.5))
    assert _value(root, "rmsse", unique_id="b") == pytest.approx(np.sqrt(8.5 / 13))


def test_scales_use_only_training_data_up_to_each_cutoff() -> None:
    """Each cutoff has its own scale, and data after a cutoff never changes that cutoff's scale."""
    history = _history({"a": [1, 3, 2, 5, 4, 9, 8, 10]})
    # cutoff day 3: train 1 3 2 5, differences 1 2 -> scale 1.5
    # cutoff day 5: train 1 3 2 5 4 9, differences 1 2 2 4 -> scale 9/4 = 2.25
    cv = pd.concat(
        [
            _forecast("a", 4, [4, 9], [5, 6], cutoff=_day(3)),  # MAE 2
            _forecast("a", 6, [8, 10], [9, 10], cutoff=_day(5)),  # MAE 0.5
        ],
        ignore_index=True,
    )
    scaled = mase(cv, history, season_length=2)
    assert list(scaled.columns) == [ID, "cutoff", "mase"]
    assert scaled["mase"].tolist() == pytest.approx([2 / 1.5, 0.5 / 2.25])
    later = history.assign(y=history[TARGET].where(history[TIME] <= _day(3), history[TARGET] * 100))
    changed = mase(cv, later, season_length=2)
    assert changed["mase"].iloc[0] == pytest.approx(2 / 1.5)
    assert changed["mase"].iloc[1] != pytest.approx(0.5 / 2.25)


def test_without_cutoff_history_from_the_forecast_dates_on_is_ignored() -> None:
    """Passing the full history (actuals of the forecast period included) gives the same scale."""
    full = pd.concat([TRAIN, FORECAST[[ID, TIME, TARGET]]], ignore_index=True)
    pd.testing.assert_frame_equal(mase(FORECAST, full, 2), mase(FORECAST, TRAIN, 2))


def test_short_series_fall_back_to_lag_one_and_constant_series_give_nan() -> None:
    """Up to m training points use the naive scale; a zero or missing scale gives NaN, silently."""
    history = _history({"short": [2, 5, 3], "flat": [4, 4, 4, 4, 4, 4], "one": [7]})
    cv = pd.concat(
        [
            _forecast("short", 3, [4], [9]),
            _forecast("flat", 6, [4], [5]),
            _forecast("one", 1, [7], [8]),
        ],
        ignore_index=True,
    )
    scaled = mase(cv, history, season_length=4).set_index(ID)["mase"]
    # short has 3 <= 4 points: lag 1, |5-2| and |3-5| -> scale 2.5; error 5 -> MASE 2
    assert scaled["short"] == pytest.approx(2.0)
    assert np.isnan(scaled["flat"]) and np.isnan(scaled["one"])
    assert rmsse(cv, history, 4).set_index(ID)["rmsse"].isna().tolist() == [True, True, False]


def test_smape_follows_m3_in_percent_with_zero_over_zero_as_zero() -> None:
    """sMAPE averages 200|y-f|/(|y|+|f|); 0/0 counts 0, perfect is 0, zero forecasts are 200."""
    cv = pd.concat(
        [
            _forecast("mixed", 0, [0, 2, 4, 5], [0, 0, 2, 5]),
            _forecast("perfect", 0, [3, 1], [3, 1]),
            _forecast("zeros", 0, [3, 1], [0, 0]),
        ],
        ignore_index=True,
    )
    out = smape(cv).set_index(ID)["smape"]
    # mixed: 0, 200*2/2 = 200, 200*2/6 = 66.67, 0 -> 266.67 / 4
    assert out["mixed"] == pytest.approx((200 + 200 / 3) / 4)
    assert out["perfect"] == 0.0
    assert out["zeros"] == pytest.approx(200.0)


def test_scale_dependent_and_relative_errors() -> None:
    """wape, mae, rmse, bias and mean_error of a small series, and NaN where mean(y) is 0."""
    cv = pd.concat(
        [_forecast("s", 0, [2, 4, 6], [3, 3, 9]), _forecast("z", 0, [0, 0], [1, 0])],
        ignore_index=True,
    )
    # s: errors f - y = 1, -1, 3; sum |e| = 5, sum |y| = 12, mean y = 4
    assert _value(wape(cv), "wape", unique_id="s") == pytest.approx(5 / 12)
    assert _value(mae(cv), "mae", unique_id="s") == pytest.approx(5 / 3)
    assert _value(rmse(cv), "rmse", unique_id="s") == pytest.approx(np.sqrt(11 / 3))
    assert _value(mean_error(cv), "mean_error", unique_id="s") == pytest.approx(1.0)
    assert _value(bias(cv), "bias", unique_id="s") == pytest.approx(1 / 4)
    assert np.isnan(_value(wape(cv), "wape", unique_id="z"))
    assert np.isnan(_value(bias(cv), "bias", unique_id="z"))
    assert _value(mae(cv), "mae", unique_id="z") == pytest.approx(0.5)


def test_coverage_at_two_levels_counts_the_bounds_as_inside() -> None:
    """coverage_L is the share of actuals within [lo, hi] of level L, bounds included."""
    cv = _forecast(
        "a",
        0,
        [10, 5, 20, 7],
        [10, 7, 17, 7.5],
        yhat_lo_80=[8, 6, 15, 7],  # in, out, out, in (on the bound)
        yhat_hi_80=[12, 9, 19, 8],
        yhat_lo_95=[6, 4, 14, 6],  # all in
        yhat_hi_95=[14, 10, 21, 9],
    )
    assert coverage(cv, 80)["coverage_80"].tolist() == [0.5]
    assert coverage(cv, 95)["coverage_95"].tolist() == [1.0]


def test_pinball_at_known_quantiles_unscaled_and_scaled() -> None:
    """Level 80 bounds are the 0.1 and 0.9 quantiles; scaled pinball divides by the MASE scale."""
    cv = _forecast(
        "a",
        6,
        [10, 5],
        [10, 7],
        yhat_lo_80=[8, 6],
        yhat_hi_80=[13, 9],
        yhat_lo_95=[7, 2],
        yhat_hi_95=[14, 12],
    )
    # 80: y=10: 0.1*(10-8) = 0.2, 0.1*(13-10) = 0.3; y=5: 0.9*(6-5) = 0.9, 0.1*(9-5) = 0.4
    # 95 (q 0.025, 0.975): 0.025*3 = 0.075, 0.025*4 = 0.1; 0.025*3 = 0.075, 0.025*7 = 0.175
    assert pinball_loss(cv, interval_levels=[80])["pinball_loss"].iloc[0] == pytest.approx(1.8 / 4)
    assert pinball_loss(cv)["pinball_loss"].iloc[0] == pytest.approx((1.8 + 0.425) / 8)
    scaled = pinball(cv, TRAIN, season_length=2, interval_levels=[80])  # series a: scale 1.5
    assert scaled["pinball"].iloc[0] == pytest.approx(0.45 / 1.5)


def test_direction_hit_rate_on_up_flat_down_and_zero_mean_cases() -> None:
    """Forecast and actual means are labelled against the last h actuals; hits are agreements."""
    history = _history(
        {
            "up": [5, 10, 10],  # reference mean(10, 10) = 10
            "flat": [5, 10, 10],
            "down": [5, 20, 20],
            "zero_miss": [0, 2, 0, 0],  # reference 0; mean |change| = (2+2+0)/3 = 4/3
            "zero_hit": [0, 2, 0, 0],
            "young": [5],  # one point for h = 2: no label
        }
    )
    cv = pd.concat(
        [
            _forecast("up", 3, [12, 13], [11, 12]),  # 11.5/10 up, 12.5/10 up: hit
            _forecast("flat", 3, [9.8, 10], [10, 10.4]),  # 1.02 flat, 0.99 flat: hit
            _forecast("down", 3, [21, 22], [15, 15]),  # 0.75 down, 1.15 up: miss
            _forecast("zero_miss", 4, [3, 2], [1, 1]),  # +1 < 4/3 flat, +2.5 up: miss
            _forecast("zero_hit", 4, [2, 3], [2, 2]),  # +2 up, +2.5 up: hit
            _forecast("young", 1, [9, 9], [9, 9]),
        ],
        ignore_index=True,
    )
    rates = direction_hit_rate(cv, history).set_index(ID)["direction_hit_rate"]
    assert rates[["up", "flat", "down", "zero_miss", "zero_hit"]].tolist() == [1, 1, 0, 0, 1]
    assert np.isnan(rates["young"])
    long = evaluate(
        cv, history, season_length=1, interval_levels=(), metrics=["direction_hit_rate"]
    )
    assert summarize(long)["direction_hit_rate"].tolist() == [pytest.approx(3 / 5)]


def test_direction_reference_is_taken_at_each_cutoff() -> None:
    """With two cutoffs the reference mean is the last h actuals before each of them."""
    history = _history({"a": [10, 10, 10, 10, 20, 20, 20, 20]})
    cv = pd.concat(
        [
            _forecast("a", 4, [20, 20], [15, 15], cutoff=_day(3)),  # vs 10: up, up
            _forecast("a", 6, [20, 20], [30, 30], cutoff=_day(5)),  # vs 20: up, flat
        ],
        ignore_index=True,
    )
    assert direction_hit_rate(cv, history)["direction_hit_rate"].tolist() == [1.0, 0.0]


def _random_backtest(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A shuffled history of series of several lengths and a two-model, two-cutoff backtest."""
    rng = np.random.default_rng(seed)
    lengths = {"s0": 40, "s1": 25, "s2": 12, "s3": 30}
    history = _history({uid: list(rng.gamma(2.0, 5.0, n)) for uid, n in lengths.items()})
    parts = []
    for uid, n in lengths.items():
        for cutoff in (n - 8, n - 4):
            y = history.loc[history[ID] == uid, TARGET].to_numpy()[cutoff + 1 : cutoff + 4]
            for model in ("m1", "m2"):
                yhat = list(rng.gamma(2.0, 5.0, len(y)))
                part = _forecast(uid, cutoff + 1, list(y), yhat, cutoff=_day(cutoff), model=model)
                parts.append(part.assign(step=np.arange(1, len(y) + 1)))
    return history.sample(frac=1.0, random_state=seed), pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("season_length", [1, 3, 7])
def test_mase_equals_a_per_series_loop(season_length: int) -> None:
    """The vectorised MASE equals the textbook formula computed series by series."""
    history, cv = _random_backtest(seed=season_length)
    got = mase(cv, history, season_length).set_index([ID, "model", "cutoff"])["mase"]
    for (uid, model, cutoff), group in cv.groupby([ID, "model", "cutoff"]):
        past = history[(history[ID] == uid) & (history[TIME] <= cutoff)].sort_values(TIME)
        y = past[TARGET].to_numpy()
        m = season_length if len(y) > season_length else 1
        scale = np.mean(np.abs(y[m:] - y[:-m]))
        expected = np.mean(np.abs(group[TARGET] - group["yhat"])) / scale
        assert got[(uid, model, cutoff)] == pytest.approx(expected)


def test_evaluate_returns_a_long_frame_with_the_registered_names() -> None:
    """evaluate gives one row per series, model, cutoff and metric, named as in METRICS."""
    history, cv = _random_backtest(seed=0)
    cv = cv.assign(
        yhat_lo_80=cv["yhat"] * 0.8,
        yhat_hi_80=cv["yhat"] * 1.2,
        yhat_lo_95=cv["yhat"] * 0.6,
        yhat_hi_95=cv["yhat"] * 1.4,
    )
    long = evaluate(cv, history, season_length=3)
    assert list(long.columns) == [
        ID,
        "model",
        "cutoff",
        "metric",
        "value",
        "numerator",
        "denominator",
    ]
    assert list(pd.unique(long["metric"])) == list(METRICS)
    assert len(long) == 4 * 2 * 2 * len(METRICS)
    wide = summarize(long)
    assert list(wide.columns) == ["model", *METRICS]
    assert wide["model"].tolist() == ["m1", "m2"]
    by_step = evaluate_by_step(cv, history, season_length=3)
    assert "direction_hit_rate" not in set(by_step["metric"])
    assert len(by_step) == 4 * 2 * 3 * (len(METRICS) - 1)
    steps = summarize(by_step, by=("model", "step"))
    assert len(steps) == 2 * 3


def test_summarize_pools_ratio_metrics_and_averages_scaled_ones() -> None:
    """wape and bias pool all points (even of undefined series); mae averages series values."""
    cv = pd.concat(
        [_forecast("s", 3, [2, 4, 6], [3, 3, 9]), _forecast("z", 3, [0, 0], [1, 0])],
        ignore_index=True,
    )
    history = _history({"s": [1, 2, 3], "z": [0, 1, 0]})
    wide = summarize(evaluate(cv, history, season_length=1, interval_levels=()))
    assert wide["wape"].iloc[0] == pytest.approx((5 + 1) / 12)
    assert wide["bias"].iloc[0] == pytest.approx((3 + 1) / 12)
    assert wide["mae"].iloc[0] == pytest.approx((5 / 3 + 1 / 2) / 2)


def test_bad_requests_are_refused_with_clear_errors() -> None:
    """Unknown metric names and missing interval columns raise TrainingError; coverage_L exists."""
    with pytest.raises(TrainingError, match="unknown metric 'accuracy'"):
        evaluate(FORECAST, TRAIN, season_length=2, metrics=["accuracy"])
    with pytest.raises(TrainingError, match="yhat_lo_80"):
        evaluate(FORECAST, TRAIN, season_length=2)
    assert get_metric("coverage_90").name == "coverage_90"
