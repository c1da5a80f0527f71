"""`anticipate forecast [IDS...]`: the served forecasts in the terminal, or as CSV, Excel or JSON.

The numbers are those of `POST /v1/forecasts`: the same model (the champion moved forward to the
ledger's actuals, see `anticipate.cli.live`) and the same code. Series are chosen by id and by
hierarchy level; without either, the total and the stores (a planner's first look). Files hold
the long forecast frame of the data contract (unique_id, ds, model, yhat, yhat_lo_80, ...) with
each row's level, origin and model version; `--period weekly` sums the daily point forecasts per
calendar week (Monday to Sunday) and leaves the bounds out, since quantiles do not add up.
"""

from __future__ import annotations

import difflib
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from anticipate.cli.live import load_live_model
from anticipate.cli.output import console, errors, fail

if TYPE_CHECKING:
    import pandas as pd

    from serving.state import LiveModel

#: Shown when neither ids nor levels are given (those of them the model has).
DEFAULT_LEVELS = ("total", "store")
ALL = "all"
SUFFIXES = (".csv", ".xlsx", ".json")


class Period(StrEnum):
    """The periods a forecast is shown in."""

    daily = "daily"
    weekly = "weekly"


class Format(StrEnum):
    """How a forecast printed to stdout looks (files take their format from the extension)."""

    table = "table"
    csv = "csv"
    json = "json"


def forecast(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Series ids, any hierarchy level.", show_default=False),
    ] = None,
    level: Annotated[
        list[str] | None,
        typer.Option(
            "--level",
            help="Every series of a hierarchy level (total, store, category, ..., series) or "
            "'all'; repeatable. Without ids or --level: the total and the stores.",
            show_default=False,
        ),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(help="Periods ahead, at most the model's (its horizon if left out)."),
    ] = None,
    levels: Annotated[
        list[int] | None,
        typer.Option(
            "--levels",
            help="Prediction interval levels in percent, repeatable (80 and 95 if left out).",
        ),
    ] = None,
    period: Annotated[
        Period,
        typer.Option(help="daily: the model's periods (days); weekly: sums per calendar week."),
    ] = Period.daily,
    out: Annotated[
        Path | None, typer.Option(help="Write the forecasts to FILE.csv, FILE.xlsx or FILE.json.")
    ] = None,
    output_format: Annotated[
        Format, typer.Option("--format", help="What to print when there is no --out.")
    ] = Format.table,
) -> None:
    """Print or export the served forecasts of some series, with their prediction intervals."""
    if out is not None:
        _check_out(out)  # before the imports and the loading, which take seconds
    from pydantic import ValidationError

    from serving.errors import ApiError
    from serving.forecasting import checked_request, compute, forecast_frame, weekly_totals
    from serving.schemas import ForecastRequest

    try:
        request = ForecastRequest.model_validate(
            {"unique_ids": ["-"], "horizon": horizon, "levels": levels or [80, 95]}
        )
    except ValidationError as err:
        first = err.errors()[0]
        option = "--horizon" if first["loc"][0] == "horizon" else "--levels"
        raise fail(f"{option}: {first['msg']}") from None
    live = load_live_model()
    freq = str(live.model.freq_)
    if period is Period.weekly and freq != "D":
        raise fail(f"--period weekly sums daily forecasts; this model forecasts {freq} periods")
    chosen = _series(live, ids or [], level or [])
    try:
        chosen, steps = checked_request(live, chosen, request.horizon, len(chosen))
    except ApiError as err:
        raise fail(f"--horizon: {err}" if err.field == "body.horizon" else str(err)) from None
    frame = forecast_frame(live, compute(live, chosen, steps, request.levels))
    note = ""
    if period is Period.weekly:
        frame = weekly_totals(frame)
        note = "weekly sums of the daily forecasts; no intervals (quantiles do not add up)"
    if out is not None:
        _write(frame, out)
        errors.print(f"Wrote {len(frame):,} rows ({len(chosen):,} series) to {out}", markup=False)
        if note:
            errors.print(f"Note: {note}", markup=False)
    elif output_format is Format.csv:
        sys.stdout.write(_dated(frame).to_csv(index=False))
    elif output_format is Format.json:
        sys.stdout.write(_dated(frame).to_json(orient="records", indent=1) + "\n")
    else:
        console.print(_table(frame, live))
        if note:
            console.print(f"[dim]{note}[/]")


def _check_out(out: Path) -> None:
    """Refuse an output file we cannot write, before the model is loaded."""
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise fail(f"{out}: write .csv, .xlsx or .json, not {suffix or 'a file without extension'}")
    if not out.parent.is_dir():
        raise fail(f"{out}: the folder {out.parent} does not exist")


def _series(live: LiveModel, ids: list[str], levels: list[str]) -> list[str]:
    """The ids asked for, then every series of the levels asked for (each once, in order)."""
    known_levels = sorted(set(live.level_of.values()))
    unknown = [uid for uid in ids if uid not in live.level_of]
    if unknown:
        guesses = difflib.get_close_matches(unknown[0], list(live.level_of), n=3)
        hint = f" (did you mean {', '.join(repr(g) for g in guesses)}?)" if guesses else ""
        raise fail(
            f"unknown series {', '.join(repr(u) for u in unknown)}{hint}; "
            f"`anticipate forecast --level LEVEL --horizon 1` lists a level's ids "
            f"(levels: {', '.join(known_levels)})"
        )
    wrong = [name for name in levels if name != ALL and name not in known_levels]
    if wrong:
        raise fail(
            f"--level: unknown level(s) {', '.join(wrong)}; levels: {', '.join(known_levels)}"
        )
    if not ids and not levels:
        levels = [name for name in DEFAULT_LEVELS if name in known_levels] or [ALL]
    chosen = list(ids)
    for name in levels:
        chosen += [uid for uid, lv in live.level_of.items() if name in (ALL, lv)]
    return list(dict.fromkeys(chosen))


def _write(frame: pd.DataFrame, out: Path) -> None:
    """Write `frame` in the format of `out`'s extension (dates as dates)."""
    suffix = out.suffix.lower()
    try:
        if suffix == ".xlsx":
            frame.to_excel(out, index=False, sheet_name="forecast")
        elif suffix == ".json":
            out.write_text(_dated(frame).to_json(orient="records", indent=1) + "\n")
        else:
            _dated(frame).to_csv(out, index=False)
    except OSError as err:
        raise fail(f"{out}: cannot be written ({err.strerror or err})") from None


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its date columns as ISO dates (no midnight times in CSV or JSON)."""
    columns = [c for c in ("ds", "origin") if c in frame.columns]
    return frame.assign(**{c: frame[c].dt.strftime("%Y-%m-%d") for c in columns})


def _table(frame: pd.DataFrame, live: LiveModel) -> Table:
    """One row per series and period: the forecast and its ranges, thousands separated."""
    bounds = sorted(int(c.rsplit("_", 1)[1]) for c in frame.columns if c.startswith("yhat_lo_"))
    weekly = "days" in frame.columns
    title = f"Forecasts of {live.name} version {live.version}"
    table = Table(title=title)
    table.add_column("series")
    table.add_column("week of" if weekly else "date")
    table.add_column("forecast", justify="right")
    for lv in bounds:
        table.add_column(f"{lv} % range", justify="right")
    if weekly:
        table.add_column("days", justify="right")
    previous = None
    for row in frame.itertuples(index=False):
        uid = str(row.unique_id)
        if previous is not None and uid != previous:
            table.add_section()
        cells = [uid if uid != previous else "", row.ds.strftime("%a %Y-%m-%d"), _n(row.yhat)]
        for lv in bounds:
            cells.append(
                f"{_n(getattr(row, f'yhat_lo_{lv}'))} – {_n(getattr(row, f'yhat_hi_{lv}'))}"
            )
        if weekly:
            cells.append(f"{row.days} of 7")
        table.add_row(*cells)
        previous = uid
    return table


def _n(value: float) -> str:
    """A quantity with thousands separators and one decimal."""
    return f"{value:,.1f}" if value == value else "-"
