"""Shared by every command: the consoles, the exit code for bad input, timed stages, the store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console

from anticipate.settings import get_settings
from features.errors import DataError, DataValidationError

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")

#: Exit code of a command refused because of its input (bad data, config, version).
EXIT_BAD_DATA = 2


def fail(message: str) -> typer.Exit:
    """Print `message` as an error on stderr; the Exit to raise with code 2."""
    errors.print(f"Error: {message}", style="bold red", markup=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_DATA)


@contextmanager
def bad_data_exits() -> Iterator[None]:
    """Turn a data problem into its report on stderr and exit code 2, never a traceback."""
    try:
        yield
    except DataValidationError as err:
        errors.print("The data cannot be used as it is.", style="bold red")
        errors.print(err.report(), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_DATA) from None
    except DataError as err:
        raise fail(str(err)) from None


def stage(label: str, work: Callable[[], T], timings: dict[str, float]) -> T:
    """Run one stage under a spinner and remember how long it took."""
    started = time.perf_counter()
    with console.status(f"{label}..."):
        result = work()
    timings[label] = time.perf_counter() - started
    console.print(f"[green]✓[/] {label} [dim]({timings[label]:.1f} s)[/]")
    return result


def mlflow_client():  # type: ignore[no-untyped-def]
    """An MLflow client on the configured store (the local SQLite store's folder is created)."""
    from mlflow import MlflowClient

    settings = get_settings()
    if settings.mlflow_tracking_uri.startswith("sqlite:///"):
        Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
