"""Simulated launches: how well new-product forecasts do from 0, 1-6, 7-13 or 14-27 periods.

Mature series pretend to launch at a few past dates, and the series that really launched are
replayed from their first sale; each is forecast from its first n periods with a profile of its
peers before that date (never itself) and a ramp learned without its launch cohort. The errors
calibrate the intervals (`calibrations`), and `launch_backtest` scores them against two naive
alternatives, with intervals calibrated out of fold, for the benchmarks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import TARGET
from training.intervals import ConformalCalibration
from training.launch_grid import (
    BUCKETS,
    LAUNCH_MARGIN,
    LEVEL_FLOOR,
    Grid,
    launch_forecasts,
    learned_ramp,
    ramp_at,
)

#: Folds of launch cohorts for out-of-fold interval coverage.
N_FOLDS = 5
SIMULATION_COLUMNS = [
    "kind",
    "series",
    "first",
    "bucket",
    "n",
    "step",
    TARGET,
    "yhat",
    "level",
    "group_mean",
    "observed_mean",
]


def simulate_launches(
    grid: Grid,
    *,
    h: int,
    window: int,
    min_peers: int,
    shrink_periods: float,
    ramp_length: int,
    n_origins: int,
    seed: int,
    ratios: pd.DataFrame | None,
) -> pd.DataFrame:
    """Replay launches of mature series at `n_origins` past dates and of the launched series.

    Returns one row per (series, launch, bucket, step): kind ("mature" or "launched"), series,
    first (the launch period: series launched together form a cohort), bucket, n, step, y,
    yhat, level (the forecast's mean), group_mean (the peers' flat mean) and observed_mean
    (the series' mean over its n periods; the group mean when n is 0).
    """
    rng = np.random.default_rng(seed)
    width = grid.season
    n_bins = ramp_length // width
    n_periods = len(grid.dates)
    latest = n_periods - h - BUCKETS[-1][1]
    starts = [latest - k * 4 * width for k in range(n_origins)]
    launched = np.flatnonzero((grid.first >= LAUNCH_MARGIN) & (grid.first < n_periods))
    plan = [(s, "mature") for s in starts if s > 0]
    plan += [(int(f), "launched") for f in np.unique(grid.first[launched])]
    rows: list[tuple] = []
    for start, kind in plan:
        profiles, mature = grid.series_profiles(start - 1, window, ramp_length)
        if kind == "mature":
            targets, ramp = np.flatnonzero(mature), np.ones(n_bins)
        else:
            targets = launched[grid.first[launched] == start]
            ramp = learned_ramp(ratios, n_bins, start) if ratios is not None else np.ones(n_bins)
        found = [(s, grid.peers_of(s, mature, min_peers)) for s in targets]
        found = [(s, peers) for s, peers in found if peers.any()]
        if not found:
            continue
        targets = np.array([s for s, _ in found])
        profile = np.stack([np.median(profiles[peers], axis=0) for _, peers in found])
        group_mean = np.array([profiles[peers].mean() for _, peers in found])
        for first_n, last_n, label in BUCKETS:
            drawn = rng.integers(first_n, last_n + 1, len(targets))
            for n in np.unique(drawn):
                origin = start + n - 1
                if origin + h >= n_periods:
                    continue
                these = drawn == n
                days = np.arange(start, origin + 1 + h)
                ramped = ramp_at(ramp, days - start, width)
                base = profile[these][:, grid.positions[days]] * ramped
                observed = grid.values[targets[these], start : start + n]
                yhat = launch_forecasts(base[:, :n], observed, base[:, n:], shrink_periods)
                seen = np.isfinite(observed)
                sold = np.where(seen, observed, 0.0).sum(axis=1)
                own = np.where(seen.any(axis=1), sold / np.maximum(seen.sum(axis=1), 1), 0.0)
                own = np.where(seen.any(axis=1), own, group_mean[these])
                level = np.maximum(yhat.mean(axis=1), LEVEL_FLOOR)
                truth = grid.values[targets[these], origin + 1 : origin + 1 + h]
                rows.append(
                    (
                        kind,
                        targets[these],
                        start,
                        label,
                        n,
                        truth,
                        yhat,
                        level,
                        group_mean[these],
                        own,
                    )
                )
    return _frame(rows, h)


def _frame(rows: list[tuple], h: int) -> pd.DataFrame:
    """The simulation frame from one tuple per batch of replayed launches ((m,) series and
    per-series values, (m, h) truth and forecasts)."""
    if not rows:
        return pd.DataFrame(columns=SIMULATION_COLUMNS)
    parts = []
    for kind, series, start, bucket, n, truth, yhat, level, group_mean, own in rows:
        m = len(series)
        parts.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "series": np.repeat(series, h),
                    "first": start,
                    "bucket": bucket,
                    "n": int(n),
                    "step": np.tile(np.arange(1, h + 1), m),
                    TARGET: truth.ravel(),
                    "yhat": yhat.ravel(),
                    "level": np.repeat(level, h),
                    "group_mean": np.repeat(group_mean, h),
                    "observed_mean": np.repeat(own, h),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    return frame[np.isfinite(frame[TARGET].to_numpy())].reset_index(drop=True)


def calibrations(simulation: pd.DataFrame, h: int) -> dict[str, ConformalCalibration]:
    """Per bucket: the signed errors of the simulated launches over their level, per step
    (a bucket or step the history cannot replay borrows every bucket's errors)."""
    errors = (simulation[TARGET] - simulation["yhat"]) / simulation["level"]
    by_step = {k: np.sort(v.to_numpy()) for k, v in errors.groupby(simulation["step"])}
    by_cell = {
        (str(label), int(k)): np.sort(v.to_numpy())
        for (label, k), v in errors.groupby([simulation["bucket"], simulation["step"]])
    }
    out = {}
    for _, _, label in BUCKETS:
        scores = [by_cell.get((label, k), by_step.get(k, np.zeros(0))) for k in range(1, h + 1)]
        out[label] = ConformalCalibration(scores=tuple(scores), signed=True)
    return out


def with_out_of_fold_bounds(
    simulation: pd.DataFrame, h: int, levels: tuple[int, ...] = (80, 95), seed: int = 0
) -> pd.DataFrame:
    """The simulation with bounds from intervals calibrated on the other folds of cohorts."""
    cohorts = simulation["kind"] + ":" + simulation["first"].astype("str")
    cohorts = cohorts.where(
        simulation["kind"] == "launched", "m:" + simulation["series"].astype(str)
    )
    codes, _ = pd.factorize(cohorts)
    fold = np.random.default_rng(seed).permutation(codes.max() + 1)[codes] % N_FOLDS
    out = simulation.copy()
    for k in range(N_FOLDS):
        inside = fold == k
        if not inside.any() or inside.all():
            continue
        calibration = calibrations(simulation[~inside], h)
        part = simulation[inside]
        for label, rows in part.groupby("bucket").groups.items():
            steps = part.loc[rows, "step"].to_numpy()
            level = part.loc[rows, "level"].to_numpy()
            yhat = part.loc[rows, "yhat"].to_numpy()
            for lv in levels:
                low, high = calibration[str(label)].quantiles(lv, h)
                out.loc[rows, f"yhat_lo_{lv}"] = np.maximum(yhat + level * low[steps - 1], 0)
                out.loc[rows, f"yhat_hi_{lv}"] = yhat + level * high[steps - 1]
    return out


def mase_scales(grid: Grid) -> np.ndarray:
    """Per series: the mean absolute seasonal change over its whole observed history (a common
    yardstick for every method scored on it, not a forecast input)."""
    lag = grid.season
    change = np.abs(grid.values[:, lag:] - grid.values[:, :-lag])
    seen = np.isfinite(change)
    total = np.where(seen, change, 0.0).sum(axis=1)
    scale = np.divide(
        total, seen.sum(axis=1), out=np.full(len(grid.ids), np.nan), where=seen.any(1)
    )
    return np.where(scale > 0, scale, np.nan)


def score_launches(simulation: pd.DataFrame, grid: Grid, h: int) -> pd.DataFrame:
    """MASE, WAPE and bias per population, method and bucket; coverage of the profile method.

    Returns: population (launched, mature), method (new_product, group_mean, observed_mean),
    bucket, n_series, n_points, mase, wape, bias, coverage_80, coverage_95.
    """
    frame = with_out_of_fold_bounds(simulation, h)
    frame["scale"] = mase_scales(grid)[frame["series"].to_numpy()]
    rows = []
    for (kind, label), part in frame.groupby(["kind", "bucket"], sort=False):
        y = part[TARGET].to_numpy()
        for method, column in (
            ("new_product", "yhat"),
            ("group_mean", "group_mean"),
            ("observed_mean", "observed_mean"),
        ):
            error = part[column].to_numpy() - y
            scaled = pd.Series(np.abs(error) / part["scale"].to_numpy())
            per_launch = scaled.groupby([part["series"].to_numpy(), part["first"].to_numpy()])
            row = {
                "population": kind,
                "method": method,
                "bucket": label,
                "n_series": int(part["series"].nunique()),
                "n_points": len(part),
                "mase": float(per_launch.mean().mean()),
                "wape": float(np.abs(error).sum() / max(np.abs(y).sum(), LEVEL_FLOOR)),
                "bias": float(error.sum() / max(y.sum(), LEVEL_FLOOR)),
            }
            for lv in (80, 95):
                inside = (y >= part[f"yhat_lo_{lv}"]) & (y <= part[f"yhat_hi_{lv}"])
                row[f"coverage_{lv}"] = float(inside.mean()) if method == "new_product" else np.nan
            rows.append(row)
    order = {label: i for i, (_, _, label) in enumerate(BUCKETS)}
    out = pd.DataFrame(rows)
    out["_order"] = out["bucket"].map(order)
    out = out.sort_values(["population", "method", "_order"], kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)
