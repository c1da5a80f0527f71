"""Benchmark: time and peak memory to build the demand and trend datasets from the demo export.

Each repetition runs in a fresh Python process (so peak RSS is that run's own) and does what
`anticipate data build` does: read and validate the CSV files, build the daily demand panel,
aggregate the trend dataset over the hierarchy with its signals, and write both as Parquet.
A weekly build is measured too. Results go to benchmarks/results/datasets.md.

    python -m benchmarks.datasets [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from benchmarks.machine import describe_machine

RESULTS = Path(__file__).resolve().parent / "results"

CHILD = r"""
import json, resource, sys, time
from features.ingest import read_sales, ReadOptions
from features.demand import build_demand_dataset
from features.trend import build_trend_dataset
from features.storage import write_demand_dataset, write_trend_dataset

folder, out, freq = sys.argv[1], sys.argv[2], sys.argv[3]
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
stages = {}
start = time.perf_counter()
t = time.perf_counter()
history = read_sales(f"{folder}/sales.csv", f"{folder}/attributes.csv", ReadOptions())
stages["read_validate"] = time.perf_counter() - t
t = time.perf_counter()
demand = build_demand_dataset(history, freq=None if freq == "native" else freq)
stages["demand"] = time.perf_counter() - t
t = time.perf_counter()
trend = build_trend_dataset(demand)
stages["trend"] = time.perf_counter() - t
t = time.perf_counter()
write_demand_dataset(demand, out)
write_trend_dataset(trend, out)
stages["write"] = time.perf_counter() - t
total = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "total": total, "stages": stages, "peak_mib": peak / 1024, "baseline_mib": baseline / 1024,
    "input_rows": len(history.panel), "demand_rows": demand.manifest.n_rows,
    "demand_series": demand.manifest.n_series, "trend_rows": trend.manifest.n_rows,
    "trend_series": trend.manifest.n_series,
}))
"""


def _run_once(folder: Path, out: Path, freq: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(out), freq],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Generate the demo export, build the datasets `repeats` times, write the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from features.synthetic import make_demo_sales, write_demo_files

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "demo"
        write_demo_files(make_demo_sales(seed=0), folder)
        size_mib = (folder / "sales.csv").stat().st_size / 2**20
        runs: dict[str, list[dict]] = {}
        for freq in ("native", "W"):
            runs[freq] = [
                _run_once(folder, Path(scratch) / f"out-{freq}-{i}", freq)
                for i in range(args.repeats)
            ]
            print(f"{freq}: " + ", ".join(f"{r['total']:.2f}s" for r in runs[freq]), flush=True)

    lines = [
        "# Building the demand and trend datasets from the demo export",
        "",
        f"Command: `python -m benchmarks.datasets --repeats {args.repeats}` (also `make bench`)",
        f"Date: {time.strftime('%Y-%m-%d')}",
        f"Machine: {describe_machine()}",
        "Versions: "
        + ", ".join(
            f"{name} {version(name)}" for name in ("pandas", "numpy", "pyarrow", "holidays")
        )
        + f", Python {platform.python_version()}",
        "",
        f"Input: the default demo export, `sales.csv` {size_mib:.1f} MiB plus `attributes.csv`.",
        "Each run is a fresh process: read + validate the CSV, build the demand panel, build the",
        "trend dataset over every hierarchy level with its signals, write both as Parquet.",
        "Peak memory is the process's maximum resident set size (Python and libraries included).",
        "",
        "| build | input rows | demand series x rows | trend series x rows | median s | min s | "
        "max s | peak MiB (median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for freq, results in runs.items():
        first = results[0]
        totals = [r["total"] for r in results]
        peaks = [r["peak_mib"] for r in results]
        label = "daily (native)" if freq == "native" else "weekly"
        lines.append(
            f"| {label} | {first['input_rows']:,} | {first['demand_series']:,} x "
            f"{first['demand_rows']:,} | {first['trend_series']:,} x {first['trend_rows']:,} | "
            f"{statistics.median(totals):.2f} | {min(totals):.2f} | {max(totals):.2f} | "
            f"{statistics.median(peaks):,.0f} |"
        )
    lines += ["", "Median seconds per stage:", "", "| build | " + " | ".join(_STAGES) + " |"]
    lines.append("|---|" + "---:|" * len(_STAGES))
    for freq, results in runs.items():
        medians = [statistics.median(r["stages"][s] for r in results) for s in _STAGES]
        label = "daily (native)" if freq == "native" else "weekly"
        lines.append(f"| {label} | " + " | ".join(f"{m:.2f}" for m in medians) + " |")
    lines += [
        "",
        "Target (issue 2): under 30 s and under 2 GB for >= 500k rows. "
        "No peer tool builds these datasets, so there is no ratio column.",
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "datasets.md").write_text("\n".join(lines))
    print("\n".join(lines))


_STAGES = ("read_validate", "demand", "trend", "write")

if __name__ == "__main__":
    main()
