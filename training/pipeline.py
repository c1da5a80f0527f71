"""run_training: from the demand and trend datasets to a fitted model, forecasts and its scores.

Pure: no MLflow, no files, no environment. The caller (the CLI, a notebook) decides where the
datasets come from and where the result goes (training.tracking logs it to MLflow).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from features.demand import DemandDataset
from features.schema import BOTTOM_LEVEL, ID, LEVEL, SEASON_LENGTH, TARGET, TIME
from features.trend import TrendDataset
from training.auto import AutoForecaster, configured
from training.backtest import STEP
from training.base import MODEL
from training.config import TrainConfig
from training.evaluate import evaluate, evaluate_by_step, summarize
from training.intervals import scales_at_cutoffs
from training.models import make_model

#: Metrics a training run reports, overall, per hierarchy level and per horizon bucket.
REPORTED = (
    "mase",
    "rmsse",
    "smape",
    "wape",
    "bias",
    "coverage_80",
    "coverage_95",
    "direction_hit_rate",
)
BUCKETS = 4

Progress = Callable[[str], None]


@dataclass
class TrainingResult:
    """What a training run produced: the model, its forecasts and how accurate it was."""

    config: TrainConfig
    model: AutoForecaster
    forecasts: pd.DataFrame
    backtest: pd.DataFrame
    series_metrics: pd.DataFrame
    summary: dict[str, float]
    per_level: pd.DataFrame
    per_bucket: pd.DataFrame
    levels: pd.DataFrame
    freq: str
    season_length: int
    timings: dict[str, float] = field(default_factory=dict)


def training_panel(demand: DemandDataset, trend: TrendDataset | None) -> pd.DataFrame:
    """Every series to forecast with its hierarchy level: all trend levels, or the demand panel."""
    if trend is not None:
        return trend.frame[[ID, LEVEL, TIME, TARGET]]
    return demand.panel[[ID, TIME, TARGET]].assign(**{LEVEL: BOTTOM_LEVEL})


def build_model(config: TrainConfig, season_length: int) -> AutoForecaster:
    """The AutoForecaster the config describes."""
    settings = config.model
    shared = {
        "season_length": season_length,
        "n_jobs": config.run.n_jobs,
        "horizon": settings.horizon,
        "country": settings.country,
        "random_state": config.run.seed,
    }
    members = [configured(make_model(name), **shared) for name in settings.members]
    intermittent = make_model(settings.intermittent) if settings.intermittent else None
    return AutoForecaster(
        members,
        combination=settings.combination,
        h=settings.horizon,
        n_windows=settings.n_windows,
        season_length=season_length,
        intermittent=intermittent,
        n_jobs=config.run.n_jobs,
        alias="default",
    )


def _bucket_labels(h: int) -> pd.Series:
    width = math.ceil(h / BUCKETS)
    steps = pd.Series(range(1, h + 1), index=range(1, h + 1))
    start = ((steps - 1) // width) * width + 1
    end = (start + width - 1).clip(upper=h)
    return start.astype(str) + "-" + end.astype(str)


def run_training(
    config: TrainConfig,
    demand: DemandDataset,
    trend: TrendDataset | None = None,
    *,
    progress: Progress | None = None,
) -> TrainingResult:
    """Backtest, fit and forecast every series at every hierarchy level; score the backtest."""
    say = progress or (lambda stage: None)
    timings: dict[str, float] = {}
    season_length = config.model.season_length or SEASON_LENGTH[demand.freq]
    frame = training_panel(demand, trend)
    levels = frame[[ID, LEVEL]].drop_duplicates(ID)
    panel = frame[[ID, TIME, TARGET]]

    say("backtest and fit")
    started = time.perf_counter()
    model = build_model(config, season_length).fit(panel, freq=demand.manifest.freq_alias)
    timings["fit"] = time.perf_counter() - started

    say("forecast")
    started = time.perf_counter()
    forecasts = model.predict(config.model.horizon, levels=config.model.levels)
    forecasts = forecasts.merge(levels, on=ID, how="left")
    timings["forecast"] = time.perf_counter() - started

    say("score")
    started = time.perf_counter()
    combined = model.backtest_[model.backtest_[MODEL] == model.alias_name]
    calibrated = _with_backtest_bounds(model, combined, panel, config.model.levels)
    names = [m for m in REPORTED if not m.startswith("coverage") or m in _coverages(config)]
    scored = evaluate(
        calibrated, panel, season_length=season_length, levels=config.model.levels, metrics=names
    ).merge(levels, on=ID, how="left")
    summary_row = summarize(scored, by=()).iloc[0]
    summary = {name: float(summary_row[name]) for name in names if name in summary_row}
    per_level = summarize(scored, by=(LEVEL,))
    by_step = evaluate_by_step(
        calibrated,
        panel,
        season_length=season_length,
        levels=config.model.levels,
        metrics=[n for n in names if n != "direction_hit_rate"],
    )
    by_step["bucket"] = by_step[STEP].map(_bucket_labels(config.model.horizon))
    per_bucket = summarize(by_step, by=("bucket",))
    per_bucket = per_bucket.sort_values("bucket", key=lambda b: b.str.split("-").str[0].astype(int))
    per_bucket = per_bucket.reset_index(drop=True)
    timings["score"] = time.perf_counter() - started
    return TrainingResult(
        config=config,
        model=model,
        forecasts=forecasts,
        backtest=model.backtest_,
        series_metrics=scored,
        summary=summary,
        per_level=per_level,
        per_bucket=per_bucket,
        levels=levels,
        freq=demand.freq,
        season_length=season_length,
        timings=timings,
    )


def _coverages(config: TrainConfig) -> list[str]:
    return [f"coverage_{level}" for level in config.model.levels]


def _with_backtest_bounds(
    model: AutoForecaster, combined: pd.DataFrame, panel: pd.DataFrame, levels: list[int]
) -> pd.DataFrame:
    """The combined backtest with the conformal bounds of each step and series scale.

    The bounds are calibrated on these same errors, so backtest coverage is close to the nominal
    level by construction; it is reported to check the machinery, not as an independent estimate.
    """
    out = combined.reset_index(drop=True)
    for route in model.routes_:
        ids = set(model.unique_ids_[route.rows])
        rows = out[ID].isin(ids).to_numpy()
        steps = out.loc[rows, STEP].to_numpy()
        series_scale = scales_at_cutoffs(panel, out.loc[rows])
        mean = out.loc[rows, "yhat"].to_numpy()
        for level in levels:
            lower, upper = route.calibration.quantiles(level, int(steps.max()))
            out.loc[rows, f"yhat_lo_{level}"] = (mean + series_scale * lower[steps - 1]).clip(0)
            out.loc[rows, f"yhat_hi_{level}"] = mean + series_scale * upper[steps - 1]
    return out


def backtest_score(
    model: AutoForecaster,
    demand: DemandDataset,
    trend: TrendDataset | None,
    season_length: int,
    metric: str = "mase",
) -> float:
    """Refit a copy of `model`'s configuration on these datasets and score its backtest.

    This puts a champion trained on older data on the same data and windows as a candidate.
    """
    from sklearn.base import clone

    panel = training_panel(demand, trend)[[ID, TIME, TARGET]]
    fitted = clone(model).fit(panel, freq=demand.manifest.freq_alias)
    combined = fitted.backtest_[fitted.backtest_[MODEL] == fitted.alias_name]
    scored = evaluate(combined, panel, season_length=season_length, levels=(), metrics=[metric])
    return float(summarize(scored, by=()).iloc[0][metric])
