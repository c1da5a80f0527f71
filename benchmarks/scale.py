"""Scale benchmark: time and peak memory of the default configuration as the panel grows.

Generated daily panels of 1k, 5k and 20k series with two years each (the demo generator's
shapes: weekly and yearly seasonality, trends, promotions, slow movers). Each size runs in a
fresh process: fit (backtests + final fits) and a 14-day forecast with 80/95 % intervals.

    python -m benchmarks.scale [--sizes 1000,5000,20000] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

from benchmarks.machine import describe_machine

RESULTS = Path(__file__).resolve().parent / "results"
HORIZON = 14

CHILD = r"""
import json, resource, sys, time
import numpy as np
from features.synthetic import make_demo_sales
from training.config import TrainConfig
from training.pipeline import build_model

n_series, n_jobs, h = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
stores = 4
bakery = max(1, (n_series * 4 // 5) // stores)
web = max(1, n_series - bakery * stores)
demo = make_demo_sales(seed=0, n_stores=stores, n_bakery_items=bakery, n_web_items=web, n_days=730)
panel = demo.sales[["unique_id", "ds", "y"]]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
config = TrainConfig.model_validate({"model": {"horizon": h}})  # the shipped recipe, h = 14
model = build_model(config, season_length=7, n_jobs=n_jobs).fit(panel, freq="D")
fitted = time.perf_counter()
forecast = model.predict(h, interval_levels=(80, 95))
done = time.perf_counter()
print(json.dumps({
    "series": int(panel["unique_id"].nunique()), "rows": len(panel),
    "fit_s": fitted - started, "predict_s": done - fitted,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "data_mib": before / 1024, "forecast_rows": len(forecast),
}))
"""


def main() -> None:
    """Run each panel size in a fresh process and write benchmarks/results/scale.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(size), str(args.n_jobs), str(HORIZON)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(results[-1], flush=True)
    lines = [
        "# Scale: the default configuration on growing daily panels",
        "",
        f"Command: `python -m benchmarks.scale --sizes {args.sizes} --n-jobs {args.n_jobs}`",
        f"Date: {time.strftime('%Y-%m-%d')}",
        f"Machine: {describe_machine()}",
        "Versions: "
        + ", ".join(f"{p} {version(p)}" for p in ("numpy", "pandas", "statsmodels", "joblib"))
        + f", Python {platform.python_version()}",
        "",
        f"Each size in a fresh process: fit = backtest of every member (2 windows of {HORIZON}",
        f"days) + interval calibration + final fits; predict = {HORIZON} days with 80/95 % bounds.",
        "Peak memory is the process's maximum RSS, the generated panel included.",
        "",
        "| series | rows | fit s | predict s | total s | s per 1k series | peak MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        total = r["fit_s"] + r["predict_s"]
        lines.append(
            f"| {r['series']:,} | {r['rows']:,} | {r['fit_s']:.1f} | {r['predict_s']:.2f} | "
            f"{total:.1f} | {1000 * total / r['series']:.1f} | {r['peak_mib']:,.0f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
