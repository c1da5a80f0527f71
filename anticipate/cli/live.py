"""The model `anticipate forecast` and `anticipate orders` use: the one the server would serve.

The champion from the registry, moved forward to the actuals posted to the ledger since training
(from the server's snapshot when one matches), loaded by `serving.live_load.live_from_store`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.markup import escape

from anticipate.cli.output import errors, fail
from anticipate.settings import get_settings

if TYPE_CHECKING:
    from serving.state import LiveModel


def load_live_model() -> LiveModel:
    """Load the served model under a spinner on stderr and say which it is; exit 2 without one."""
    settings = get_settings()
    started = time.perf_counter()
    with errors.status(f"Loading the champion of {settings.model_name} and the ledger's actuals"):
        from serving.errors import NoModel
        from serving.live_load import live_from_store

        try:
            loaded = live_from_store(settings)
        except NoModel as err:
            hint = "; run `anticipate train` first" if "no champion" in str(err) else ""
            raise fail(f"no model to forecast with: {err}{hint}") from None
    live = loaded.live
    if loaded.degraded:
        errors.print(f"Warning: {loaded.degraded}", style="yellow", markup=False, soft_wrap=True)
    how = "its snapshot" if loaded.from_snapshot else "the registry"
    moved = (
        f", {loaded.moved_at_load:,} series moved forward to the ledger's actuals"
        if loaded.moved_at_load
        else ""
    )
    errors.print(
        f"{escape(live.name)} version {live.version} from {how}{moved} "
        f"[dim]({time.perf_counter() - started:.1f} s)[/]",
        highlight=False,
        soft_wrap=True,
    )
    return live
