"""`anticipate train`: backtest, fit, log to MLflow and register behind the gate, with progress.

The recipe comes from a TOML file (TrainConfig) or its defaults; the datasets folder, the
number of cores and the Dask scheduler come from the settings.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from anticipate.cli.output import console, errors, fail, mlflow_client
from anticipate.settings import get_settings
from features.errors import DataError

if TYPE_CHECKING:
    from training.config import TrainConfig


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


def load_recipe(path: Path | None) -> TrainConfig:
    """The TrainConfig `anticipate train` uses: the TOML file at `path`, else `TrainConfig()`."""
    from training.config import TrainConfig

    return TrainConfig.from_toml(path) if path else TrainConfig()


def train(
    config: Annotated[
        Path | None, typer.Option(help="TOML config; defaults when left out.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Folder with demand/ and trend/; default: ANTICIPATE_DATA_DIR."),
    ] = None,
) -> None:
    """Backtest, fit, log to MLflow and register a new version behind the promotion gate.

    Ctrl-C at any point leaves the registry as it was: the run is marked failed, a version
    registered part way is deleted and no alias moves.
    """
    from features.storage import read_demand_dataset, read_trend_dataset
    from training.errors import TrainingError
    from training.retrain import STAGES, train_and_register

    settings = get_settings()
    folder = data or settings.data_dir
    try:
        recipe = load_recipe(config)
    except TrainingError as err:
        raise fail(str(err)) from None
    previous = signal.signal(signal.SIGINT, _interrupt_once())
    try:
        with TrainingProgress(["Reading datasets", *STAGES]) as stages:
            stages.step("Reading datasets")
            try:
                demand = read_demand_dataset(folder)
                trend = read_trend_dataset(folder)
            except (DataError, TrainingError) as err:
                raise fail(str(err)) from None
            outcome = train_and_register(
                recipe,
                demand,
                trend,
                mlflow_client(),
                model_name=settings.model_name,
                artifact_location=str(settings.mlflow_artifact_root.resolve()),
                tags={"git_commit": _git_commit()},
                progress=stages.step,
                n_jobs=settings.n_jobs,
                dask_scheduler=settings.dask_scheduler,
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
