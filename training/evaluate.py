"""Score forecasts against actuals: a long metrics frame per series, and its summary per model.

    long = evaluate(cv, train, season_length=12)   # unique_id | model | cutoff | metric | value
    wide = summarize(long)                         # model | mase | rmsse | ... | direction_hit_rate

The long frame also carries each value's `numerator` and `denominator`, so `summarize` can pool
exactly: wape, bias, coverage_L and direction_hit_rate are computed on all pooled points (sum of
numerators / sum of denominators, so a series whose own value is undefined still counts);
mase, rmsse, smape, mae, rmse and pinball are averaged over (series, cutoff) values, leaving out
undefined (NaN) ones, as M3/M4/M5 report them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.schema import ID, TARGET, TIME
from features.trend import DEFAULT_BAND
from training.base import MODEL, YHAT, hi, lo
from training.errors import TrainingError
from training.metrics import CUTOFF, STEP, Metric, Scoring, finish, get_metric

METRIC = "metric"
VALUE = "value"
NUMERATOR = "numerator"
DENOMINATOR = "denominator"
POINT_METRICS = ("mase", "rmsse", "smape", "wape", "mae", "rmse", "bias")


def default_metrics(interval_levels: Sequence[int]) -> list[str]:
    """The reported metric names for these interval levels (percent), in reporting order."""
    interval = ["pinball", *(f"coverage_{int(lv)}" for lv in sorted(interval_levels))]
    return [*POINT_METRICS, *(interval if interval_levels else []), "direction_hit_rate"]


def _resolve(
    cv: pd.DataFrame, metrics: Sequence[str] | None, interval_levels: Sequence[int]
) -> list[Metric]:
    """Metric objects for the requested names, checked against the columns of `cv`."""
    names = default_metrics(interval_levels) if metrics is None else list(metrics)
    try:
        resolved = [get_metric(name) for name in names]
    except ValueError as error:
        raise TrainingError(str(error)) from None
    wanted = set(interval_levels) if any(m.name == "pinball" for m in resolved) else set()
    wanted |= {int(m.name.split("_")[1]) for m in resolved if m.name.startswith("coverage_")}
    missing = [c for lv in sorted(wanted) for c in (lo(lv), hi(lv)) if c not in cv]
    if missing:
        raise TrainingError(
            f"the forecasts lack interval column(s) {missing}; pass interval_levels=()"
        )
    return resolved


def _long_frame(
    cv: pd.DataFrame, by: Sequence[str], metrics: list[Metric], **context: object
) -> pd.DataFrame:
    """Every metric for every group of `by` as rows of a long frame."""
    missing = [c for c in (ID, TIME, TARGET, YHAT) if c not in cv.columns]
    if missing:
        raise TrainingError(f"the forecast frame lacks column(s) {missing}")
    if MODEL not in cv.columns:
        cv = cv.assign(**{MODEL: YHAT})
    scoring = Scoring(cv, by, **context)  # type: ignore[arg-type]
    parts = [metric.kernel(scoring) for metric in metrics]
    values = [finish(m, num, den) for m, (num, den) in zip(metrics, parts, strict=True)]
    n, k = scoring.n, len(metrics)
    frame = scoring.keys.take(np.repeat(np.arange(n), k)).reset_index(drop=True)
    names = pd.Series([m.name for m in metrics], dtype="str").take(np.tile(np.arange(k), n))
    return frame.assign(
        **{
            METRIC: names.reset_index(drop=True),
            VALUE: np.column_stack(values).ravel() if k else np.empty(0),
            NUMERATOR: np.column_stack([p[0] for p in parts]).ravel() if k else np.empty(0),
            DENOMINATOR: np.column_stack([p[1] for p in parts]).ravel() if k else np.empty(0),
        }
    )


def evaluate(
    cv: pd.DataFrame,
    train: pd.DataFrame,
    *,
    season_length: int,
    interval_levels: Sequence[int] = (80, 95),
    metrics: Sequence[str] | None = None,
    band: float = DEFAULT_BAND,
) -> pd.DataFrame:
    """Every metric per series, model and cutoff of a backtest (or of scored live forecasts).

    Args:
        cv: unique_id, ds, y, yhat (+ model, cutoff, yhat_lo_L/yhat_hi_L per interval level L).
        train: the history unique_id, ds, y; per cutoff only rows with ds <= cutoff are used.
        season_length: lag of the seasonal naive forecast that scales mase, rmsse and pinball.
        interval_levels: levels (%) scored by pinball and coverage_L; () for point forecasts.
        metrics: names from `training.metrics.METRICS` (or coverage_L); None for all.
        band: dead band of the direction labels.

    Returns:
        Long frame unique_id | model | cutoff (when in `cv`) | metric | value | numerator |
        denominator, one row per group and metric (value NaN where undefined).
    """
    resolved = _resolve(cv, metrics, interval_levels)
    context = {
        "train": train,
        "season_length": season_length,
        "interval_levels": interval_levels,
        "band": band,
    }
    return _long_frame(cv, (ID, MODEL, CUTOFF), resolved, **context)


def evaluate_by_step(
    cv: pd.DataFrame,
    train: pd.DataFrame,
    *,
    season_length: int,
    interval_levels: Sequence[int] = (80, 95),
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every metric per series, model and horizon step, pooling the cutoffs of a backtest.

    Scaled errors keep the scale of their own cutoff. The direction hit rate is a whole-horizon
    measure and is left out.

    Returns:
        Long frame unique_id | model | step | metric | value | numerator | denominator.
    """
    if STEP not in cv.columns:
        raise TrainingError(f"evaluate_by_step needs a {STEP!r} column (1..h) in the forecasts")
    names = default_metrics(interval_levels) if metrics is None else list(metrics)
    resolved = _resolve(cv, [n for n in names if n != "direction_hit_rate"], interval_levels)
    context = {"train": train, "season_length": season_length, "interval_levels": interval_levels}
    return _long_frame(cv, (ID, MODEL, STEP), resolved, **context)


def summarize(metrics: pd.DataFrame, by: Sequence[str] = (MODEL,)) -> pd.DataFrame:
    """Overall value of each metric per group of `by` (default: per model), as a wide frame.

    Pooled metrics (wape, bias, coverage_L, direction_hit_rate) add up numerators and
    denominators over all rows; the others average the defined per-series values.
    """
    by = list(by)
    codes, uniques = pd.factorize(metrics[METRIC])
    names = list(uniques)
    pooled = np.array([get_metric(name).pooled for name in names], dtype=bool)[codes]
    value = metrics[VALUE].to_numpy(dtype="float64")
    defined = np.isfinite(value)
    parts = metrics[[*by, METRIC]].assign(
        _num=np.where(pooled, metrics[NUMERATOR], np.where(defined, value, 0.0)),
        _den=np.where(pooled, metrics[DENOMINATOR], defined.astype("float64")),
    )
    sums = parts.groupby([*by, METRIC], sort=True, observed=True)[["_num", "_den"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        overall = sums["_num"] / sums["_den"].where(sums["_den"] > 0)
    if not by:
        wide = overall.to_frame().T.reindex(columns=names).reset_index(drop=True)
        wide.columns.name = None
        return wide
    wide = overall.unstack(METRIC).reindex(columns=names).reset_index()
    wide.columns.name = None
    return wide
