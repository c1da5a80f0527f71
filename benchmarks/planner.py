"""Planner benchmark: what reconciliation, price/promotion and closed days do to the backtest.

The demo data of `make demo` (a bakery chain of three shops and a web shop, 520 series, three
years). Each variant is trained by `training.pipeline.run_training` from a `TrainConfig`, the path
`anticipate train` takes, and scored on its own rolling-origin backtest (2 windows x 28 days) per
hierarchy level: MASE (scaled by the in-sample seasonal naive), and the coverage of the 80 % and
95 % intervals. "Before" is the model as issue 11 found it: each level forecast on its own, sales
alone, every day open. New products are scored by holding out the first sales of the demo's
launched items (`training.new_products.launch_backtest`), when that module is there.

    python -m benchmarks.planner [--n-jobs 2] [--variants before,shipped]
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from benchmarks.machine import describe_machine
from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import HIERARCHY_LEVEL
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.pipeline import run_training

RESULTS = Path(__file__).resolve().parent / "results"
LEVEL_ORDER = ("total", "store", "category", "store/category", "item", "series", "all")


@dataclass(frozen=True)
class Variant:
    """One recipe: the config changes from the shipped default, and whether price/promo stay."""

    name: str
    label: str
    model: dict[str, object]
    exogenous: bool


VARIANTS = (
    Variant("before", "before (each level alone, sales only, open every day)",
            {"reconciliation": "none", "closed_days": False}, False),
    Variant("reconciled", "+ reconciliation", {"closed_days": False}, False),
    Variant("priced", "+ price/promotion", {"reconciliation": "none", "closed_days": False}, True),
    Variant("closed", "+ closed days", {"reconciliation": "none"}, False),
    Variant("shipped", "shipped default (all three)", {}, True),
)  # fmt: skip


def demo_datasets():  # type: ignore[no-untyped-def]
    """The demand and trend datasets of `make demo` (same generator, same seed)."""
    demo = make_demo_sales(seed=0)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    return demo, demand, build_trend_dataset(demand)


def without_exogenous(demand):  # type: ignore[no-untyped-def]
    """The demand dataset with its price/promotion columns dropped (sales alone)."""
    import dataclasses

    exog = list(demand.manifest.exogenous)
    manifest = dataclasses.replace(demand.manifest, exogenous=[])
    return dataclasses.replace(demand, panel=demand.panel.drop(columns=exog), manifest=manifest)


def run_variant(variant: Variant, demand, trend, n_jobs: int) -> tuple[pd.DataFrame, float]:  # type: ignore[no-untyped-def]
    """Per-level MASE and coverage of one variant's backtest, and its training time."""
    config = TrainConfig.model_validate({"model": variant.model})
    data = demand if variant.exogenous else without_exogenous(demand)
    started = time.perf_counter()
    result = run_training(config, data, trend, n_jobs=n_jobs)
    seconds = time.perf_counter() - started
    table = result.per_hierarchy_level.set_index(HIERARCHY_LEVEL)
    overall = result.summary
    table.loc["all"] = {c: overall.get(c) for c in table.columns}
    method = result.model.reconciliation_
    table.attrs["reconciliation"] = method.method if method is not None else "none"
    return table[["mase", "coverage_80", "coverage_95"]], seconds


def new_products(demo, n_jobs: int) -> pd.DataFrame | None:  # type: ignore[no-untyped-def]
    """The launch backtest of the demo's launched items, when the module exists."""
    try:
        from training.new_products import launch_backtest
    except ImportError:
        return None
    return launch_backtest(demo.sales, demo.attributes)


def render(
    tables: dict[str, tuple[pd.DataFrame, float]], launches: pd.DataFrame | None, command: str
) -> str:
    """The results file."""
    versions = ", ".join(
        f"{p} {version(p)}" for p in ("numpy", "pandas", "scikit-learn", "statsmodels")
    )
    lines = [
        "# Planner benchmark: coherence, price/promotion, closed days, new products",
        "",
        f"Command: `{command}`",
        f"Date: {time.strftime('%Y-%m-%d')}",
        f"Machine: {describe_machine()}",
        f"Versions: {versions}, Python {platform.python_version()}",
        "",
        "The demo data of `make demo` (520 series: 3 shops, a web shop; 3 years daily). Each",
        "variant is trained by `run_training` from a TrainConfig (the path of `anticipate train`)",
        "and scored on its rolling-origin backtest, 2 windows x 28 days; MASE is scaled by the",
        "in-sample seasonal naive. `before` is the model issue 11 started from.",
        "",
    ]
    labels = {v.name: v.label for v in VARIANTS}
    levels = [lv for lv in LEVEL_ORDER if any(lv in t.index for t, _ in tables.values())]
    for metric, title in (("mase", "MASE"), ("coverage_80", "80 % coverage"),
                          ("coverage_95", "95 % coverage")):  # fmt: skip
        lines += [f"## {title} per level", ""]
        names = list(tables)
        lines.append("| level | " + " | ".join(names) + " |")
        lines.append("|---|" + "---:|" * len(names))
        for level in levels:
            cells = []
            for name in names:
                table = tables[name][0]
                value = table[metric].get(level) if level in table.index else None
                cells.append("" if value is None or pd.isna(value) else f"{value:.3f}")
            lines.append(f"| {level} | " + " | ".join(cells) + " |")
        lines.append("")
    if "before" in tables and "shipped" in tables:
        before, shipped = tables["before"][0], tables["shipped"][0]
        ratio = (shipped["mase"] / before["mase"]).reindex(levels)
        worse = [lv for lv in levels if ratio.get(lv, 0) > 1.0]
        lines += [
            "## Shipped against before",
            "",
            "| level | MASE before | MASE shipped | ratio |",
            "|---|---:|---:|---:|",
            *(
                f"| {lv} | {before['mase'][lv]:.3f} | {shipped['mase'][lv]:.3f} | {ratio[lv]:.3f} |"
                for lv in levels
                if lv in before.index and lv in shipped.index
            ),
            "",
            "Levels where the shipped default is less accurate: "
            + (", ".join(worse) if worse else "none")
            + ".",
            "",
        ]
    lines += ["## Variants", "", "| variant | what | reconciliation | training s |",
              "|---|---|---|---:|"]  # fmt: skip
    for name, (table, seconds) in tables.items():
        method = table.attrs.get("reconciliation", "")
        lines.append(f"| {name} | {labels[name]} | {method} | {seconds:.0f} |")
    lines.append("")
    if launches is not None:
        lines += ["## New products (first sales of launched items held out)", ""]
        lines.append("| " + " | ".join(map(str, launches.columns)) + " |")
        lines.append("|" + "---|" * len(launches.columns))
        for row in launches.itertuples(index=False):
            cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS))
    parser.add_argument("--out", type=Path, default=RESULTS / "planner.md")
    args = parser.parse_args()
    wanted = args.variants.split(",")
    demo, demand, trend = demo_datasets()
    tables = {}
    for variant in VARIANTS:
        if variant.name in wanted:
            print(f"training {variant.name} ...", flush=True)
            tables[variant.name] = run_variant(variant, demand, trend, args.n_jobs)
            print(tables[variant.name][0].round(3).to_string(), flush=True)
    launches = new_products(demo, args.n_jobs)
    command = f"python -m benchmarks.planner --n-jobs {args.n_jobs} --variants {args.variants}"
    args.out.write_text(render(tables, launches, command))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
