"""Realized accuracy of the forecasts the server served, and the drift rule against the backtest.

    realized(points, history, season_length, by=("level",))   # level | n_forecasts | ... | mase
    drift(points, history, expected, season_length)           # unique_id | drift | reason | ...

These frame functions are the reference definitions; the ledger (`serving.ledger.report`) keeps
the same numbers as running sums and shares the drift verdict (`backtest_windows`, `verdict`).
The metrics are `training.evaluate`'s, so realized and expected accuracy mean the same thing.
"level" is the hierarchy level (column HIERARCHY_LEVEL); interval levels are `interval_levels`.
One served forecast is one (unique_id, request_id): the request id is passed to evaluate as the
`model`, so two requests for the same series from the same origin are scored (and counted)
apart. MASE is scaled by the in-sample seasonal naive MAE of `history` up to each cutoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.schema import HIERARCHY_LEVEL, ID, TARGET, TIME
from training.base import MODEL, YHAT
from training.evaluate import DENOMINATOR, METRIC, NUMERATOR, evaluate, evaluate_by_step, summarize
from training.metrics import CUTOFF, STEP

REQUEST = "request_id"
VERSION = "model_version"
HORIZON = "horizon"
GROUPINGS = (ID, HIERARCHY_LEVEL, VERSION, STEP)

#: Drift needs at least this many scored points in the recent window of a group.
MIN_POINTS = 8
#: Backtest windows needed to use their 90th percentile; with fewer, 1.5 x their mean is used.
MIN_WINDOWS = 5
QUANTILE = 0.9
MEAN_FACTOR = 1.5
#: Realized bias (sum of errors / sum of actuals) beyond +/- this band is drift.
BIAS_BAND = 0.2
TOO_FEW = "too few scored points"
DRIFT_NUMBERS = [
    "n_points",
    "window_start",
    "window_end",
    "realized_mase",
    "mase_threshold",
    "threshold_rule",
    "n_windows",
    "expected_mase",
    "realized_bias",
]
#: Drift numbers that are counts (0 when missing).
COUNTED = ("n_points", "n_windows")
#: The constant grouping key of an overall (by=()) group.
ALL = "_all"

DRIFT_RULE = (
    "A series (or level, or model version) drifts when, over its most recent scored points "
    f"(the scored points of its last max({MIN_POINTS}, h) target dates, h = its longest "
    f"horizon served; at least {MIN_POINTS} points), its realized MASE is above the "
    f"{QUANTILE * 100:.0f}th percentile of its backtest windows' MASE ({MEAN_FACTOR} x the "
    f"backtest mean MASE when it has fewer than {MIN_WINDOWS} windows), or its realized bias "
    f"(sum of errors / sum of actuals) is beyond +/-{BIAS_BAND:.0%}. A group's backtest window "
    "is the mean MASE of its member series in that window. With fewer than "
    f"{MIN_POINTS} scored points there is no verdict (drift false, '{TOO_FEW}')."
)


def metric_names(interval_levels: Sequence[int]) -> list[str]:
    """The realized metrics, in the order the frames and the API give them."""
    return ["mase", "wape", "bias", *(f"coverage_{int(lv)}" for lv in interval_levels)]


def _check_by(by: Sequence[str], allowed: Sequence[str]) -> list[str]:
    unknown = [c for c in by if c not in allowed]
    if unknown:
        raise ValueError(f"cannot group by {unknown}; choose from {list(allowed)}")
    return list(by)


def _scored(points: pd.DataFrame) -> pd.DataFrame:
    """The points with a finite actual and forecast, the request id as evaluate's `model`."""
    keep = np.isfinite(points[TARGET].to_numpy(dtype="float64"))
    keep &= np.isfinite(points[YHAT].to_numpy(dtype="float64"))
    scored = points.loc[keep].reset_index(drop=True)
    return scored.assign(**{MODEL: scored[REQUEST].astype("str")})


def _complete(points: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """The scored points of forecasts whose whole horizon has actuals.

    The horizon of a forecast is its `horizon` column when there is one, else the number of its
    rows in `points` (scored or not) or its largest step, whichever is larger.
    """
    keys = [ID, REQUEST]
    if HORIZON in points.columns:
        h = points.groupby(keys, observed=True)[HORIZON].max()
    else:
        grouped = points.groupby(keys, observed=True)[STEP]
        h = np.maximum(grouped.size(), grouped.max())
    done = scored.groupby(keys, observed=True)[STEP].nunique()
    complete = done[done >= h.reindex(done.index)].index
    rows = pd.MultiIndex.from_frame(scored[keys]).isin(complete)
    return scored.loc[rows].reset_index(drop=True)


def _with_keys(long: pd.DataFrame, scored: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The long metrics frame with the `by` columns of each (series, request) attached."""
    extra = [c for c in by if c not in long.columns]
    if not extra:
        return long
    attributes = scored[[ID, MODEL, *extra]].drop_duplicates([ID, MODEL])
    return long.merge(attributes, on=[ID, MODEL], how="left")


def _counts(scored: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """n_forecasts (distinct series x request) and n_points (scored points) per group."""
    forecasts = scored[ID].astype("str") + "\x1f" + scored[MODEL]
    frame = scored[by].assign(n_forecasts=forecasts, n_points=1)
    if not by:
        return pd.DataFrame({"n_forecasts": [forecasts.nunique()], "n_points": [len(scored)]})
    grouped = frame.groupby(by, sort=True, observed=True)
    return grouped.agg(n_forecasts=("n_forecasts", "nunique"), n_points=("n_points", "sum"))


def _empty(by: list[str], names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=[*by, "n_forecasts", "n_points", *names])


def realized(
    points: pd.DataFrame,
    history: pd.DataFrame,
    season_length: int,
    by: Sequence[str] = (ID,),
    interval_levels: Sequence[int] = (80, 95),
) -> pd.DataFrame:
    """Realized accuracy of served forecasts per group of `by`, as the backtest defines it.

    Args:
        points: served points (ledger `scored_points`): unique_id, level, model_version,
            request_id, cutoff, step, ds, yhat, yhat_lo_L/yhat_hi_L, y (NaN when not yet known),
            optionally horizon (needed to tell a partly scored forecast from a short one).
        history: unique_id, ds, y, one row per (unique_id, ds): scales and direction references.
        season_length: the seasonal lag that scales MASE.
        by: any of unique_id, level, model_version, step; () for one overall row. With step,
            the metrics are per horizon step and direction_hit_rate is left out.
        interval_levels: interval levels (%) scored as coverage_L.

    Returns:
        *by | n_forecasts | n_points | mase | wape | bias | coverage_L... | direction_hit_rate.
        mase is averaged over forecasts, the rest pooled over points (`training.evaluate`);
        direction_hit_rate counts only forecasts whose whole horizon has actuals.
    """
    by = _check_by(by, GROUPINGS)
    if STEP in by:
        return _realized_by_step(points, history, season_length, by, interval_levels)
    names = [*metric_names(interval_levels), "direction_hit_rate"]
    scored = _scored(points)
    if scored.empty:
        return _empty(by, names)
    context = {"season_length": season_length, "interval_levels": interval_levels}
    long = evaluate(scored, history, metrics=metric_names(interval_levels), **context)
    complete = _complete(points, scored)
    if not complete.empty:
        direction = evaluate(complete, history, metrics=["direction_hit_rate"], **context)
        long = pd.concat([long, direction], ignore_index=True)
    return _assemble(long, scored, by, names)


def _realized_by_step(
    points: pd.DataFrame,
    history: pd.DataFrame,
    season_length: int,
    by: list[str],
    interval_levels: Sequence[int],
) -> pd.DataFrame:
    names = metric_names(interval_levels)
    scored = _scored(points)
    if scored.empty:
        return _empty(by, names)
    long = evaluate_by_step(
        scored, history, season_length=season_length, interval_levels=interval_levels, metrics=names
    )
    return _assemble(long, scored, by, names)


def _assemble(
    long: pd.DataFrame, scored: pd.DataFrame, by: list[str], names: list[str]
) -> pd.DataFrame:
    """Summarize the long frame per group and put the counts first."""
    wide = summarize(_with_keys(long, scored, by), by=by)
    counts = _counts(scored, by)
    if by:
        out = counts.reset_index().merge(wide, on=by, how="left")
    else:
        out = pd.concat([counts, wide.reset_index(drop=True)], axis=1)
    return out.reindex(columns=[*by, "n_forecasts", "n_points", *names])


def realized_by_step(
    points: pd.DataFrame,
    history: pd.DataFrame,
    season_length: int,
    by: Sequence[str] = (),
    interval_levels: Sequence[int] = (80, 95),
) -> pd.DataFrame:
    """Realized accuracy per horizon step (and per group of `by`), cutoffs pooled.

    Returns:
        *by | step | n_forecasts | n_points | mase | wape | bias | coverage_L... (no direction:
        it is a whole-horizon measure).
    """
    steps = [*[c for c in by if c != STEP], STEP]
    return realized(points, history, season_length, by=steps, interval_levels=interval_levels)


def keyed(frame: pd.DataFrame, by: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """`frame` and the columns to group it by: `by`, or one constant key when `by` is empty."""
    return (frame, by) if by else (frame.assign(**{ALL: 0}), [ALL])


def _recent(scored: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Each group's points of its last max(MIN_POINTS, h) distinct target dates."""
    grouped = scored.groupby(keys, observed=True)
    span = np.maximum(MIN_POINTS, grouped[STEP].transform("max").to_numpy())
    rank = grouped[TIME].rank(method="dense", ascending=False).to_numpy()
    return scored.loc[rank <= span].reset_index(drop=True)


def _recent_numbers(
    recent: pd.DataFrame, history: pd.DataFrame, season_length: int, keys: list[str]
) -> pd.DataFrame:
    """Per group of the recent points: n_points, their dates, realized_mase and realized_bias."""
    long = evaluate(
        recent, history, season_length=season_length, interval_levels=(), metrics=["mase", "bias"]
    )
    long = _with_keys(long, recent, keys)
    sums = long.groupby([*keys, METRIC], observed=True)[[NUMERATOR, DENOMINATOR]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = sums[NUMERATOR] / sums[DENOMINATOR].where(sums[DENOMINATOR] > 0)
    values = ratio.unstack(METRIC).reindex(columns=["mase", "bias"])
    values.columns = ["realized_mase", "realized_bias"]
    spans = recent.groupby(keys, observed=True).agg(
        n_points=(TIME, "size"), window_start=(TIME, "min"), window_end=(TIME, "max")
    )
    return spans.join(values).reset_index()


def member_columns(keys: Sequence[str], expected: pd.DataFrame) -> list[str]:
    """The columns a group's member series are matched on in `expected`, after the keys."""
    on = [ID, *[c for c in keys if c != ID and c in expected.columns]]
    return list(dict.fromkeys([*keys, *on]))


def backtest_windows(
    members: pd.DataFrame, expected: pd.DataFrame, keys: list[str]
) -> pd.DataFrame:
    """Per group: n_windows, expected_mase (mean) and the MASE threshold from its windows.

    `members` lists each group's series (those with scored points): the `member_columns`. A
    group's window value is the mean MASE of its member series at that backtest cutoff, as
    `summarize` averages MASE; series match on unique_id and on any grouping column `expected`
    also has (level; model_version when it is given).
    """
    on = [ID, *[c for c in keys if c != ID and c in expected.columns]]
    members = members[member_columns(keys, expected)].drop_duplicates()
    windows = members.merge(expected[[*on, CUTOFF, "mase"]], on=on, how="inner")
    per_window = windows.groupby([*keys, CUTOFF], observed=True)["mase"].mean().dropna()
    grouped = per_window.groupby(level=keys, observed=True)
    # pandas' group quantile interpolates linearly, as np.quantile does
    stats = grouped.agg(n_windows="size", expected_mase="mean")
    stats["top"] = grouped.quantile(QUANTILE)
    many = stats["n_windows"] >= MIN_WINDOWS
    stats["mase_threshold"] = np.where(many, stats["top"], MEAN_FACTOR * stats["expected_mase"])
    stats["threshold_rule"] = np.where(
        many, f"p{QUANTILE * 100:.0f} of backtest windows", f"{MEAN_FACTOR} x backtest mean"
    )
    return stats.drop(columns="top").reset_index()


def drift(
    points: pd.DataFrame,
    history: pd.DataFrame,
    expected: pd.DataFrame,
    season_length: int,
    by: Sequence[str] = (ID,),
) -> pd.DataFrame:
    """Drift flag per group of `by` with the numbers behind it (see `DRIFT_RULE`).

    Args:
        points, history, season_length: as for `realized`.
        expected: per series and backtest window: unique_id, level, cutoff, mase, ...
            (a model_version column, when present, is matched too).
        by: any of unique_id, level, model_version; () for one overall group.

    Returns:
        *by | drift | reason | n_points | window_start | window_end | realized_mase |
        mase_threshold | threshold_rule | n_windows | expected_mase | realized_bias | bias_band.
        Recent-window MASE weighs every point once (sum of scaled errors / points); bias is
        pooled. reason: "mase", "bias", "mase+bias", "too few scored points" or missing.
    """
    by = _check_by(by, (ID, HIERARCHY_LEVEL, VERSION))
    points, keys = keyed(points, by)
    scored = _scored(points)
    out = points[keys].drop_duplicates().sort_values(keys, ignore_index=True)
    recent = _recent(scored, keys)
    if not recent.empty:
        out = out.merge(_recent_numbers(recent, history, season_length, keys), on=keys, how="left")
        out = out.merge(backtest_windows(scored, expected, keys), on=keys, how="left")
    return verdict(out, by)


def verdict(numbers: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The drift flag and reason of each group from its numbers (`DRIFT_NUMBERS`, any missing).

    Returns *by | drift | reason | DRIFT_NUMBERS | bias_band (the columns of `drift`).
    """
    n = len(numbers)

    def column(name: str) -> np.ndarray:
        return numbers[name].to_numpy() if name in numbers else np.full(n, np.nan)

    counts = {c: np.nan_to_num(column(c).astype("float64")).astype("int64") for c in COUNTED}
    enough = counts["n_points"] >= MIN_POINTS
    mase = column("realized_mase").astype("float64")
    over = enough & (mase > column("mase_threshold").astype("float64"))
    skewed = enough & (np.abs(column("realized_bias").astype("float64")) > BIAS_BAND)
    reason = np.where(over & skewed, "mase+bias", np.where(over, "mase", "bias")).astype(object)
    reason = np.where(enough, reason, TOO_FEW)
    data: dict[str, Any] = {k: column(k) for k in by}
    data["drift"] = over | skewed
    data["reason"] = np.where(~enough | over | skewed, reason, np.nan)
    data.update({c: counts[c] if c in counts else column(c) for c in DRIFT_NUMBERS})
    data["bias_band"] = np.full(n, BIAS_BAND)
    return pd.DataFrame(data)


def expected_summary(expected: pd.DataFrame, by: Sequence[str] = (ID,)) -> pd.DataFrame:
    """Expected (backtest) accuracy per group of `by`, to show next to `realized`.

    Each metric is the mean of its defined per-(series, window) values in the group. For mase
    this is how the backtest summary averages it; wape, bias, coverage and direction are pooled
    in the backtest, but `expected` keeps only values, so here they are unweighted means.

    Returns:
        *by | n_series | n_windows | mase | wape | bias | coverage_L... | direction_hit_rate
        (the numeric metric columns `expected` has).
    """
    missing = [c for c in by if c not in expected.columns]
    if missing:
        raise ValueError(f"cannot group expected accuracy by {missing}: `expected` lacks them")
    frame, keys = keyed(expected, list(by))
    skip = {ID, HIERARCHY_LEVEL, VERSION, CUTOFF, *keys}
    metrics = [c for c in expected.columns if c not in skip]
    metrics = [c for c in metrics if pd.api.types.is_numeric_dtype(expected[c])]
    grouped = frame.groupby(keys, sort=True, observed=True)
    counts = grouped.agg(n_series=(ID, "nunique"), n_windows=(CUTOFF, "nunique"))
    out = counts.join(grouped[metrics].mean()).reset_index()
    return out.drop(columns=[ALL]) if not by else out
