"""Ad-hoc forecasts: a history posted with the request, a fast automatic model, nothing stored.

The model is the default forecaster's fast cut (dynamic optimised Theta and AutoETS, averaged,
TSB for intermittent demand), backtested on the posted history itself, so the answer carries
the accuracy that backtest showed and conformal intervals calibrated on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from features.schema import ID, SEASON_LENGTH, TARGET, TIME
from training.base import MODEL
from training.config import ModelConfig, TrainConfig
from training.errors import TrainingError
from training.evaluate import evaluate, summarize
from training.pipeline import build_model

ADHOC_ID = "adhoc"
MEMBERS = ["dynamic_theta", "auto_ets"]
PERIOD = {"D": "D", "W": "W", "M": "M", "Q": "Q", "Y": "Y"}


@dataclass(frozen=True)
class AdhocForecast:
    """The forecast frame (ds, yhat, bounds), the model's name and its backtest accuracy."""

    forecast: pd.DataFrame
    model: str
    expected: dict[str, float]


#: Forecasts end by this year: dates beyond pandas' calendar (April 2262) cannot be held.
LAST_FORECAST_YEAR = 2261


def _check_dates(dates: pd.Series, freq: str) -> None:
    """The dates must be distinct, in order-free form, and one period apart with no gaps."""
    repeated = dates.duplicated()
    if repeated.any():
        row = int(repeated.to_numpy().nonzero()[0][0])
        raise ValueError(f"history[{row}].ds repeats {dates.iloc[row].date()}")
    periods = dates.dt.to_period(PERIOD[freq]).sort_values()
    if periods.duplicated().any():
        raise ValueError(f"two history dates fall in the same {freq} period")
    steps = periods.to_numpy()[1:] - periods.to_numpy()[:-1]
    gaps = [i for i, step in enumerate(steps) if step.n != 1]
    if gaps:
        before = periods.iloc[gaps[0]]
        raise ValueError(
            f"the history has a gap after {before}; post every {freq} period (0 for no sales)"
        )


def forecast_history(
    history: Sequence[tuple[dt.date, float]],
    freq: str,
    horizon: int,
    interval_levels: Sequence[int],
) -> AdhocForecast:
    """Forecast one posted history `horizon` periods ahead with intervals at `interval_levels`."""
    dates = pd.Series(pd.to_datetime([d for d, _ in history]))
    _check_dates(dates, freq)
    end = dates.max().to_period(PERIOD[freq]) + int(horizon)
    if end.year > LAST_FORECAST_YEAR:  # pandas' calendar ends in April 2262
        raise ValueError(
            f"a {horizon}-period forecast from {dates.max().date()} would end in {end}, after "
            f"{LAST_FORECAST_YEAR}; ask for a shorter horizon"
        )
    panel = pd.DataFrame({ID: ADHOC_ID, TIME: dates, TARGET: [float(y) for _, y in history]})
    panel = panel.sort_values(TIME, ignore_index=True)
    season = SEASON_LENGTH[freq]
    last_error: Exception | None = None
    for windows in (2, 1):
        config = TrainConfig(
            model=ModelConfig(
                horizon=horizon,
                n_windows=windows,
                interval_levels=list(interval_levels),
                members=MEMBERS,
                country=None,
            ),
        )
        model = build_model(config, season, n_jobs=1)
        try:
            model.fit(panel)
        except TrainingError as err:
            last_error = err
            continue
        frame = model.predict(horizon, interval_levels=tuple(interval_levels))
        columns = [c for c in frame.columns if c not in (ID, MODEL)]
        backtest = model.backtest_[model.backtest_[MODEL] == model.alias_name]
        scored = evaluate(
            backtest,
            panel,
            season_length=season,
            interval_levels=(),
            metrics=["mase", "wape", "bias", "direction_hit_rate"],
        )
        expected = {k: float(v) for k, v in summarize(scored, by=()).iloc[0].items() if k != MODEL}
        expected["n_windows"] = windows
        return AdhocForecast(frame[columns], "+".join(MEMBERS), expected)
    raise ValueError(
        f"{len(panel)} periods are too few to backtest a {horizon}-period forecast "
        f"({last_error}); post a longer history or ask for a shorter horizon"
    )
