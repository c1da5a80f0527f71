"""`anticipate orders --stock stock.csv`: suggested orders from the served model's forecasts.

The model is the one the server would serve: the champion moved forward to the ledger's actuals.

The stock file has one row per series: `unique_id`, `on_hand`, `lead_time` and optionally
`on_order`, `review_period`, `service_level`, `unit_cost`, `unit_price`, `salvage_value`,
`pack_size`, `min_order` (the fields of `POST /v1/orders`, computed by the same code). Other
columns are ignored, with a note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from anticipate.cli.live import load_live_model
from anticipate.cli.output import console, errors, fail

FIELDS = (
    "unique_id",
    "on_hand",
    "on_order",
    "lead_time",
    "review_period",
    "service_level",
    "unit_cost",
    "unit_price",
    "salvage_value",
    "pack_size",
    "min_order",
)
INTEGER_FIELDS = ("lead_time", "review_period")


def orders(
    stock: Annotated[Path, typer.Option(help="CSV of stock per series (see the README).")],
    out: Annotated[Path | None, typer.Option(help="Write the orders to this CSV.")] = None,
    distribution: Annotated[
        str, typer.Option(help="Demand distribution: empirical (backtest) or normal.")
    ] = "empirical",
) -> None:
    """Suggest order quantities per series from the served forecasts and the stock file."""
    import pandas as pd
    from pydantic import ValidationError

    from serving.errors import ApiError
    from serving.orders import OrdersRequest, suggest_orders

    if not stock.is_file():
        raise fail(f"{stock}: not a readable file")
    try:
        frame = pd.read_csv(stock, dtype={"unique_id": "str"})
    except (ValueError, UnicodeDecodeError, OSError) as err:
        raise fail(f"{stock}: cannot be read as CSV ({err})") from None
    missing = [c for c in ("unique_id", "on_hand", "lead_time") if c not in frame.columns]
    if missing:
        raise fail(f"{stock}: missing column(s) {', '.join(missing)}")
    ignored = [c for c in frame.columns if c not in FIELDS]
    if ignored:
        errors.print(f"Note: {stock}: ignored column(s) {', '.join(ignored)}", markup=False)
    for column in (c for c in FIELDS[1:] if c in frame.columns):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        wrong = numbers.isna() & frame[column].notna()
        if wrong.any():
            row = int(wrong.to_numpy().argmax())
            value = frame[column].iloc[row]
            raise fail(f"{stock}, row {row + 2}, column {column}: {value!r} is not a number")
        frame[column] = numbers
    rows = frame[[c for c in FIELDS if c in frame.columns]].to_dict("records")
    items = [_item(row) for row in rows]
    try:
        request = OrdersRequest.model_validate({"items": items, "distribution": distribution})
    except ValidationError as err:
        first = err.errors()[0]
        where = _located(stock, first["loc"])
        raise fail(f"{where}: {first['msg']}") from None
    live = load_live_model()
    try:
        answer = suggest_orders(live, request)
    except ApiError as err:
        raise fail(f"{_located(stock, tuple(str(err.field).split('.')[1:]))}: {err}") from None
    lines = pd.DataFrame([line.model_dump() for line in answer.orders])
    if out is not None:
        lines.to_csv(out, index=False)
    table = Table(title=f"Orders from {answer.model_name} version {answer.model_version}")
    shown = ["unique_id", "order_quantity", "inventory_position", "demand_mean", "stockout_risk"]
    for column in shown:
        table.add_column(column, justify="left" if column == "unique_id" else "right")
    for line in answer.orders:
        table.add_row(
            line.unique_id,
            f"{line.order_quantity:,.0f}",
            f"{line.inventory_position:,.0f}",
            f"{line.demand_mean:,.1f}",
            f"{line.stockout_risk:.1%}",
        )
    console.print(table)
    if out is not None:
        console.print(f"Wrote {len(lines)} orders to {out}")


def _item(row: dict[str, object]) -> dict[str, object]:
    """One CSV row as the API's item: empty cells left out, numbers as Python numbers (whole
    lead times and review periods as int, so the API's strict types take them)."""
    item: dict[str, object] = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and value != value):  # NaN: an empty cell
            continue
        if key == "unique_id":
            item[key] = str(value)
        elif isinstance(value, str):
            item[key] = value  # refused by the schema, with the row and column named
        elif key in INTEGER_FIELDS and float(value).is_integer():  # type: ignore[arg-type]
            item[key] = int(value)  # type: ignore[call-overload]
        else:
            item[key] = float(value)  # type: ignore[arg-type]
    return item


def _located(stock: Path, loc: tuple[object, ...]) -> str:
    """`file, row N, column C` for a validation location ("items", i, field)."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "items" and parts[1].isdigit():
        where = f"{stock}, row {int(parts[1]) + 2}"  # the header is line 1
        return where + (f", column {parts[2]}" if len(parts) > 2 else "")
    return str(stock)
