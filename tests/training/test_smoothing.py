"""Vectorised exponential smoothing: right answers on known shapes, the same as one by one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import ID, TARGET, TIME
from training.models.seasonality import classical_indices, seasonality_test
from training.models.smoothing import ExponentialSmoothing


def _series(uid: str, y: np.ndarray, freq: str = "MS") -> pd.DataFrame:
    return pd.DataFrame(
        {ID: uid, TIME: pd.date_range("2020-01-01", periods=len(y), freq=freq), TARGET: y}
    )


def test_a_straight_line_is_continued_by_holt() -> None:
    """Holt's linear trend extends an exact line."""
    y = 10.0 + 2.0 * np.arange(30)
    forecast = ExponentialSmoothing("linear", season_length=1).fit(_series("a", y)).predict(5)
    assert np.allclose(forecast["yhat"], 10.0 + 2.0 * np.arange(30, 35), atol=1e-6)


def test_a_constant_series_is_forecast_flat() -> None:
    """SES and damped trend forecast a constant series as that constant."""
    y = np.full(24, 7.0)
    for trend in ("none", "damped"):
        forecast = ExponentialSmoothing(trend, season_length=12).fit(_series("a", y)).predict(6)
        assert np.allclose(forecast["yhat"], 7.0)


def test_multiplicative_seasonality_is_removed_and_restored() -> None:
    """A seasonal series is forecast with its seasonal shape; a flat one gets none."""
    rng = np.random.default_rng(0)
    pattern = np.array([0.6, 0.8, 1.0, 1.2, 1.4, 1.0, 0.9, 1.1, 1.3, 0.9, 0.7, 1.1])
    y = 100 * np.tile(pattern, 6) * rng.normal(1, 0.02, 72)
    assert seasonality_test(y, 12)
    assert not seasonality_test(100 + rng.normal(0, 1, 72), 12)
    indices = classical_indices(y, 12, multiplicative=True)
    assert np.allclose(indices, pattern / pattern.mean(), atol=0.05)
    forecast = ExponentialSmoothing("none", season_length=12).fit(_series("a", y)).predict(12)
    assert np.corrcoef(forecast["yhat"], pattern)[0, 1] > 0.95


@pytest.mark.parametrize("trend", ["none", "linear", "damped"])
def test_fitting_together_equals_fitting_one_by_one(trend: str) -> None:
    """Series of different lengths fitted in one batch get exactly their own forecasts."""
    rng = np.random.default_rng(1)
    parts = [_series(f"s{i}", rng.gamma(5, 10, n)) for i, n in enumerate((20, 35, 50))]
    together = ExponentialSmoothing(trend, season_length=4).fit(pd.concat(parts)).predict(6)
    for part in parts:
        alone = ExponentialSmoothing(trend, season_length=4).fit(part).predict(6)
        mine = together[together[ID] == part[ID].iloc[0]].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone)


def test_unknown_trend_is_refused() -> None:
    """A typo in the trend names the valid choices."""
    with pytest.raises(ValueError, match="damped"):
        ExponentialSmoothing("exponential").fit(_series("a", np.arange(1.0, 20.0)))
