"""Conformal intervals: calibrated on backtest errors, scaled per series, never negative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import ID, TARGET, TIME
from training.auto import AutoForecaster
from training.backtest import CUTOFF, STEP
from training.intervals import ConformalCalibration, conformal_quantile, scales_at_cutoffs
from training.models import Naive, SeasonalNaive


def test_conformal_quantile_uses_the_finite_sample_rank() -> None:
    """With n scores the q-quantile is the ceil((n+1)q)-th smallest, capped at the largest."""
    scores = np.arange(1.0, 11.0)  # 1..10
    assert conformal_quantile(scores, 0.8) == 9.0  # ceil(11 * 0.8) = 9
    assert conformal_quantile(scores, 0.95) == 10.0  # ceil(10.45) = 11 -> capped at 10
    assert conformal_quantile(scores, 0.5) == 6.0


def test_scales_use_only_history_up_to_each_cutoff() -> None:
    """The scale of a backtest origin ignores everything after it."""
    panel = pd.DataFrame(
        {
            ID: "a",
            TIME: pd.date_range("2024-01-01", periods=6),
            TARGET: [1.0, 3.0, 2.0, 6.0, 100.0, 0.0],
        }
    )
    cutoffs = pd.DataFrame({ID: ["a", "a"], CUTOFF: pd.to_datetime(["2024-01-03", "2024-01-04"])})
    # |3-1|, |2-3| -> 1.5 ; then |6-2| joins -> (2+1+4)/3
    assert np.allclose(scales_at_cutoffs(panel, cutoffs), [1.5, 7 / 3])


def _noisy_panel(n_series: int, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        level = rng.uniform(20, 200)
        y = level + rng.normal(0, level * 0.1, n)
        frames.append(
            pd.DataFrame(
                {ID: f"s{i}", TIME: pd.date_range("2024-01-01", periods=n), TARGET: y.clip(0)}
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.mark.slow
def test_intervals_cover_new_data_at_their_nominal_rate() -> None:
    """On fresh data from the same process, 80 % and 95 % bounds cover about 80 % and 95 %."""
    panel = _noisy_panel(300, 80, seed=1)
    history = panel[panel[TIME] <= "2024-03-10"]
    future = panel[panel[TIME] > "2024-03-10"]
    model = AutoForecaster([Naive()], combination="mean", h=10, n_windows=3, season_length=1)
    forecast = model.fit(history).predict(10, interval_levels=(80, 95))
    joined = forecast.merge(future, on=[ID, TIME])
    for level, tolerance in ((80, 0.04), (95, 0.025)):
        inside = joined[TARGET].between(joined[f"yhat_lo_{level}"], joined[f"yhat_hi_{level}"])
        assert abs(inside.mean() - level / 100) < tolerance


def test_bounds_are_ordered_and_never_negative() -> None:
    """lo_95 <= lo_80 <= yhat <= hi_80 <= hi_95, all >= 0, even for series near zero."""
    panel = _noisy_panel(20, 60, seed=2)
    panel.loc[panel[ID] == "s0", TARGET] = np.r_[np.zeros(59), 1.0]
    model = AutoForecaster([SeasonalNaive(), Naive()], h=7, n_windows=2)
    forecast = model.fit(panel).predict(14, interval_levels=(80, 95))
    columns = ["yhat_lo_95", "yhat_lo_80", "yhat", "yhat_hi_80", "yhat_hi_95"]
    values = forecast[columns].to_numpy()
    assert (np.diff(values, axis=1) >= -1e-12).all()
    assert (values >= 0).all()


def test_later_steps_than_calibrated_widen_with_the_square_root() -> None:
    """Beyond the calibrated horizon the last step's width grows like sqrt(step)."""
    cv = pd.DataFrame(
        {
            ID: "a",
            CUTOFF: pd.Timestamp("2024-01-02"),
            STEP: [1, 1, 2, 2],
            TARGET: [1.0, 3.0, 1.0, 5.0],
            "yhat": [2.0, 2.0, 3.0, 3.0],
        }
    )
    panel = pd.DataFrame(
        {ID: "a", TIME: pd.date_range("2024-01-01", periods=2), TARGET: [0.0, 1.0]}
    )
    calibration = ConformalCalibration.from_backtest(cv, panel, signed=False)
    _, upper = calibration.quantiles(50, 8)
    assert upper[1] == pytest.approx(2.0)
    assert upper[7] == pytest.approx(2.0 * np.sqrt(8 / 2))
