"""`anticipate data demo` and `anticipate data build`: demo sales files, demand and trend datasets.

Bad data exits with code 2 and the validation report; nothing already built is touched.
"""

from __future__ import annotations

import os
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from anticipate.cli.output import bad_data_exits, console, fail, stage
from anticipate.settings import get_settings
from features.demand import build_demand_dataset
from features.errors import DataWarning
from features.hierarchy import Hierarchy
from features.ingest import ReadOptions, id_columns, read_sales
from features.manifest import Manifest
from features.storage import write_demand_dataset, write_trend_dataset
from features.synthetic import make_demo_sales, write_demo_files
from features.trend import build_trend_dataset

app = typer.Typer(help="Demo data and the demand and trend datasets.", no_args_is_help=True)


class Frequency(StrEnum):
    """Dataset frequencies accepted on the command line."""

    D = "D"
    W = "W"
    M = "M"
    Q = "Q"
    Y = "Y"


class NegativePolicy(StrEnum):
    error = "error"
    clip = "clip"


class DuplicatePolicy(StrEnum):
    error = "error"
    sum = "sum"


class ShortPolicy(StrEnum):
    error = "error"
    drop = "drop"


@app.command("demo")
def data_demo(
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for sales.csv and attributes.csv; default: ANTICIPATE_DEMO_DIR."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
) -> None:
    """Write the demo history of a bakery chain and its web shop as a planner would export it."""
    out = writable_folder(out or get_settings().demo_dir)
    timings: dict[str, float] = {}
    demo = stage("Generating demo sales", lambda: make_demo_sales(seed=seed), timings)
    paths = stage("Writing CSV files", lambda: write_demo_files(demo, out), timings)
    sales = demo.sales
    table = Table(title="Demo data", show_header=False)
    table.add_row("series", f"{sales['unique_id'].nunique():,}")
    table.add_row("stores", ", ".join(sorted(demo.attributes["store"].unique())))
    table.add_row("rows", f"{len(sales):,}")
    table.add_row("dates", f"{sales['ds'].min().date()} to {sales['ds'].max().date()}")
    for name, path in paths.items():
        table.add_row(name, str(path))
    console.print(table)


@app.command("build")
def data_build(
    sales: Annotated[
        Path, typer.Option(help="Sales export (CSV or Parquet): one row per day or per line.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder that receives demand/ and trend/; default: ANTICIPATE_DATA_DIR."),
    ] = None,
    attributes: Annotated[
        Path | None, typer.Option(help="Table of unique_id -> category, store, ...")
    ] = None,
    freq: Annotated[
        Frequency | None, typer.Option(help="Dataset frequency; inferred when left out.")
    ] = None,
    id_col: Annotated[
        list[str] | None,
        typer.Option(
            "--id-col",
            "--item-col",
            help="Column(s) naming a series, e.g. --id-col sku --id-col store.",
        ),
    ] = None,
    store_col: Annotated[
        str | None,
        typer.Option(help="Store column: the id becomes item@store, store an attribute."),
    ] = None,
    time_col: Annotated[str, typer.Option("--time-col", "--date-col", help="Date column.")] = "ds",
    time_of_day_col: Annotated[
        str | None,
        typer.Option(help="Separate time-of-day column (e.g. Uhrzeit); detected if absent."),
    ] = None,
    target_col: Annotated[str, typer.Option(help="Quantity-sold column.")] = "y",
    status_col: Annotated[
        str | None,
        typer.Option(help="Line status column: Storno/void/return lines net against sales."),
    ] = None,
    order_col: Annotated[
        str | None,
        typer.Option(help="Order column: lines with a blank status take their order's status."),
    ] = None,
    keep_col: Annotated[
        list[str] | None,
        typer.Option(help="Read only these extra columns (repeatable); the rest are ignored."),
    ] = None,
    drop_col: Annotated[
        list[str] | None, typer.Option(help="Never read this column (repeatable).")
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", "--sep", help="CSV delimiter; sniffed if absent.")
    ] = None,
    decimal: Annotated[str | None, typer.Option(help="Decimal mark; detected if absent.")] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV files.")] = "utf-8-sig",
    date_format: Annotated[
        str | None, typer.Option(help="strftime format of the dates, e.g. %d.%m.%Y.")
    ] = None,
    negative: Annotated[
        NegativePolicy, typer.Option(help="Negative quantities: error, or clip to 0.")
    ] = NegativePolicy.error,
    duplicates: Annotated[
        DuplicatePolicy, typer.Option(help="Repeated (series, date) rows: error, or sum them.")
    ] = DuplicatePolicy.error,
    short_series: Annotated[
        ShortPolicy, typer.Option(help="Series that are too short: error, or drop them.")
    ] = ShortPolicy.error,
    min_observations: Annotated[int, typer.Option(min=1, help="Rows a series needs.")] = 3,
    levels: Annotated[
        str | None, typer.Option(help='Hierarchy levels, e.g. "store,store/category,category".')
    ] = None,
    windows: Annotated[
        str | None, typer.Option(help="Trend windows in periods, e.g. 7,28.")
    ] = None,
    band: Annotated[float, typer.Option(min=0.0, max=1.0, help="Flat band of directions.")] = 0.05,
) -> None:
    """Validate a sales export and build the demand and trend datasets from it."""
    out = writable_folder(out or get_settings().data_dir)
    options = ReadOptions(
        id_cols=id_columns(id_col),
        store_col=store_col,
        time_col=time_col,
        clock_col=time_of_day_col,
        target_col=target_col,
        status_col=status_col,
        order_col=order_col,
        keep_cols=tuple(keep_col or ()),
        drop_cols=tuple(drop_col or ()),
        delimiter=delimiter,
        decimal=decimal,
        encoding=encoding,
        date_format=date_format,
        negative=negative.value,
        duplicates=duplicates.value,
        short_series=short_series.value,
        min_observations=min_observations,
        freq=freq.value if freq else None,
    )
    trend_windows = _parse_windows(windows)
    hierarchy = Hierarchy.parse(levels) if levels else None
    timings: dict[str, float] = {}
    with bad_data_exits(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        history = stage(
            "Reading and checking", lambda: read_sales(sales, attributes, options), timings
        )
        demand = stage(
            "Building demand dataset",
            lambda: build_demand_dataset(history, freq=freq.value if freq else None),
            timings,
        )
        trend = stage(
            "Building trend dataset",
            lambda: build_trend_dataset(
                demand, hierarchy=hierarchy, windows=trend_windows, band=band
            ),
            timings,
        )
        demand_dir = stage("Writing demand", lambda: write_demand_dataset(demand, out), timings)
        trend_dir = stage("Writing trend", lambda: write_trend_dataset(trend, out), timings)
    for warning in caught:
        # a repaired problem is also one of the dataset's notes, printed with the summary
        if issubclass(warning.category, DataWarning) and (
            str(warning.message) not in demand.manifest.notes
        ):
            console.print(f"[yellow]note:[/] {escape(str(warning.message))}", soft_wrap=True)
    _print_summary(demand.manifest, trend.manifest, demand_dir, trend_dir, timings)


def _parse_windows(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"windows must be whole numbers like 7,28; got {text!r}") from None
    if not values or min(values) < 1:
        raise typer.BadParameter(f"windows must be positive whole numbers; got {text!r}")
    return values


def _print_summary(
    demand: Manifest,
    trend: Manifest,
    demand_dir: Path,
    trend_dir: Path,
    timings: dict[str, float],
) -> None:
    """Print what was built, where, and what was repaired on the way."""
    table = Table(title="Datasets built")
    table.add_column("dataset")
    table.add_column("series", justify="right")
    table.add_column("periods", justify="right")
    table.add_column("frequency")
    table.add_column("dates")
    for manifest in (demand, trend):
        table.add_row(
            manifest.kind,
            f"{manifest.n_series:,}",
            f"{manifest.n_rows:,}",
            f"{manifest.freq} ({manifest.freq_alias})",
            f"{manifest.start} to {manifest.end}",
        )
    console.print(table)
    for manifest, folder in ((demand, demand_dir), (trend, trend_dir)):
        console.print(f"{manifest.kind} dataset: {folder}", soft_wrap=True, highlight=False)
    levels = ", ".join(f"{name}: {count}" for name, count in trend.hierarchy_levels.items())
    console.print(f"hierarchy levels: {levels}", soft_wrap=True)
    console.print(
        f"units sold: {demand.units_sold:,.0f}   content hash: {demand.content_hash[:12]}"
    )
    for note in demand.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    total = sum(timings.values())
    console.print(f"[dim]took {total:.1f} s[/]")


def writable_folder(out: Path, option: str = "--out") -> Path:
    """`out` as a folder this user can write (created if missing); exit 2 naming it if not."""
    if out.exists() and not out.is_dir():
        raise fail(f"{option} {out} is a file, not a folder; name a folder for the datasets")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise fail(f"{option} {out} cannot be created ({err.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise fail(f"{option} {out} is not writable by this user; name another folder")
    return out
