"""Realized accuracy and drift of served forecasts, checked against values computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.anticipation import (
    BIAS_BAND,
    DRIFT_RULE,
    MIN_POINTS,
    TOO_FEW,
    drift,
    expected_summary,
    realized,
    realized_by_step,
)

DAY0 = pd.Timestamp("2024-01-01")
#: History of series "a" up to its origin (day 6). Season 1: the MASE scale is the mean absolute
#: one-step change: |2| + |-1| + |2| + |-1| + |2| + |-1| = 9 over 6 changes = 1.5.
BASE = [10.0, 12.0, 11.0, 13.0, 12.0, 14.0, 13.0]
SCALE = 1.5
ORIGIN = 6
REALIZED_COLUMNS = [
    "n_forecasts",
    "n_points",
    "mase",
    "wape",
    "bias",
    "coverage_80",
    "coverage_95",
    "direction_hit_rate",
]


def _day(i: int) -> pd.Timestamp:
    """The i-th day after DAY0."""
    return DAY0 + pd.Timedelta(days=i)


def _history(series: dict[str, list[float]]) -> pd.DataFrame:
    """A daily panel from DAY0, one list of actuals per series."""
    return pd.DataFrame(
        {
            "unique_id": [uid for uid, values in series.items() for _ in values],
            "ds": [_day(i) for values in series.values() for i in range(len(values))],
            "y": [float(v) for values in series.values() for v in values],
        }
    )


def _points(
    uid: str,
    request: str,
    yhat: list[float],
    y: list[float],
    *,
    origin: int = ORIGIN,
    level: str = "item",
    version: str = "1",
    w80: float = 1.0,
    w95: float = 3.0,
) -> pd.DataFrame:
    """The served points of one forecast from day `origin`, bounds yhat -/+ w80 and w95."""
    f = np.asarray(yhat, dtype="float64")
    steps = np.arange(1, len(f) + 1)
    return pd.DataFrame(
        {
            "unique_id": uid,
            "level": level,
            "model_version": version,
            "request_id": request,
            "cutoff": _day(origin),
            "served_at": _day(origin) + pd.Timedelta(hours=9),
            "step": steps,
            "ds": [_day(origin + s) for s in steps],
            "yhat": f,
            "yhat_lo_80": f - w80,
            "yhat_hi_80": f + w80,
            "yhat_lo_95": f - w95,
            "yhat_hi_95": f + w95,
            "y": np.asarray(y, dtype="float64"),
        }
    )


def _row(frame: pd.DataFrame, **where: object) -> pd.Series:
    """The single row of `frame` matching `where`."""
    mask = np.logical_and.reduce([frame[k] == v for k, v in where.items()])
    assert mask.sum() == 1, frame
    return frame.loc[mask].iloc[0]


def _label(mean: float, reference: float, band: float = 0.05) -> str:
    """DESIGN.md's direction label of a mean against a positive reference mean."""
    if mean / reference > 1 + band:
        return "up"
    if mean / reference < 1 - band:
        return "down"
    return "flat"


# One forecast from day 6 over days 7..9: yhat 14, 15, 18 against actuals 15, 13, 17.
YHAT = [14.0, 15.0, 18.0]
Y = [15.0, 13.0, 17.0]


def test_realized_metrics_match_a_hand_computation() -> None:
    """Every metric of one served forecast equals its definition worked out by hand."""
    history = _history({"a": BASE + Y})
    out = realized(_points("a", "r1", YHAT, Y), history, season_length=1)
    assert list(out.columns) == ["unique_id", *REALIZED_COLUMNS]
    row = _row(out, unique_id="a")
    errors = [14 - 15, 15 - 13, 18 - 17]  # yhat - y = -1, 2, 1
    assert row["n_forecasts"] == 1
    assert row["n_points"] == 3
    assert row["mase"] == pytest.approx((1 + 2 + 1) / 3 / SCALE)  # 8/9
    assert row["wape"] == pytest.approx(4 / 45)  # sum|e| / sum y = 4 / (15 + 13 + 17)
    assert row["bias"] == pytest.approx(sum(errors) / 45)  # 2 / 45: over-forecast
    # 80 %: [13, 15] holds 15, [14, 16] misses 13, [17, 19] holds 17; 95 % (+/-3) holds all.
    assert row["coverage_80"] == pytest.approx(2 / 3)
    assert row["coverage_95"] == pytest.approx(1.0)
    # Reference: mean of the last h = 3 actuals up to the origin, (12 + 14 + 13) / 3 = 13.
    assert _label(np.mean(YHAT), 13.0) == "up"  # 47/3 / 13 = 1.205
    assert _label(np.mean(Y), 13.0) == "up"  # 15 / 13 = 1.154
    assert row["direction_hit_rate"] == 1.0


@pytest.mark.parametrize(
    ("yhat", "y", "said", "happened"),
    [
        ([14.0, 15.0, 18.0], [15.0, 13.0, 17.0], "up", "up"),
        ([14.0, 15.0, 18.0], [12.0, 12.0, 12.0], "up", "down"),
        ([13.0, 13.0, 13.0], [13.0, 12.5, 13.5], "flat", "flat"),
        ([12.0, 12.0, 12.0], [13.0, 13.5, 13.0], "down", "flat"),
        ([12.0, 12.0, 12.0], [12.0, 12.0, 11.0], "down", "down"),
    ],
)
def test_direction_hit_rate_follows_the_design_labels(
    yhat: list[float], y: list[float], said: str, happened: str
) -> None:
    """A forecast hits when its up/flat/down label against the last h actuals matches reality."""
    assert _label(np.mean(yhat), 13.0) == said
    assert _label(np.mean(y), 13.0) == happened
    out = realized(_points("a", "r1", yhat, y), _history({"a": BASE + y}), season_length=1)
    assert _row(out, unique_id="a")["direction_hit_rate"] == float(said == happened)


def test_mase_uses_the_seasonal_scale_of_history_up_to_the_cutoff() -> None:
    """With season 2 the scale is the mean |y_t - y_{t-2}| of the history up to the origin."""
    history = _history({"a": [*BASE, 100.0, 0.0, 100.0]})  # later actuals must not count
    points = _points("a", "r1", YHAT, Y)
    points["y"] = [100.0, 0.0, 100.0]
    out = realized(points, history, season_length=2)
    # lag-2 changes of 10 12 11 13 12 14 13: 1, 1, 1, 1, 1 -> scale 1
    errors = np.abs(np.array(YHAT) - [100.0, 0.0, 100.0])
    assert _row(out, unique_id="a")["mase"] == pytest.approx(errors.mean() / 1.0)


def _panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Series a (item, v1), b (item, v2) and t (total, v1), one 3-step forecast each."""
    b_base = [20.0, 24.0, 22.0, 26.0, 24.0, 28.0, 26.0]  # twice a: scale 3, reference 26
    points = pd.concat(
        [
            _points("a", "r1", YHAT, Y),
            _points("b", "r2", [26.0, 26.0, 26.0], [30.0, 32.0, 34.0], version="2"),
            _points("t", "r1", [30.0, 30.0, 30.0], [30.0, 31.0, 29.0], level="total"),
        ],
        ignore_index=True,
    )
    history = _history(
        {"a": BASE + Y, "b": [*b_base, 30.0, 32.0, 34.0], "t": [*BASE, 30.0, 31.0, 29.0]}
    )
    return points, history


# Per forecast, by hand: (sum |e|, sum e, sum y, scale, n, direction hit).
# a: e = -1, 2, 1                          scale 1.5; up vs up -> hit
# b: e = -4, -6, -8 ; y sum 96             scale 3;   26/26 flat vs 32/26 up -> miss
# t: e = 0, -1, 1 ; y sum 90               scale 1.5; 30/13 up vs 30/13 up -> hit
HAND = {
    "a": (4.0, 2.0, 45.0, 1.5, 3, 1.0),
    "b": (18.0, -18.0, 96.0, 3.0, 3, 0.0),
    "t": (2.0, 0.0, 90.0, 1.5, 3, 1.0),
}


def _expect(ids: list[str]) -> dict[str, float]:
    """The metrics of the forecasts `ids` pooled the way training.evaluate.summarize does."""
    mase = np.mean([HAND[i][0] / HAND[i][4] / HAND[i][3] for i in ids])
    abs_e, e, y = (sum(HAND[i][k] for i in ids) for k in (0, 1, 2))
    hits = sum(HAND[i][5] for i in ids) / len(ids)
    return {"mase": mase, "wape": abs_e / y, "bias": e / y, "direction_hit_rate": hits}


@pytest.mark.parametrize(
    ("by", "key", "ids"),
    [
        (("level",), {"level": "item"}, ["a", "b"]),
        (("level",), {"level": "total"}, ["t"]),
        (("model_version",), {"model_version": "1"}, ["a", "t"]),
        (("model_version",), {"model_version": "2"}, ["b"]),
        (("level", "model_version"), {"level": "item", "model_version": "1"}, ["a"]),
        ((), {}, ["a", "b", "t"]),
    ],
)
def test_realized_groups_by_level_and_model_version(
    by: tuple[str, ...], key: dict[str, str], ids: list[str]
) -> None:
    """Groups average MASE over their forecasts and pool WAPE, bias and direction over points."""
    points, history = _panel()
    out = realized(points, history, season_length=1, by=by)
    assert list(out.columns) == [*by, *REALIZED_COLUMNS]
    row = _row(out, **key) if key else out.iloc[0]
    assert len(out) == (1 if not by else len(points[list(by)].drop_duplicates()))
    assert row["n_forecasts"] == len(ids)
    assert row["n_points"] == 3 * len(ids)
    for name, value in _expect(ids).items():
        assert row[name] == pytest.approx(value), name


def test_realized_by_step_pools_the_forecasts_at_each_step() -> None:
    """Per step: MASE is the mean of |e| / scale over forecasts, WAPE is pooled, no direction."""
    points, history = _panel()
    out = realized_by_step(points, history, season_length=1, by=("level",))
    assert list(out.columns) == ["level", "step", *REALIZED_COLUMNS[:-1]]
    step1 = _row(out, level="item", step=1)
    # step 1: a e = -1 (scale 1.5), b e = -4 (scale 3); actuals 15 and 30
    assert step1["n_points"] == 2
    assert step1["mase"] == pytest.approx((1 / 1.5 + 4 / 3) / 2)
    assert step1["wape"] == pytest.approx(5 / 45)
    assert step1["bias"] == pytest.approx(-5 / 45)
    assert step1["coverage_80"] == pytest.approx(1 / 2)  # 15 in [13, 15]; 30 not in [25, 27]
    step3 = _row(out, level="total", step=3)
    assert step3["mase"] == pytest.approx(1 / 1.5)
    same = realized(points, history, season_length=1, by=("level", "step"))
    pd.testing.assert_frame_equal(out, same)


def test_two_requests_for_the_same_series_and_origin_both_count() -> None:
    """Serving the same series twice from one origin gives two forecasts, scored apart."""
    second = [15.0, 13.0, 14.0]  # e = 0, 0, -3
    points = pd.concat(
        [_points("a", "r1", YHAT, Y), _points("a", "r2", second, Y)], ignore_index=True
    )
    out = realized(points, _history({"a": BASE + Y}), season_length=1)
    row = _row(out, unique_id="a")
    assert row["n_forecasts"] == 2
    assert row["n_points"] == 6
    assert row["mase"] == pytest.approx((4 / 3 / SCALE + 3 / 3 / SCALE) / 2)
    assert row["wape"] == pytest.approx((4 + 3) / 90)
    assert row["bias"] == pytest.approx((2 - 3) / 90)
    # r1: up vs up (hit); r2: mean 14 / 13 = 1.077 -> up, hit too
    assert row["direction_hit_rate"] == 1.0


def test_partial_horizons_are_left_out_of_the_direction_hit_rate_only() -> None:
    """A forecast whose last step has no actual yet counts for MASE but not for direction."""
    complete = _points("a", "r1", YHAT, Y)  # up vs up: a hit
    partial = _points("a", "r2", [20.0, 20.0, 20.0], [12.0, 12.0, np.nan])
    points = pd.concat([complete, partial], ignore_index=True)
    out = realized(points, _history({"a": BASE + Y}), season_length=1)
    row = _row(out, unique_id="a")
    assert row["n_forecasts"] == 2
    assert row["n_points"] == 5
    # r2 counts for MASE on its two known steps: |e| = 8, 8
    assert row["mase"] == pytest.approx((4 / 3 / SCALE + 16 / 2 / SCALE) / 2)
    # Scored as if h were 2, r2 would be a miss (reference (14 + 13) / 2 = 13.5: forecast
    # 20 -> up, actuals 12 -> down) and the rate 1/2; left out, it is r1's alone.
    assert row["direction_hit_rate"] == 1.0
    only_partial = realized(partial, _history({"a": BASE + Y}), season_length=1)
    assert np.isnan(_row(only_partial, unique_id="a")["direction_hit_rate"])


def test_partial_horizon_is_known_from_the_horizon_column_when_unscored_rows_are_absent() -> None:
    """With only scored points, a `horizon` column tells a 2-of-3 forecast from a 2-step one."""
    partial = _points("a", "r2", [20.0, 20.0], [12.0, 12.0]).assign(horizon=3)
    out = realized(partial, _history({"a": BASE + Y}), season_length=1)
    assert np.isnan(_row(out, unique_id="a")["direction_hit_rate"])
    short = partial.assign(horizon=2)
    # a real 2-step forecast: reference (14 + 13) / 2 = 13.5; 20 -> up, 12 -> down: a miss
    out = realized(short, _history({"a": BASE + Y}), season_length=1)
    assert _row(out, unique_id="a")["direction_hit_rate"] == 0.0


def test_realized_of_no_scored_points_is_an_empty_frame() -> None:
    """Points without actuals give an empty frame with the usual columns."""
    points = _points("a", "r1", YHAT, [np.nan] * 3)
    out = realized(points, _history({"a": BASE}), season_length=1, by=("level",))
    assert out.empty
    assert list(out.columns) == ["level", *REALIZED_COLUMNS]


def test_realized_rejects_an_unknown_grouping() -> None:
    """Grouping by a column that is not a served-point key is a clear error."""
    with pytest.raises(ValueError, match="cannot group by \\['store'\\]"):
        realized(_points("a", "r1", YHAT, Y), _history({"a": BASE + Y}), 1, by=("store",))


# --- drift -----------------------------------------------------------------------------------

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


def _expected(uid: str, mases: list[float], level: str = "item") -> pd.DataFrame:
    """Backtest windows of one series with the given MASE values (other metrics filler)."""
    return pd.DataFrame(
        {
            "unique_id": uid,
            "level": level,
            "cutoff": [_day(-30 + 3 * i) for i in range(len(mases))],
            "mase": mases,
            "wape": 0.1,
            "bias": 0.0,
            "coverage_80": 0.8,
            "coverage_95": 0.95,
            "direction_hit_rate": 1.0,
        }
    )


def _served(
    errors: list[float], y: float = 10.0, uid: str = "a", **kw: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One forecast of len(errors) steps from day 6 with actuals y and yhat = y + error."""
    actuals = [y] * len(errors)
    points = _points(uid, "r1", [y + e for e in errors], actuals, **kw)
    return points, _history({uid: BASE + actuals})


def test_drift_when_realized_mase_exceeds_the_90th_percentile_of_the_windows() -> None:
    """MASE 2 over 8 points against windows 0.5..1.0 (p90 = 0.95) drifts for MASE, not bias."""
    points, history = _served([3.0, -3.0] * 4)  # |e| = 3 -> MASE 3 / 1.5 = 2; bias 0
    expected = _expected("a", [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    out = drift(points, history, expected, season_length=1)
    assert list(out.columns) == ["unique_id", *DRIFT_COLUMNS]
    row = _row(out, unique_id="a")
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
    assert row["window_start"] == _day(7)
    assert row["window_end"] == _day(14)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_drift_when_bias_stays_beyond_twenty_percent(sign: float) -> None:
    """Errors of +/-2.5 on actuals of 10 (bias +/-25 %) drift for bias under a MASE of 1.67."""
    points, history = _served([sign * 2.5] * 8)
    expected = _expected("a", [2.0] * 5)  # p90 = 2 > 2.5 / 1.5
    row = _row(drift(points, history, expected, season_length=1), unique_id="a")
    assert row["realized_mase"] == pytest.approx(2.5 / 1.5)
    assert row["mase_threshold"] == pytest.approx(2.0)
    assert row["realized_bias"] == pytest.approx(sign * 0.25)
    assert row["bias_band"] == BIAS_BAND
    assert row["drift"]
    assert row["reason"] == "bias"


def test_both_rules_broken_name_both_reasons() -> None:
    """A MASE and a bias breach together give the reason mase+bias."""
    points, history = _served([3.0] * 8)  # MASE 2, bias 30 %
    row = _row(drift(points, history, _expected("a", [1.0] * 5), 1), unique_id="a")
    assert row["drift"]
    assert row["reason"] == "mase+bias"


def test_no_drift_inside_both_limits() -> None:
    """MASE under the threshold and bias inside +/-20 % is no drift, with no reason."""
    points, history = _served([1.5, -1.5] * 4)  # MASE 1, bias 0
    row = _row(drift(points, history, _expected("a", [1.0] * 5 + [2.0]), 1), unique_id="a")
    assert row["realized_mase"] == pytest.approx(1.0)
    assert row["mase_threshold"] == pytest.approx(1.5)  # 1.0 + 0.5 * (2.0 - 1.0)
    assert not row["drift"]
    assert pd.isna(row["reason"])


def test_fewer_than_eight_scored_points_is_never_drift() -> None:
    """Seven wildly wrong points are too few for a verdict."""
    points, history = _served([10.0] * (MIN_POINTS - 1))
    row = _row(drift(points, history, _expected("a", [0.5] * 5), 1), unique_id="a")
    assert row["n_points"] == MIN_POINTS - 1
    assert row["realized_mase"] == pytest.approx(10 / 1.5)
    assert not row["drift"]
    assert row["reason"] == TOO_FEW


def test_unscored_points_do_not_count_towards_the_minimum() -> None:
    """Eight served points of which one has no actual yet are still too few."""
    points, history = _served([10.0] * MIN_POINTS)
    points.loc[7, "y"] = np.nan
    row = _row(drift(points, history, _expected("a", [0.5] * 5), 1), unique_id="a")
    assert row["n_points"] == MIN_POINTS - 1
    assert row["reason"] == TOO_FEW


def test_a_series_with_no_actuals_yet_is_listed_without_a_verdict() -> None:
    """Served but unscored series appear with zero points and no drift."""
    points, history = _served([10.0] * MIN_POINTS)
    points["y"] = np.nan
    row = _row(drift(points, history, _expected("a", [0.5] * 5), 1), unique_id="a")
    assert row["n_points"] == 0
    assert not row["drift"]
    assert row["reason"] == TOO_FEW


@pytest.mark.parametrize(("error", "drifts"), [(1.8, False), (2.1, True)])
def test_fewer_than_five_windows_use_one_and_a_half_times_the_mean(
    error: float, drifts: bool
) -> None:
    """Windows 0.8 and 1.0: threshold 1.5 x 0.9 = 1.35, not their p90 (0.98)."""
    points, history = _served([error, -error] * 4)  # MASE = error / 1.5: 1.2 or 1.4
    row = _row(drift(points, history, _expected("a", [0.8, 1.0]), 1), unique_id="a")
    assert row["n_windows"] == 2
    assert row["expected_mase"] == pytest.approx(0.9)
    assert row["mase_threshold"] == pytest.approx(1.35)
    assert row["threshold_rule"] == "1.5 x backtest mean"
    assert row["realized_mase"] == pytest.approx(error / 1.5)
    assert row["drift"] == drifts


def test_drift_looks_only_at_the_most_recent_points() -> None:
    """Old bad forecasts fall out of the window of the last max(8, h) target dates."""
    bad, _ = _served([5.0] * 8)  # days 7..14, MASE 3.3
    good = _points("a", "r2", [10.0] * 8, [10.0] * 8, origin=14)  # days 15..22, perfect
    history = _history({"a": BASE + [10.0] * 16})
    points = pd.concat([bad, good], ignore_index=True)
    row = _row(drift(points, history, _expected("a", [1.0] * 5), 1), unique_id="a")
    assert row["n_points"] == 8
    assert row["window_start"] == _day(15)
    assert row["window_end"] == _day(22)
    assert row["realized_mase"] == 0.0
    assert not row["drift"]
    # the whole record would be biased: 40 over-forecast units on 160 actuals
    assert realized(points, history, 1).loc[0, "bias"] == pytest.approx(40 / 160)


def test_the_window_covers_one_horizon_when_it_is_longer_than_eight() -> None:
    """A 10-step forecast is judged on all its 10 target dates."""
    points, history = _served([1.5] * 10)
    row = _row(drift(points, history, _expected("a", [1.0] * 5), 1), unique_id="a")
    assert row["n_points"] == 10
    assert row["window_end"] - row["window_start"] == pd.Timedelta(days=9)


def test_drift_of_a_level_pools_its_member_series_per_window() -> None:
    """A level's window MASE is the mean of its series' MASE in that window."""
    a, history_a = _served([3.0, -3.0] * 4, uid="a")  # MASE 2
    b, history_b = _served([3.0, -3.0] * 4, uid="b")
    points = pd.concat([a, b], ignore_index=True)
    history = pd.concat([history_a, history_b], ignore_index=True)
    # windows: a 1.0, 1.2 and b 3, 4 at the same two cutoffs -> level windows 2, 2.6
    expected = pd.concat([_expected("a", [1.0, 1.2]), _expected("b", [3.0, 4.0])])
    out = drift(points, history, expected, season_length=1, by=("level",))
    assert list(out.columns) == ["level", *DRIFT_COLUMNS]
    row = _row(out, level="item")
    assert row["n_windows"] == 2
    assert row["expected_mase"] == pytest.approx(2.3)
    assert row["mase_threshold"] == pytest.approx(1.5 * 2.3)
    assert row["n_points"] == 16
    assert row["realized_mase"] == pytest.approx(2.0)
    assert not row["drift"]
    by_series = drift(points, history, expected, season_length=1)
    assert _row(by_series, unique_id="a")["drift"]  # 2 > 1.5 x 1.1
    assert not _row(by_series, unique_id="b")["drift"]  # 2 < 1.5 x 3.5


def test_drift_by_model_version_and_overall() -> None:
    """Model versions and the overall group get one row each with the same rule."""
    a, history = _served([3.0, -3.0] * 4, version="7")
    expected = _expected("a", [1.0] * 5)
    out = drift(a, history, expected, season_length=1, by=("model_version",))
    assert list(out.columns) == ["model_version", *DRIFT_COLUMNS]
    assert _row(out, model_version="7")["reason"] == "mase"
    overall = drift(a, history, expected, season_length=1, by=())
    assert list(overall.columns) == DRIFT_COLUMNS
    assert len(overall) == 1
    assert overall.loc[0, "reason"] == "mase"


def test_a_series_without_backtest_windows_can_only_drift_for_bias() -> None:
    """No windows: no MASE threshold, and the bias rule still applies."""
    points, history = _served([3.0] * 8)
    row = _row(drift(points, history, _expected("zz", [1.0] * 5), 1), unique_id="a")
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
            _expected("a", [1.0, 2.0]),
            _expected("b", [3.0, 4.0]),
            _expected("t", [0.5, 0.7, 0.9], level="total"),
        ],
        ignore_index=True,
    )
    expected.loc[expected["unique_id"] == "b", "wape"] = 0.3
    out = expected_summary(expected, by=("level",))
    assert list(out.columns[:3]) == ["level", "n_series", "n_windows"]
    item = _row(out, level="item")
    assert item["n_series"] == 2
    assert item["n_windows"] == 2
    assert item["mase"] == pytest.approx(2.5)
    assert item["wape"] == pytest.approx((0.1 * 2 + 0.3 * 2) / 4)
    assert _row(out, level="total")["mase"] == pytest.approx(0.7)
    series = expected_summary(expected)
    assert _row(series, unique_id="a")["mase"] == pytest.approx(1.5)
    overall = expected_summary(expected, by=())
    assert overall.loc[0, "mase"] == pytest.approx((1 + 2 + 3 + 4 + 0.5 + 0.7 + 0.9) / 7)
    assert overall.loc[0, "n_series"] == 3
    assert overall.loc[0, "n_windows"] == 3
    with pytest.raises(ValueError, match="model_version"):
        expected_summary(expected, by=("model_version",))
