"""The `anticipate` command line: the composition root that reads settings and calls the packages.

    anticipate data demo  [--out DIR]                    write the demo bakery sales and attributes
    anticipate data build --sales FILE [--out DIR] ...   validate and build demand + trend datasets
    anticipate train [--config FILE] [--data DIR]        backtest, fit, log and register a version
    anticipate models list | compare | promote           registered versions and the champion
    anticipate serve                                     the forecast API
    anticipate forecast [IDS...] [--level L] [--out F]   served forecasts: a table, CSV or Excel
    anticipate orders --stock FILE [--out FILE]          suggested order quantities
    anticipate keys create | list | revoke               API keys

One module per command group; folders, cores and stores default to `anticipate.settings`.
"""

from __future__ import annotations

import typer

from anticipate.cli import data, forecast, keys, models, orders, serve, train

app = typer.Typer(
    help="Anticipate: demand forecasts for small businesses, and how far to trust them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.command("train")(train.train)
app.add_typer(models.app, name="models")
app.command("serve")(serve.serve)
app.command("forecast")(forecast.forecast)
app.command("orders")(orders.orders)
app.add_typer(keys.app, name="keys")


def main() -> None:
    """Entry point for `python -m anticipate.cli`."""
    app()
