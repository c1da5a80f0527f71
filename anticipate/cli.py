"""The `anticipate` command line: the composition root that reads settings and calls the packages.

    anticipate data demo  --out DIR                      write the demo bakery sales and attributes
    anticipate data build --sales FILE --out DIR ...     validate and build demand + trend datasets

Bad data exits with code 2 and the validation report; nothing already built is touched.
"""

from __future__ import annotations

import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from anticipate.settings import get_settings
from features.demand import build_demand_dataset
from features.errors import DataError, DataValidationError, DataWarning
from features.hierarchy import Hierarchy
from features.ingest import ReadOptions, id_columns, read_sales
from features.manifest import Manifest
from features.storage import write_demand_dataset, write_trend_dataset
from features.synthetic import make_demo_sales, write_demo_files
from features.trend import build_trend_dataset

app = typer.Typer(
    help="Anticipate: demand forecasts for small businesses, and how far to trust them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Demo data and the demand and trend datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
models_app = typer.Typer(
    help="Registered model versions: list, compare, promote.", no_args_is_help=True
)
app.add_typer(models_app, name="models")

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")

EXIT_BAD_DATA = 2


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


@contextmanager
def _bad_data_exits() -> Iterator[None]:
    """Turn a data problem into its report on stderr and exit code 2, never a traceback."""
    try:
        yield
    except DataValidationError as err:
        errors.print("The data cannot be used as it is.", style="bold red")
        errors.print(err.report(), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_DATA) from None
    except DataError as err:
        errors.print(f"Error: {err}", style="bold red", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_DATA) from None


def _stage(label: str, work: Callable[[], T], timings: dict[str, float]) -> T:
    """Run one stage under a spinner and remember how long it took."""
    started = time.perf_counter()
    with console.status(f"{label}..."):
        result = work()
    timings[label] = time.perf_counter() - started
    console.print(f"[green]✓[/] {label} [dim]({timings[label]:.1f} s)[/]")
    return result


@data_app.command("demo")
def data_demo(
    out: Annotated[Path, typer.Option(help="Folder for sales.csv and attributes.csv.")] = Path(
        "data/demo"
    ),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
) -> None:
    """Write the demo history of a bakery chain and its web shop as a planner would export it."""
    timings: dict[str, float] = {}
    demo = _stage("Generating demo sales", lambda: make_demo_sales(seed=seed), timings)
    paths = _stage("Writing CSV files", lambda: write_demo_files(demo, out), timings)
    sales = demo.sales
    table = Table(title="Demo data", show_header=False)
    table.add_row("series", f"{sales['unique_id'].nunique():,}")
    table.add_row("stores", ", ".join(sorted(demo.attributes["store"].unique())))
    table.add_row("rows", f"{len(sales):,}")
    table.add_row("dates", f"{sales['ds'].min().date()} to {sales['ds'].max().date()}")
    for name, path in paths.items():
        table.add_row(name, str(path))
    console.print(table)


@data_app.command("build")
def data_build(
    sales: Annotated[Path, typer.Option(help="Sales export (CSV or Parquet), long format.")],
    out: Annotated[Path, typer.Option(help="Folder that receives demand/ and trend/.")],
    attributes: Annotated[
        Path | None, typer.Option(help="Table of unique_id -> category, store, ...")
    ] = None,
    freq: Annotated[
        Frequency | None, typer.Option(help="Dataset frequency; inferred when left out.")
    ] = None,
    id_col: Annotated[
        list[str] | None,
        typer.Option(help="Column(s) naming a series, e.g. --id-col sku --id-col store."),
    ] = None,
    time_col: Annotated[str, typer.Option(help="Date column.")] = "ds",
    target_col: Annotated[str, typer.Option(help="Quantity-sold column.")] = "y",
    delimiter: Annotated[str | None, typer.Option(help="CSV delimiter; sniffed if absent.")] = None,
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
    options = ReadOptions(
        id_cols=id_columns(id_col),
        time_col=time_col,
        target_col=target_col,
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
    with _bad_data_exits(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        history = _stage(
            "Reading and checking", lambda: read_sales(sales, attributes, options), timings
        )
        demand = _stage(
            "Building demand dataset",
            lambda: build_demand_dataset(history, freq=freq.value if freq else None),
            timings,
        )
        trend = _stage(
            "Building trend dataset",
            lambda: build_trend_dataset(
                demand, hierarchy=hierarchy, windows=trend_windows, band=band
            ),
            timings,
        )
        demand_dir = _stage("Writing demand", lambda: write_demand_dataset(demand, out), timings)
        trend_dir = _stage("Writing trend", lambda: write_trend_dataset(trend, out), timings)
    for warning in caught:
        if issubclass(warning.category, DataWarning):
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
    levels = ", ".join(f"{name}: {count}" for name, count in trend.levels.items())
    console.print(f"hierarchy levels: {levels}", soft_wrap=True)
    console.print(
        f"units sold: {demand.units_sold:,.0f}   content hash: {demand.content_hash[:12]}"
    )
    for note in demand.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    total = sum(timings.values())
    console.print(f"[dim]took {total:.1f} s[/]")


def _client():  # type: ignore[no-untyped-def]
    """An MLflow client on the configured store (the local SQLite store's folder is created)."""
    from mlflow import MlflowClient

    settings = get_settings()
    if settings.mlflow_tracking_uri.startswith("sqlite:///"):
        Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri)


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


@app.command("train")
def train(
    config: Annotated[
        Path | None, typer.Option(help="TOML config; defaults when left out.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Folder with demand/ and trend/ (from data build).")
    ] = None,
) -> None:
    """Backtest, fit, log to MLflow and register a new version behind the promotion gate."""
    from features.storage import read_demand_dataset, read_trend_dataset
    from training.config import TrainConfig
    from training.errors import TrainingError
    from training.pipeline import backtest_score, run_training
    from training.pyfunc import ForecastBundle
    from training.registry import register_with_gate
    from training.tracking import MODEL_URI_TAG, log_training, using_store

    settings = get_settings()
    folder = data or settings.demo_dir / "datasets"
    timings: dict[str, float] = {}
    try:
        recipe = TrainConfig.from_toml(config) if config else TrainConfig()
        demand = _stage("Reading datasets", lambda: read_demand_dataset(folder), timings)
        trend = read_trend_dataset(folder)
    except (DataError, TrainingError) as err:
        errors.print(f"Error: {err}", style="bold red", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_DATA) from None
    result = _stage(
        f"Backtesting and fitting {trend.manifest.n_series:,} series",
        lambda: run_training(recipe, demand, trend),
        timings,
    )
    client = _client()
    bundle = ForecastBundle(
        result.model, result.levels, recipe.model.horizon, tuple(recipe.model.levels), result.freq
    )
    history = trend.frame[["unique_id", "ds", "y"]]
    run_id = _stage(
        "Logging the run to MLflow",
        lambda: log_training(
            client,
            result,
            [demand.manifest, trend.manifest],
            history,
            artifact_location=str(settings.mlflow_artifact_root.resolve()),
            tags={"git_commit": _git_commit()},
            bundle=bundle,
        ),
        timings,
    )

    def rescore(version: str) -> float:
        import mlflow

        with using_store(client):
            loaded = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")
        champion = loaded.unwrap_python_model().bundle.model
        return backtest_score(champion, demand, trend, result.season_length)

    decision = _stage(
        "Registering behind the promotion gate",
        lambda: register_with_gate(
            client,
            client.get_run(run_id).data.tags[MODEL_URI_TAG],
            run_id,
            result.summary["mase"],
            rescore,
            name=settings.model_name,
        ),
        timings,
    )
    table = Table(title="Backtest (expected accuracy)")
    for name in result.summary:
        table.add_column(name, justify="right")
    table.add_row(*(f"{v:.3f}" for v in result.summary.values()))
    console.print(table)
    verdict = "is the new champion" if decision.promoted else "is a challenger (champion kept)"
    console.print(
        f"{settings.model_name} version {decision.version} {verdict}: mase "
        f"{decision.candidate_score:.4f} vs champion {decision.champion_score or float('nan'):.4f}"
        f"; run {run_id}",
        soft_wrap=True,
    )


@models_app.command("list")
def models_list() -> None:
    """Every registered version with its aliases, gate decision and backtest MASE."""
    settings = get_settings()
    client = _client()
    versions = client.search_model_versions(f"name='{settings.model_name}'")
    table = Table(title=settings.model_name)
    for column in ("version", "aliases", "mase", "decision", "run"):
        table.add_column(column)
    for v in sorted(versions, key=lambda v: int(v.version)):  # int in MLflow 3
        table.add_row(
            str(v.version),
            ", ".join(client.get_model_version(settings.model_name, str(v.version)).aliases),
            v.tags.get("gate.candidate_mase", ""),
            v.tags.get("gate.decision", ""),
            str(v.run_id or ""),
        )
    console.print(table)


@models_app.command("promote")
def models_promote(
    version: str,
    force: Annotated[bool, typer.Option(help="Promote even if the gate said no.")] = False,
) -> None:
    """Point the champion alias at VERSION."""
    from training.registry import promote

    settings = get_settings()
    try:
        promote(_client(), version, force=force, name=settings.model_name)
    except PermissionError as err:
        errors.print(f"Error: {err}", style="bold red", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_DATA) from None
    console.print(f"{settings.model_name} version {version} is now the champion")


def main() -> None:
    """Entry point for `python -m anticipate`."""
    app()


if __name__ == "__main__":
    main()
