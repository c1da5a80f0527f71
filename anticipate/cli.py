"""The `anticipate` command line: the composition root that reads settings and calls the packages.

    anticipate data demo  --out DIR                      write the demo bakery sales and attributes
    anticipate data build --sales FILE --out DIR ...     validate and build demand + trend datasets

Bad data exits with code 2 and the validation report; nothing already built is touched.
"""

from __future__ import annotations

import signal
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
keys_app = typer.Typer(help="API keys of the forecast API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

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


class Role(StrEnum):
    """API key roles: each can do what the ones before it can."""

    viewer = "viewer"
    writer = "writer"
    admin = "admin"


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


class TrainingProgress:
    """A rich progress bar over the stages of a training run, with each stage's time.

    One overall bar counts the stages; every stage gets its own line that shows a spinner while it
    runs and its duration when done. `step(name)` closes the running stage and opens the next one,
    so it doubles as the progress callback of `run_training`.
    """

    def __init__(self, stages: list[str]) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.overall = self.progress.add_task("[bold]Training", total=len(stages))
        self.timings: dict[str, float] = {}
        self._current: tuple[int, str, float] | None = None

    def __enter__(self) -> TrainingProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.finish()
        self.progress.stop()

    def step(self, name: str) -> None:
        """Finish the running stage (if any) and start `name`."""
        self.finish()
        task = self.progress.add_task(name, total=1)
        self._current = (task, name, time.perf_counter())

    def finish(self) -> None:
        """Mark the running stage done with its duration."""
        if self._current is None:
            return
        task, name, started = self._current
        took = time.perf_counter() - started
        self.timings[name] = took
        self.progress.update(task, completed=1, description=f"{name} [dim]({took:.1f} s)[/]")
        self.progress.advance(self.overall)
        self._current = None


def _interrupt_once():  # type: ignore[no-untyped-def]
    """A SIGINT handler that raises KeyboardInterrupt once and ignores repeats.

    A second Ctrl-C while the first one's clean-up runs (failing the run, deleting a version
    registered part way) would otherwise cut that clean-up short.
    """
    fired = False

    def handler(signum: int, frame: object) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise KeyboardInterrupt

    return handler


@app.command("train")
def train(
    config: Annotated[
        Path | None, typer.Option(help="TOML config; defaults when left out.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Folder with demand/ and trend/ (from data build).")
    ] = None,
) -> None:
    """Backtest, fit, log to MLflow and register a new version behind the promotion gate.

    Ctrl-C at any point leaves the registry as it was: the run is marked failed, a version
    registered part way is deleted and no alias moves.
    """
    from features.storage import read_demand_dataset, read_trend_dataset
    from training.config import TrainConfig
    from training.errors import TrainingError
    from training.retrain import STAGES, train_and_register

    settings = get_settings()
    folder = data or settings.demo_dir / "datasets"
    try:
        recipe = TrainConfig.from_toml(config) if config else TrainConfig()
    except TrainingError as err:
        errors.print(f"Error: {err}", style="bold red", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_DATA) from None
    previous = signal.signal(signal.SIGINT, _interrupt_once())
    try:
        with TrainingProgress(["Reading datasets", *STAGES]) as stages:
            stages.step("Reading datasets")
            try:
                demand = read_demand_dataset(folder)
                trend = read_trend_dataset(folder)
            except (DataError, TrainingError) as err:
                errors.print(f"Error: {err}", style="bold red", markup=False, soft_wrap=True)
                raise typer.Exit(EXIT_BAD_DATA) from None
            outcome = train_and_register(
                recipe,
                demand,
                trend,
                _client(),
                model_name=settings.model_name,
                artifact_location=str(settings.mlflow_artifact_root.resolve()),
                tags={"git_commit": _git_commit()},
                progress=stages.step,
            )
            stages.finish()
    except KeyboardInterrupt:
        previous = signal.SIG_IGN  # exiting now: further Ctrl-C must not cut the exit short
        errors.print(
            "Interrupted: the run is marked failed and the registry is unchanged.",
            style="bold red",
        )
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    result, run_id, decision = outcome.result, outcome.run_id, outcome.decision
    table = Table(title="Backtest (expected accuracy)")
    for name in result.summary:
        table.add_column(name, justify="right")
    table.add_row(*(f"{v:.3f}" for v in result.summary.values()))
    console.print(table)
    verdict = "is the new champion" if decision.promoted else "is a challenger (champion kept)"
    console.print(
        f"{settings.model_name} version {decision.version} {verdict}: mase "
        f"{decision.candidate_score:.4f} vs champion {decision.champion_score or float('nan'):.4f}"
        f"; run {run_id}; took {sum(stages.timings.values()):.1f} s",
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


#: How to read each compared metric: lower, higher, or closest to a target is better.
BETTER = {
    "mase": "lower",
    "rmsse": "lower",
    "smape": "lower",
    "wape": "lower",
    "bias": "zero",
    "coverage_80": 80.0,
    "coverage_95": 95.0,
    "direction_hit_rate": "higher",
}


def _best(metric: str, values: dict[str, float]) -> set[str]:
    """The versions with the best value of `metric` (ties all win)."""
    import math

    rule = BETTER.get(metric.rsplit(".", 1)[-1], "lower")
    finite = {k: v for k, v in values.items() if math.isfinite(v)}
    if not finite:
        return set()
    if rule == "lower":
        key = finite.get
    elif rule == "higher":
        key = lambda k: -finite[k]  # noqa: E731
    elif rule == "zero":
        key = lambda k: abs(finite[k])  # noqa: E731
    else:
        target = float(rule)
        scale = 100.0 if max(finite.values()) > 1.0 else 1.0
        key = lambda k: abs(finite[k] * (100.0 / scale) - target)  # noqa: E731
    best = min(key(k) for k in finite)  # type: ignore[operator]
    return {k for k in finite if key(k) == best}  # type: ignore[operator]


@models_app.command("compare")
def models_compare(
    versions: Annotated[
        list[str] | None,
        typer.Argument(help="Versions to compare; the champion and the latest five by default."),
    ] = None,
    levels: Annotated[bool, typer.Option(help="Also compare MASE per hierarchy level.")] = True,
) -> None:
    """Backtest metrics of registered versions side by side, the best of each row in bold.

    Each version's numbers are its own backtest's, on the data it was trained on; the gate's
    re-scored comparison on the same data is in the `gate` rows.
    """
    from mlflow.exceptions import MlflowException

    settings = get_settings()
    client = _client()
    found = {
        str(v.version): v for v in client.search_model_versions(f"name='{settings.model_name}'")
    }
    if not found:
        errors.print(
            f"No versions of {settings.model_name} are registered yet; run anticipate train."
        )
        raise typer.Exit(EXIT_BAD_DATA)
    if versions:
        unknown = [v for v in versions if v not in found]
        if unknown:
            errors.print(
                f"Error: {settings.model_name} has no version {', '.join(unknown)}; "
                f"registered: {', '.join(sorted(found, key=int))}",
                style="bold red",
            )
            raise typer.Exit(EXIT_BAD_DATA)
        chosen = list(dict.fromkeys(versions))
    else:
        chosen = sorted(found, key=int)[-5:]
        try:
            champion = str(
                client.get_model_version_by_alias(settings.model_name, "champion").version
            )
        except MlflowException:
            champion = None
        if champion and champion not in chosen:
            chosen.insert(0, champion)
    runs = {v: client.get_run(found[v].run_id) for v in chosen if found[v].run_id}
    aliases = {
        v: ", ".join(client.get_model_version(settings.model_name, v).aliases) for v in chosen
    }
    table = Table(title=f"{settings.model_name}: backtest of each version")
    table.add_column("")
    for v in chosen:
        table.add_column(f"v{v}" + (f" ({aliases[v]})" if aliases[v] else ""), justify="right")
    names = [m for m in BETTER if any(m in runs[v].data.metrics for v in runs)]
    if levels:
        level_names = sorted(
            {
                k
                for v in runs
                for k in runs[v].data.metrics
                if k.startswith("level.") and k.endswith(".mase")
            }
        )
        names += level_names
    for metric in names:
        values = {v: runs[v].data.metrics.get(metric, float("nan")) for v in chosen if v in runs}
        best = _best(metric, values)
        cells = []
        for v in chosen:
            value = values.get(v, float("nan"))
            text = f"{value:.3f}" if value == value else "-"
            cells.append(f"[bold green]{text}[/]" if v in best and len(values) > 1 else text)
        table.add_row(metric, *cells)
    table.add_section()
    for row, key in (
        ("members", "model.members"),
        ("horizon", "model.horizon"),
        ("windows", "model.n_windows"),
    ):
        table.add_row(
            row, *(escape(runs[v].data.params.get(key, "-")) if v in runs else "-" for v in chosen)
        )
    table.add_row(
        "trained on",
        *(
            runs[v].data.tags.get("anticipate.dataset_hashes", "-")[:12] if v in runs else "-"
            for v in chosen
        ),
    )
    table.add_section()
    for row, tag in (
        ("gate", "gate.decision"),
        ("gate mase", "gate.candidate_mase"),
        ("champion's", "gate.champion_mase"),
    ):
        table.add_row(row, *(found[v].tags.get(tag, "") or "-" for v in chosen))
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


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="uvicorn worker processes.")] = None,
) -> None:
    """Serve the forecast API (uvicorn) with the champion model; settings from the environment."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    # Each worker builds the app from the settings (environment, .env) itself.
    console.print(
        f"Anticipate API on http://{host}:{port} (docs at /docs), model {settings.model_name}"
        f"@champion, ledger {settings.database_url}",
        soft_wrap=True,
    )
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
    )


def _ledger():  # type: ignore[no-untyped-def]
    from serving.db import make_engine, migrate

    engine = make_engine(get_settings().database_url)
    migrate(engine)
    return engine


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="viewer: read; writer: + actuals; admin: + retrain.")],
    name: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
    quiet: Annotated[bool, typer.Option(help="Print only the key (for scripts).")] = False,
) -> None:
    """Make an API key and print it once; only its hash is stored."""
    from serving.keys import create_key

    key_id, plaintext = create_key(_ledger(), role.value, name)
    if quiet:
        print(plaintext)
        return
    console.print(f"API key {key_id} ({role.value}{', ' + name if name else ''}):")
    print(plaintext)
    console.print("[yellow]Store it now: it is not shown again.[/]")


@keys_app.command("list")
def keys_list() -> None:
    """Every API key: id, prefix, role, name, created, revoked."""
    from serving.keys import list_keys

    table = Table(title="API keys")
    for column in ("id", "prefix", "role", "name", "created", "revoked"):
        table.add_column(column)
    for key in list_keys(_ledger()):
        table.add_row(
            str(key.id),
            key.prefix,
            key.role,
            key.name or "",
            str(key.created_at)[:19],
            str(key.revoked_at or "")[:19],
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke a key at once: it answers 401 from now on."""
    from serving.keys import revoke_key

    if not revoke_key(_ledger(), key_id):
        errors.print(f"Error: there is no active key {key_id}", style="bold red")
        raise typer.Exit(EXIT_BAD_DATA)
    console.print(f"key {key_id} revoked")


def main() -> None:
    """Entry point for `python -m anticipate`."""
    app()


if __name__ == "__main__":
    main()
