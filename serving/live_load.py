"""The model the server would serve now, loaded without a server (for the command line).

    loaded = live_from_store(settings)    # loaded.live: the champion moved forward to the ledger

The same steps as the server's start (`Service.load`): the champion from the registry, its
snapshot when one matches this ledger, then the actuals posted or corrected since, so
`anticipate forecast` and `POST /v1/forecasts` give the same numbers. Nothing is written: the
snapshot is only read, and a ledger that does not exist yet is not created (there are no actuals).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, make_url

from anticipate.settings import Settings
from serving.champion import ModelHolder
from serving.db import make_engine, migrate
from serving.errors import NoModel
from serving.refit_process import actuals_to_apply
from serving.service import model_holder
from serving.state import LiveModel

__all__ = ["LoadedLive", "live_from_store"]


@dataclass(frozen=True)
class LoadedLive:
    """The loaded model and how it was loaded (what /ready reports for the server)."""

    live: LiveModel
    from_snapshot: bool
    #: Series refitted at load to the actuals posted since training (or since the snapshot).
    moved_at_load: int
    #: The ledger's actuals revision the model reflects (0: none, or no ledger).
    actuals_mark: int
    #: Why the champion is not what serves (it does not load), or None.
    degraded: str | None


def live_from_store(settings: Settings) -> LoadedLive:
    """Load the champion of `settings`' registry moved forward to its ledger's actuals.

    Raises:
        NoModel: there is no champion yet, or neither it nor an earlier champion loads.
    """
    engine = _existing_ledger(settings.database_url)
    try:
        if engine is None:
            holder = ModelHolder(settings.mlflow_tracking_uri, settings.model_name)
            holder.load()
        else:
            holder = model_holder(settings, engine, read_only=True)
            holder.load(None, actuals=lambda live, mark: actuals_to_apply(engine, live, mark))
        live = holder.current
        if live is None:
            raise NoModel(holder.last_error or f"{settings.model_name} does not load")
        return LoadedLive(
            live,
            from_snapshot=bool(holder.load_info.get("snapshot")),
            moved_at_load=int(holder.load_info.get("moved_at_load", 0)),  # type: ignore[call-overload]
            actuals_mark=holder.applied_mark,
            degraded=holder.degraded,
        )
    finally:
        if engine is not None:
            engine.dispose()


def _existing_ledger(database_url: str) -> Engine | None:
    """An engine on the ledger at its current schema, or None when its SQLite file is missing."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:":
            return None
        if not database.startswith("file:") and not Path(database).expanduser().is_file():
            return None
    engine = make_engine(database_url)
    migrate(engine)
    return engine
