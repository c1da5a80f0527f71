"""Realized accuracy of served forecasts, checked against values computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anticipation_cases import (
    BASE,
    REALIZED_COLUMNS,
    SCALE,
    YHAT,
    Y,
    history_of,
    label,
    panel,
    row_of,
    served_points,
)

from serving.anticipation import realized, realized_by_step


def test_realized_metrics_match_a_hand_computation() -> None:
    """Every metric of one served forecast equals its definition worked out by hand."""
    history = history_of({"a": BASE + Y})
    out = realized(served_points("a", "r1", YHAT, Y), history, season_length=1)
    assert list(out.columns) == ["unique_id", *REALIZED_COLUMNS]
    row = row_of(out, unique_id="a")
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
    assert label(np.mean(YHAT), 13.0) == "up"  # 47/3 / 13 = 1.205
    assert label(np.mean(Y), 13.0) == "up"  # 15 / 13 = 1.154
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
    assert label(np.mean(yhat), 13.0) == said
    assert label(np.mean(y), 13.0) == happened
    out = realized(served_points("a", "r1", yhat, y), history_of({"a": BASE + y}), season_length=1)
    assert row_of(out, unique_id="a")["direction_hit_rate"] == float(said == happened)


def test_mase_uses_the_seasonal_scale_of_history_up_to_the_cutoff() -> None:
    """With season 2 the scale is the mean |y_t - y_{t-2}| of the history up to the origin."""
    history = history_of({"a": [*BASE, 100.0, 0.0, 100.0]})  # later actuals must not count
    points = served_points("a", "r1", YHAT, Y)
    points["y"] = [100.0, 0.0, 100.0]
    out = realized(points, history, season_length=2)
    # lag-2 changes of 10 12 11 13 12 14 13: 1, 1, 1, 1, 1 -> scale 1
    errors = np.abs(np.array(YHAT) - [100.0, 0.0, 100.0])
    assert row_of(out, unique_id="a")["mase"] == pytest.approx(errors.mean() / 1.0)


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
    points, history = panel()
    out = realized(points, history, season_length=1, by=by)
    assert list(out.columns) == [*by, *REALIZED_COLUMNS]
    row = row_of(out, **key) if key else out.iloc[0]
    assert len(out) == (1 if not by else len(points[list(by)].drop_duplicates()))
    assert row["n_forecasts"] == len(ids)
    assert row["n_points"] == 3 * len(ids)
    for name, value in _expect(ids).items():
        assert row[name] == pytest.approx(value), name


def test_realized_by_step_pools_the_forecasts_at_each_step() -> None:
    """Per step: MASE is the mean of |e| / scale over forecasts, WAPE is pooled, no direction."""
    points, history = panel()
    out = realized_by_step(points, history, season_length=1, by=("level",))
    assert list(out.columns) == ["level", "step", *REALIZED_COLUMNS[:-1]]
    step1 = row_of(out, level="item", step=1)
    # step 1: a e = -1 (scale 1.5), b e = -4 (scale 3); actuals 15 and 30
    assert step1["n_points"] == 2
    assert step1["mase"] == pytest.approx((1 / 1.5 + 4 / 3) / 2)
    assert step1["wape"] == pytest.approx(5 / 45)
    assert step1["bias"] == pytest.approx(-5 / 45)
    assert step1["coverage_80"] == pytest.approx(1 / 2)  # 15 in [13, 15]; 30 not in [25, 27]
    step3 = row_of(out, level="total", step=3)
    assert step3["mase"] == pytest.approx(1 / 1.5)
    same = realized(points, history, season_length=1, by=("level", "step"))
    pd.testing.assert_frame_equal(out, same)


def test_two_requests_for_the_same_series_and_origin_both_count() -> None:
    """Serving the same series twice from one origin gives two forecasts, scored apart."""
    second = [15.0, 13.0, 14.0]  # e = 0, 0, -3
    points = pd.concat(
        [served_points("a", "r1", YHAT, Y), served_points("a", "r2", second, Y)], ignore_index=True
    )
    out = realized(points, history_of({"a": BASE + Y}), season_length=1)
    row = row_of(out, unique_id="a")
    assert row["n_forecasts"] == 2
    assert row["n_points"] == 6
    assert row["mase"] == pytest.approx((4 / 3 / SCALE + 3 / 3 / SCALE) / 2)
    assert row["wape"] == pytest.approx((4 + 3) / 90)
    assert row["bias"] == pytest.approx((2 - 3) / 90)
    # r1: up vs up (hit); r2: mean 14 / 13 = 1.077 -> up, hit too
    assert row["direction_hit_rate"] == 1.0


def test_partial_horizons_are_left_out_of_the_direction_hit_rate_only() -> None:
    """A forecast whose last step has no actual yet counts for MASE but not for direction."""
    complete = served_points("a", "r1", YHAT, Y)  # up vs up: a hit
    partial = served_points("a", "r2", [20.0, 20.0, 20.0], [12.0, 12.0, np.nan])
    points = pd.concat([complete, partial], ignore_index=True)
    out = realized(points, history_of({"a": BASE + Y}), season_length=1)
    row = row_of(out, unique_id="a")
    assert row["n_forecasts"] == 2
    assert row["n_points"] == 5
    # r2 counts for MASE on its two known steps: |e| = 8, 8
    assert row["mase"] == pytest.approx((4 / 3 / SCALE + 16 / 2 / SCALE) / 2)
    # Scored as if h were 2, r2 would be a miss (reference (14 + 13) / 2 = 13.5: forecast
    # 20 -> up, actuals 12 -> down) and the rate 1/2; left out, it is r1's alone.
    assert row["direction_hit_rate"] == 1.0
    only_partial = realized(partial, history_of({"a": BASE + Y}), season_length=1)
    assert np.isnan(row_of(only_partial, unique_id="a")["direction_hit_rate"])


def test_partial_horizon_is_known_from_the_horizon_column_when_unscored_rows_are_absent() -> None:
    """With only scored points, a `horizon` column tells a 2-of-3 forecast from a 2-step one."""
    partial = served_points("a", "r2", [20.0, 20.0], [12.0, 12.0]).assign(horizon=3)
    out = realized(partial, history_of({"a": BASE + Y}), season_length=1)
    assert np.isnan(row_of(out, unique_id="a")["direction_hit_rate"])
    short = partial.assign(horizon=2)
    # a real 2-step forecast: reference (14 + 13) / 2 = 13.5; 20 -> up, 12 -> down: a miss
    out = realized(short, history_of({"a": BASE + Y}), season_length=1)
    assert row_of(out, unique_id="a")["direction_hit_rate"] == 0.0


def test_realized_of_no_scored_points_is_an_empty_frame() -> None:
    """Points without actuals give an empty frame with the usual columns."""
    points = served_points("a", "r1", YHAT, [np.nan] * 3)
    out = realized(points, history_of({"a": BASE}), season_length=1, by=("level",))
    assert out.empty
    assert list(out.columns) == ["level", *REALIZED_COLUMNS]


def test_realized_rejects_an_unknown_grouping() -> None:
    """Grouping by a column that is not a served-point key is a clear error."""
    with pytest.raises(ValueError, match="cannot group by \\['store'\\]"):
        realized(served_points("a", "r1", YHAT, Y), history_of({"a": BASE + Y}), 1, by=("store",))
