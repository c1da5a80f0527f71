"""run_training: from the demand and trend datasets to a fitted model, forecasts and its scores.

Pure: no MLflow, no files, no environment. The caller (the CLI, the API's retrain job, a notebook,
the benchmarks) decides where the datasets come from, how many cores or which Dask cluster to use,
and where the result goes (training.tracking logs it to MLflow). `build_model` is the one builder
of the configured AutoForecaster: `anticipate train` and the benchmarks both go through it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import pandas as pd

from features.demand import DemandDataset
from features.hierarchy import aggregate_exogenous
from features.schema import BOTTOM_LEVEL, HIERARCHY_LEVEL, ID, SEASON_LENGTH, TARGET, TIME
from features.trend import TrendDataset
from training.auto import AutoForecaster, configured
from training.backtest import STEP
from training.base import MODEL
from training.config import TrainConfig
from training.evaluate import evaluate, evaluate_by_step, summarize
from training.intervals import scales_at_cutoffs
from training.models import make_model
from training.parallel import dask_backend

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
    per_hierarchy_level: pd.DataFrame
    per_bucket: pd.DataFrame
    hierarchy_levels: pd.DataFrame  # unique_id -> its hierarchy level (column "level")
    freq: str
    season_length: int
    timings: dict[str, float] = field(default_factory=dict)


def training_panel(demand: DemandDataset, trend: TrendDataset | None) -> pd.DataFrame:
    """Every series to forecast: unique_id, level, ds, y and the demand's exogenous columns.

    All trend levels when `trend` is given, else the demand panel. Bottom series keep their own
    price, promo and other numeric columns; aggregates get the unweighted mean over their members
    (`features.hierarchy.aggregate_exogenous`: mean price, share of members on promotion).
    """
    exog = list(demand.manifest.exogenous)
    if trend is None:
        frame = demand.panel[[ID, TIME, TARGET, *exog]].assign(**{HIERARCHY_LEVEL: BOTTOM_LEVEL})
        return frame[[ID, HIERARCHY_LEVEL, TIME, TARGET, *exog]]
    frame = trend.frame[[ID, HIERARCHY_LEVEL, TIME, TARGET]]
    if not exog:
        return frame
    values = aggregate_exogenous(demand.panel, trend.membership, exog)
    values = values.astype({ID: frame[ID].dtype, TIME: frame[TIME].dtype})
    return frame.merge(values, on=[ID, TIME], how="left", validate="one_to_one")


def model_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """The panel models are fitted on: `training_panel` without the hierarchy level column."""
    return frame.drop(columns=[HIERARCHY_LEVEL])


def build_model(config: TrainConfig, season_length: int, *, n_jobs: int = 1) -> AutoForecaster:
    """The AutoForecaster the config describes; `n_jobs` workers (-1: every core or worker).

    The one builder of the default: `TrainConfig()` gives the model `anticipate train` ships and
    the benchmarks measure.
    """
    settings = config.model
    shared = {
        "season_length": season_length,
        "n_jobs": n_jobs,
        "horizon": settings.horizon,
        "country": settings.country,
        "use_calendar": settings.use_calendar,
        "loss": settings.global_loss,
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
        n_jobs=n_jobs,
        alias="default",
        reconciliation=settings.reconciliation,
        closed_days=settings.closed_days,
        country=settings.country,
        opening={store: given.to_opening() for store, given in settings.opening.items()} or None,
    )


@contextmanager
def machine(dask_scheduler: str | None) -> Iterator[None]:
    """Run the fan-out over series on the Dask cluster at `dask_scheduler`, or locally (None)."""
    with dask_backend(dask_scheduler) if dask_scheduler else nullcontext():
        yield


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
    n_jobs: int = 1,
    dask_scheduler: str | None = None,
) -> TrainingResult:
    """Backtest, fit and forecast every series at every hierarchy level; score the backtest.

    `n_jobs` workers fit series in parallel (-1: every core, or every worker of the cluster);
    with `dask_scheduler` (an address such as tcp://host:8786) they run on that Dask cluster.
    """
    say = progress or (lambda stage: None)
    timings: dict[str, float] = {}
    season_length = config.model.season_length or SEASON_LENGTH[demand.freq]
    interval_levels = config.model.interval_levels
    frame = training_panel(demand, trend)
    hierarchy_levels = frame[[ID, HIERARCHY_LEVEL]].drop_duplicates(ID)
    panel = model_panel(frame)

    say("backtest and fit")
    started = time.perf_counter()
    with machine(dask_scheduler):
        model = build_model(config, season_length, n_jobs=n_jobs)
        membership = None if trend is None else trend.membership
        model = model.fit(panel, freq=demand.manifest.freq_alias, hierarchy=membership)
    timings["fit"] = time.perf_counter() - started

    say("forecast")
    started = time.perf_counter()
    forecasts = model.predict(config.model.horizon, interval_levels=interval_levels)
    forecasts = forecasts.merge(hierarchy_levels, on=ID, how="left")
    timings["forecast"] = time.perf_counter() - started

    say("score")
    started = time.perf_counter()
    combined = model.backtest_[model.backtest_[MODEL] == model.alias_name]
    calibrated = _with_backtest_bounds(model, combined, panel, interval_levels)
    names = [m for m in REPORTED if not m.startswith("coverage") or m in _coverages(config)]
    scored = evaluate(
        calibrated,
        panel,
        season_length=season_length,
        interval_levels=interval_levels,
        metrics=names,
    ).merge(hierarchy_levels, on=ID, how="left")
    summary_row = summarize(scored, by=()).iloc[0]
    summary = {name: float(summary_row[name]) for name in names if name in summary_row}
    per_hierarchy_level = summarize(scored, by=(HIERARCHY_LEVEL,))
    by_step = evaluate_by_step(
        calibrated,
        panel,
        season_length=season_length,
        interval_levels=interval_levels,
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
        per_hierarchy_level=per_hierarchy_level,
        per_bucket=per_bucket,
        hierarchy_levels=hierarchy_levels,
        freq=demand.freq,
        season_length=season_length,
        timings=timings,
    )


def _coverages(config: TrainConfig) -> list[str]:
    return [f"coverage_{lv}" for lv in config.model.interval_levels]


def _with_backtest_bounds(
    model: AutoForecaster,
    combined: pd.DataFrame,
    panel: pd.DataFrame,
    interval_levels: list[int],
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
        for lv in interval_levels:
            lower, upper = route.calibration.quantiles(lv, int(steps.max()))
            out.loc[rows, f"yhat_lo_{lv}"] = (mean + series_scale * lower[steps - 1]).clip(0)
            out.loc[rows, f"yhat_hi_{lv}"] = mean + series_scale * upper[steps - 1]
    return out


def backtest_score(
    model: AutoForecaster,
    demand: DemandDataset,
    trend: TrendDataset | None,
    season_length: int,
    metric: str = "mase",
    *,
    dask_scheduler: str | None = None,
) -> float:
    """Refit a copy of `model`'s configuration on these datasets and score its backtest.

    This puts a champion trained on older data on the same data and windows as a candidate.
    """
    from sklearn.base import clone

    panel = model_panel(training_panel(demand, trend))
    with machine(dask_scheduler):
        membership = None if trend is None else trend.membership
        fitted = clone(model).fit(panel, freq=demand.manifest.freq_alias, hierarchy=membership)
    combined = fitted.backtest_[fitted.backtest_[MODEL] == fitted.alias_name]
    scored = evaluate(
        combined, panel, season_length=season_length, interval_levels=(), metrics=[metric]
    )
    return float(summarize(scored, by=()).iloc[0][metric])
