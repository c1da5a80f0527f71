"""The default configuration: what `anticipate train` and the benchmarks use unless told otherwise.

Chosen by the M3 benchmark (benchmarks/results/m3.md): the mean of the dynamic optimised Theta,
AutoETS and the global gradient-boosting model, whose shared backtest also calibrates the
conformal intervals; intermittent and lumpy series (ADI/CV²) go to TSB, which lets the forecast
of a product that stopped selling decay to zero.
"""

from __future__ import annotations

from training.auto import AutoForecaster
from training.base import BaseForecaster
from training.models import TSB, AutoETS, DynamicOptimizedTheta, GlobalRegressor


def default_members(
    *,
    h: int,
    season_length: int | None = None,
    n_jobs: int = 1,
    country: str | None = None,
    use_calendar: bool = True,
) -> list[BaseForecaster]:
    """The candidate models of the default combination (the global model learns h steps)."""
    return [
        DynamicOptimizedTheta(season_length=season_length, n_jobs=n_jobs),
        AutoETS(season_length=season_length, n_jobs=n_jobs),
        GlobalRegressor(
            season_length=season_length,
            horizon=h,
            country=country,
            use_calendar=use_calendar,
            loss="absolute_error",
        ),
    ]


def default_forecaster(
    *,
    h: int,
    season_length: int | None = None,
    n_jobs: int = 1,
    n_windows: int = 2,
    country: str | None = None,
    use_calendar: bool = True,
) -> AutoForecaster:
    """The default AutoForecaster for horizon h (the horizon its intervals are calibrated for)."""
    members = default_members(
        h=h,
        season_length=season_length,
        n_jobs=n_jobs,
        country=country,
        use_calendar=use_calendar,
    )
    return AutoForecaster(
        members,
        combination="mean",
        h=h,
        n_windows=n_windows,
        season_length=season_length,
        intermittent=TSB(),
        n_jobs=n_jobs,
        alias="default",
    )
