"""M3 benchmark: our models and default configuration against statsforecast, in one run.

All 3003 M3 series with the official horizons (6/8/18/8) and seasonal periods (1/4/12/1). Our
models are fitted per M3 group; statsforecast's AutoETS, AutoTheta and AutoCES run in their own
virtualenv (statsforecast needs pandas < 3) on the same training data in the same run, and every
forecast is scored by `training.evaluate` on the official test split: sMAPE as in the M3
competition (mean over all series and horizon steps), MASE (per series, scaled by the in-sample
seasonal naive error, averaged over series) and interval coverage.

    python -m benchmarks.m3 [--n-jobs 2] [--models default,theta,...] [--skip-peer]

Writes benchmarks/results/m3.csv and benchmarks/results/m3.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.machine import describe_machine
from features.public_data import load_m3
from features.schema import ID, TIME
from training.auto import AutoForecaster
from training.base import BaseForecaster
from training.config import TrainConfig
from training.evaluate import evaluate
from training.models import (
    AutoARIMA,
    AutoETS,
    DynamicOptimizedTheta,
    GlobalRegressor,
    Naive,
    SeasonalNaive,
    Theta,
)
from training.models.smoothing import ExponentialSmoothing
from training.pipeline import build_model

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
WORK = ROOT / ".work" / "m3"
PEER_VENV = ROOT / ".work" / "peer-venv"
PEER_REQUIREMENTS = ROOT / "peer-requirements.txt"
LEVELS = (80, 95)
PEER_MODELS = ("AutoETS", "AutoTheta", "AutoCES")

Factory = Callable[[int, int, int], BaseForecaster]  # (h, season_length, n_jobs) -> model


def default_config(h: int) -> TrainConfig:
    """The shipped recipe with what M3 fixes, as a user's config file would set it.

    M3's horizon per group; no holidays and no calendar features, as its dates are only labels.
    """
    return TrainConfig.model_validate(
        {"model": {"horizon": h, "country": None, "use_calendar": False}}
    )


def default_model(h: int, season_length: int, n_jobs: int) -> AutoForecaster:
    """The default model of one M3 group, built the way `anticipate train` builds it."""
    return build_model(default_config(h), season_length, n_jobs=n_jobs)


def _our_models() -> dict[str, Factory]:
    """Our single models and the default configuration, by the name used in the results."""
    return {
        "naive": lambda h, m, j: Naive(),
        "seasonal_naive": lambda h, m, j: SeasonalNaive(season_length=m),
        "ses": lambda h, m, j: ExponentialSmoothing("none", season_length=m),
        "damped": lambda h, m, j: ExponentialSmoothing("damped", season_length=m),
        "theta": lambda h, m, j: Theta(season_length=m, n_jobs=j),
        "dynamic_theta": lambda h, m, j: DynamicOptimizedTheta(season_length=m, n_jobs=j),
        "auto_ets": lambda h, m, j: AutoETS(season_length=m, n_jobs=j),
        "auto_arima": lambda h, m, j: AutoARIMA(season_length=m, n_jobs=j),
        "global_hgb": lambda h, m, j: GlobalRegressor(
            season_length=m, horizon=h, use_calendar=False, loss="absolute_error"
        ),
        "default": default_model,
    }


def ensure_peer_venv() -> Path:
    """The statsforecast virtualenv, created from the pinned requirements when missing."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(PEER_REQUIREMENTS)],
            check=True,
        )
    return python


def run_peer(n_jobs: int) -> tuple[pd.DataFrame, dict]:
    """Run statsforecast on the training data in WORK; its forecasts and timings."""
    python = ensure_peer_venv()
    script = ROOT / "peer_statsforecast.py"
    subprocess.run([str(python), str(script), str(WORK), "--n-jobs", str(n_jobs)], check=True)
    forecasts = pd.read_parquet(WORK / "peer_forecasts.parquet")
    forecasts[TIME] = pd.to_datetime(forecasts[TIME]).astype("datetime64[us]")
    forecasts[ID] = forecasts[ID].astype("str")
    meta = json.loads((WORK / "peer_meta.json").read_text())
    return forecasts, meta


def run_ours(name: str, factory: Factory, data, n_jobs: int) -> tuple[pd.DataFrame, float]:  # type: ignore[no-untyped-def]
    """Fit and forecast one of our models per M3 group; its forecasts and wall time."""
    frames, elapsed = [], 0.0
    levels = LEVELS if name == "default" else ()
    for _, info in data.info.groupby("group", sort=False):
        h, m = int(info["horizon"].iloc[0]), int(info["season_length"].iloc[0])
        train = data.train[data.train[ID].isin(info[ID])]
        started = time.perf_counter()
        model = factory(h, m, n_jobs).fit(train, freq=str(info["freq"].iloc[0]))
        frames.append(model.predict(h, interval_levels=levels))
        elapsed += time.perf_counter() - started
    forecast = pd.concat(frames, ignore_index=True)
    forecast["model"] = name
    return forecast, elapsed


def score(forecast: pd.DataFrame, data) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """sMAPE (pooled over points), MASE (mean over series) and coverage over all of M3."""
    joined = forecast.merge(data.test, on=[ID, TIME], how="inner")
    levels = tuple(lv for lv in LEVELS if f"yhat_lo_{lv}" in joined.columns)
    metrics = ["smape", "mase", *(f"coverage_{lv}" for lv in levels)]
    parts = []
    for group, info in data.info.groupby("group", sort=False):
        subset = joined[joined[ID].isin(info[ID])]
        train = data.train[data.train[ID].isin(info[ID])]
        m = int(info["season_length"].iloc[0])
        parts.append(
            evaluate(
                subset, train, season_length=m, interval_levels=levels, metrics=metrics
            ).assign(group=group)
        )
    frame = pd.concat(parts, ignore_index=True)
    out: dict[str, float] = {}
    for group_name, rows in [("all", frame), *frame.groupby("group", sort=False)]:
        smape_rows = rows[rows["metric"] == "smape"]
        mase_rows = rows[rows["metric"] == "mase"]
        prefix = "" if group_name == "all" else f"{group_name}:"
        out[f"{prefix}smape"] = smape_rows["numerator"].sum() / smape_rows["denominator"].sum()
        out[f"{prefix}mase"] = float(np.nanmean(mase_rows["value"]))
        for lv in LEVELS:
            cov = rows[rows["metric"] == f"coverage_{lv}"]
            out[f"{prefix}coverage_{lv}"] = (
                cov["numerator"].sum() / cov["denominator"].sum() if len(cov) else np.nan
            )
    return out


def write_results(rows: list[dict], peer_meta: dict | None, args: argparse.Namespace) -> None:
    """m3.csv (one row per model) and m3.md (with ratios to the peer, machine and versions)."""
    table = pd.DataFrame(rows)
    columns = ["model", "source", "smape", "mase", "coverage_80", "coverage_95", "wall_s"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    table[columns].to_csv(RESULTS / "m3.csv", index=False, float_format="%.4f")
    peer = table[table["source"] == "statsforecast"].set_index("model")
    reference = peer.loc["ensemble"] if "ensemble" in peer.index else None
    peer_time = peer.loc[list(PEER_MODELS), "wall_s"].sum() if len(peer) else np.nan
    lines = [
        "# M3: Anticipate against statsforecast",
        "",
        f"Command: `python -m benchmarks.m3 --n-jobs {args.n_jobs}` (part of `make bench`)",
        f"Date: {time.strftime('%Y-%m-%d')}",
        f"Machine: {describe_machine()}",
        "Versions: "
        + ", ".join(
            f"{p} {version(p)}"
            for p in ("numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "joblib")
        )
        + f", Python {platform.python_version()}"
        + (
            f"; peer: statsforecast {peer_meta['version']} with pandas {peer_meta['pandas']}"
            if peer_meta
            else ""
        ),
        "",
        "All 3003 series, official horizons (Yearly 6, Quarterly 8, Monthly 18, Other 8) and",
        "seasonal periods (1, 4, 12, 1). sMAPE as in the M3 competition (mean over all series and",
        "steps, percent); MASE per series scaled by the in-sample seasonal naive MAE, averaged",
        "over series; coverage = share of test points inside the 80 % / 95 % bounds. `wall_s` is",
        f"fit + predict for all groups with n_jobs={args.n_jobs}; for `default` it includes its",
        "backtests (selection and interval calibration). `ensemble` is the median of",
        "statsforecast's AutoETS, AutoTheta and AutoCES (its time is their sum).",
        "",
        "| model | source | sMAPE | MASE | cov. 80 | cov. 95 | wall s | sMAPE / peer ens. | "
        "MASE / peer ens. |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio_s = row["smape"] / reference["smape"] if reference is not None else np.nan
        ratio_m = row["mase"] / reference["mase"] if reference is not None else np.nan
        lines.append(
            f"| {row['model']} | {row['source']} | {row['smape']:.3f} | {row['mase']:.3f} | "
            f"{_pct(row['coverage_80'])} | {_pct(row['coverage_95'])} | {row['wall_s']:.1f} | "
            f"{ratio_s:.3f} | {ratio_m:.3f} |"
        )
    ours = table.set_index("model").loc["default"] if "default" in set(table["model"]) else None
    if ours is not None and np.isfinite(peer_time):
        lines += [
            "",
            f"Wall time of `default`: {ours['wall_s']:.1f} s; statsforecast AutoETS + AutoTheta + "
            f"AutoCES: {peer_time:.1f} s; ratio {ours['wall_s'] / peer_time:.2f}.",
        ]
    groups = [g for g in ("Yearly", "Quarterly", "Monthly", "Other") if f"{g}:smape" in table]
    lines += ["", "sMAPE / MASE per group:", "", "| model | " + " | ".join(groups) + " |"]
    lines.append("|---|" + "---:|" * len(groups))
    for row in rows:
        cells = [f"{row[f'{g}:smape']:.2f} / {row[f'{g}:mase']:.3f}" for g in groups]
        lines.append(f"| {row['model']} ({row['source']}) | " + " | ".join(cells) + " |")
    (RESULTS / "m3.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _pct(value: float) -> str:
    return "" if not np.isfinite(value) else f"{100 * value:.1f} %"


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--models", default=",".join(_our_models()))
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    data = load_m3()
    WORK.mkdir(parents=True, exist_ok=True)
    data.train.to_parquet(WORK / "train.parquet")
    data.info.to_parquet(WORK / "info.parquet")
    rows: list[dict] = []
    peer_meta = None
    if not args.skip_peer:
        peer, peer_meta = run_peer(args.n_jobs)
        ensemble = peer.groupby([ID, TIME], as_index=False)["yhat"].median()
        for name in (*PEER_MODELS, "ensemble"):
            frame = ensemble if name == "ensemble" else peer[peer["model"] == name]
            wall = (
                sum(peer_meta["timings"].values())
                if name == "ensemble"
                else peer_meta["timings"][name]
            )
            rows.append(
                {"model": name, "source": "statsforecast", "wall_s": wall, **score(frame, data)}
            )
            print(f"statsforecast {name}: {rows[-1]['smape']:.3f} / {rows[-1]['mase']:.3f}")
    factories = _our_models()
    for name in args.models.split(","):
        forecast, wall = run_ours(name, factories[name], data, args.n_jobs)
        rows.append({"model": name, "source": "ours", "wall_s": wall, **score(forecast, data)})
        print(f"ours {name}: {rows[-1]['smape']:.3f} / {rows[-1]['mase']:.3f} in {wall:.1f} s")
    write_results(rows, peer_meta, args)


if __name__ == "__main__":
    main()
