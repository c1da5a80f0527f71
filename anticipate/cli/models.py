"""`anticipate models list | compare | promote`: the registered versions and the champion alias."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from anticipate.cli.output import EXIT_BAD_DATA, console, errors, fail, mlflow_client
from anticipate.settings import get_settings

app = typer.Typer(help="Registered model versions: list, compare, promote.", no_args_is_help=True)


@app.command("list")
def models_list() -> None:
    """Every registered version with its aliases, gate decision and backtest MASE."""
    settings = get_settings()
    client = mlflow_client()
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


@app.command("compare")
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
    client = mlflow_client()
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


@app.command("promote")
def models_promote(
    version: str,
    force: Annotated[bool, typer.Option(help="Promote even if the gate said no.")] = False,
) -> None:
    """Point the champion alias at VERSION."""
    from training.registry import promote

    settings = get_settings()
    try:
        promote(mlflow_client(), version, force=force, name=settings.model_name)
    except PermissionError as err:
        raise fail(str(err)) from None
    console.print(f"{settings.model_name} version {version} is now the champion")
