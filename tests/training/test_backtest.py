"""Rolling-origin backtests: each window sees only the data before its origin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import ID, TARGET, TIME
from training.backtest import CUTOFF, STEP, Windows, cross_validation, window_panels
from training.errors import NotEnoughHistoryError
from training.models import SeasonalNaive
from training.models.smoothing import ExponentialSmoothing


def _panel(lengths: dict[str, int], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for uid, n in lengths.items():
        days = pd.date_range("2024-01-01", periods=n, freq="D")
        y = 20 + 5 * np.sin(np.arange(n) * 2 * np.pi / 7) + rng.normal(0, 1, n)
        frames.append(pd.DataFrame({ID: uid, TIME: days, TARGET: y}))
    return pd.concat(frames, ignore_index=True)


def test_windows_end_with_each_series_and_step_back() -> None:
    """The last window's forecasts end on each series' last row; earlier ones `step` earlier."""
    panel = _panel({"a": 40, "b": 30})
    parts = window_panels(panel, Windows(h=5, n_windows=3, step=2))
    last_train, last_actual = parts[-1]
    assert last_actual.groupby(ID)[TIME].max().equals(panel.groupby(ID)[TIME].max())
    assert last_train.groupby(ID).size().to_dict() == {"a": 35, "b": 25}
    assert parts[0][0].groupby(ID).size().to_dict() == {"a": 31, "b": 21}


def test_cv_frame_pairs_forecasts_with_the_actuals_that_followed() -> None:
    """Every row holds the actual y at its date, its cutoff and its step 1..h."""
    panel = _panel({"a": 40, "b": 30})
    cv = cross_validation(SeasonalNaive(), panel, Windows(h=5, n_windows=2))
    assert len(cv) == 2 * 2 * 5
    truth = panel.set_index([ID, TIME])[TARGET]
    assert np.allclose(cv[TARGET], truth.loc[list(zip(cv[ID], cv[TIME], strict=True))].to_numpy())
    assert (cv[TIME] > cv[CUTOFF]).all()
    assert sorted(cv[STEP].unique()) == [1, 2, 3, 4, 5]
    gap = (cv[TIME] - cv[CUTOFF]).dt.days
    assert (gap == cv[STEP]).all()


def test_no_window_sees_data_after_its_cutoff() -> None:
    """Rewriting everything after a window's origin leaves that window's forecasts unchanged."""
    panel = _panel({"a": 60, "b": 45, "c": 50})
    windows = Windows(h=7, n_windows=3)
    model = ExponentialSmoothing("damped", season_length=7)
    before = cross_validation(model, panel, windows)
    first = before[before["window"] == 0]
    cutoffs = first.groupby(ID)[CUTOFF].first()
    changed = panel.copy()
    after = changed[TIME] > changed[ID].map(cutoffs)
    changed.loc[after, TARGET] = 1000.0
    again = cross_validation(model, changed, windows)
    pd.testing.assert_series_equal(
        first["yhat"].reset_index(drop=True),
        again[again["window"] == 0]["yhat"].reset_index(drop=True),
    )
    assert not np.allclose(before["yhat"], again["yhat"])


def test_series_too_short_for_a_window_are_left_out_of_it() -> None:
    """A new product joins the backtest windows it has enough history for."""
    panel = _panel({"old": 50, "new": 12})
    cv = cross_validation(SeasonalNaive(), panel, Windows(h=5, n_windows=2, min_train=4))
    per_window = cv.groupby("window")[ID].unique().to_dict()
    assert list(per_window[0]) == ["old"]
    assert sorted(per_window[1]) == ["new", "old"]


def test_asking_for_more_history_than_exists_is_a_clear_error() -> None:
    """Too many windows for the data names the requirement instead of failing deep inside."""
    with pytest.raises(NotEnoughHistoryError, match="needs >"):
        cross_validation(SeasonalNaive(), _panel({"a": 10}), Windows(h=5, n_windows=3))
