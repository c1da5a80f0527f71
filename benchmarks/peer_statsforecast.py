"""The peer side of the M3 benchmark: statsforecast's AutoETS, AutoTheta and AutoCES.

statsforecast 2.1 needs pandas < 3, so `benchmarks/m3.py` runs this script in its own virtualenv
(`benchmarks/.work/peer-venv`) in the same benchmark run. It reads the M3 training data our loader
wrote, fits each model per M3 group with that group's season length and horizon (n_jobs as
given), times each model, and writes the forecasts with 80 % and 95 % intervals.

    python benchmarks/peer_statsforecast.py WORKDIR --n-jobs 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoCES, AutoETS, AutoTheta

MODELS = {"AutoETS": AutoETS, "AutoTheta": AutoTheta, "AutoCES": AutoCES}
LEVELS = [80, 95]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    train = pd.read_parquet(args.workdir / "train.parquet")
    info = pd.read_parquet(args.workdir / "info.parquet")
    timings: dict[str, float] = {name: 0.0 for name in MODELS}
    frames = []
    for group, members in info.groupby("group", sort=False):
        season = int(members["season_length"].iloc[0])
        horizon = int(members["horizon"].iloc[0])
        freq = str(members["freq"].iloc[0])
        data = train[train["unique_id"].isin(members["unique_id"])]
        for name, model in MODELS.items():
            sf = StatsForecast(
                models=[model(season_length=season, alias=name)], freq=freq, n_jobs=args.n_jobs
            )
            started = time.perf_counter()
            forecast = sf.forecast(df=data, h=horizon, level=LEVELS)
            timings[name] += time.perf_counter() - started
            forecast = forecast.reset_index() if "unique_id" not in forecast else forecast
            renamed = forecast.rename(
                columns={
                    name: "yhat",
                    **{f"{name}-{s}-{lv}": f"yhat_{s}_{lv}" for s in ("lo", "hi") for lv in LEVELS},
                }
            )
            renamed["model"] = name
            frames.append(
                renamed[
                    [
                        "unique_id",
                        "ds",
                        "model",
                        "yhat",
                        "yhat_lo_80",
                        "yhat_hi_80",
                        "yhat_lo_95",
                        "yhat_hi_95",
                    ]
                ]
            )
            print(f"{group} {name}: {timings[name]:.1f}s cumulative", flush=True)
    pd.concat(frames, ignore_index=True).to_parquet(args.workdir / "peer_forecasts.parquet")
    import statsforecast

    meta = {"timings": timings, "version": statsforecast.__version__, "pandas": pd.__version__}
    (args.workdir / "peer_meta.json").write_text(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
