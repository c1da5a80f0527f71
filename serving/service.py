"""The running service: the live model, the ledger and the background workers, in one object.

`create_app` makes one `Service` per app and the lifespan starts and stops it; routes get it
(and the live model) through `serving.deps`. Nothing here knows about HTTP.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine
from threadpoolctl import threadpool_limits

from anticipate.settings import Settings
from features.schema import ID
from serving import jobs_store, ledger
from serving.accuracy import backtest_of, expected_by_series
from serving.anticipation_cache import AnticipationCache
from serving.champion import ModelHolder
from serving.db import make_engine, migrate
from serving.errors import NoModel
from serving.forecasting import history_stats_of
from serving.key_cache import KeyCache
from serving.ledger_writer import LedgerWriter
from serving.metrics import ApiMetrics
from serving.new_products import NewProducts
from serving.refit_process import RefitProcess, actuals_to_apply
from serving.refresher import Refresher
from serving.report_cache import ReportCache
from serving.snapshots import SnapshotStore
from serving.state import LiveModel
from serving.web.sessions import SessionBook
from serving.write_process import WriteProcess
from training.parallel import in_process

log = logging.getLogger("anticipate.serving")

#: A verified key is trusted this long without asking the database again.
KEY_SECONDS = 5.0


class Service:
    """Settings, ledger engine, model holder, caches, ledger writer and refresher."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.holder = model_holder(settings, self.engine, prepare=prepare_snapshot)
        self.metrics = ApiMetrics()
        self.anticipation = AnticipationCache()
        #: New series posted with attributes (forecast from launch profiles).
        self.new_products = NewProducts()
        #: Accuracy reports, shared by requests for the same one within a second.
        self.reports = ReportCache()
        #: Verified API keys (a revoked key stops working within `KEY_SECONDS`).
        self.keys = KeyCache(self.engine, seconds=KEY_SECONDS)
        #: Web page logins: signed cookies checked against the live keys.
        secret = settings.session_secret
        self.sessions = SessionBook(
            self.engine,
            hours=settings.session_hours,
            pepper=secret.get_secret_value() if secret else "",
            seconds=KEY_SECONDS,
        )
        #: Makes every ledger write (served forecasts, actuals, jobs), in a child process.
        self.writes = WriteProcess(
            settings.database_url, engine=self.engine, enabled=settings.child_processes
        )
        #: Refits the served model in a child process (None: in a thread of this one).
        self.refits = RefitProcess(settings.database_url) if settings.child_processes else None
        self.writer = LedgerWriter(
            self._write_served, on_depth=lambda depth: self.metrics.ledger_queue.set(depth)
        )
        self.refresher = Refresher(self.writes.run, self.move_forward)
        self.actuals_mark: Any = None
        self.started_at = time.time()

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Migrate the ledger, close jobs a dead server left, load the champion, start workers."""
        # a request waiting for the GIL behind a refit gets it within 1 ms, not 5
        sys.setswitchinterval(0.001)
        migrate(self.engine)
        jobs_store.mark_interrupted(self.engine)
        self.writes.start()
        self.writer.start()
        self.refresher.start()
        self.anticipation.start(self.engine, lambda: self.holder.current)
        self.load(None)

    def stop(self) -> None:
        """Write what is queued, stop the workers, close the database."""
        self.writer.stop()
        self.refresher.stop()
        self.anticipation.stop()
        if self.refits is not None:
            self.refits.stop()
        self.writes.stop()
        self.holder.save_snapshot()
        self.keys.close()
        self.engine.dispose()
        gc.unfreeze()

    # ------------------------------------------------------------------ the model

    def live(self) -> LiveModel:
        """The snapshot to serve this request with; NoModel when nothing is loaded."""
        live = self.holder.current
        if live is None:
            error = self.holder.last_error or "no model loaded"
            raise NoModel(f"no model is loaded yet: {error}")
        return live

    def load(self, version: str | None) -> bool:
        """Load the champion (or `version`), moved forward to the actuals already posted."""
        self.actuals_mark = ledger.actuals_mark(self.engine)
        changed = self.holder.load(version, actuals=self._actuals_to_apply)
        if changed:
            self.anticipation.clear()
            live = self.holder.current
            assert live is not None
            # every series' anticipation now, so no request pays for a ledger read
            self.anticipation.get(self.engine, live, list(live.level_of))
            self.metrics.model_loaded(self.holder.name, live.version)
            _freeze_heap()
        return changed

    def poll(self) -> None:
        """Follow the champion alias and actuals posted through other workers."""
        version = self.holder.champion_version()
        current = self.holder.current
        changed = version is not None and (current is None or current.version != version)
        if changed and not self.holder.known_broken(version):  # a reload retries a broken one
            self.load(version)
        posted, self.actuals_mark = ledger.actuals_since(self.engine, self.actuals_mark)
        if not posted.empty:  # through any worker: only those series are recomputed
            self.actuals_posted(posted[ID].unique().tolist())

    def move_forward(self) -> int:
        """Refit the series whose newest actuals continue them; returns how many moved."""
        current = self.holder.current
        if current is None:
            return 0
        mark = self.holder.applied_mark
        if self.refits is None:
            actuals, newest = actuals_to_apply(self.engine, current, mark)
            with threadpool_limits(limits=1), in_process():  # leave the other core to requests
                return self.holder.move_forward(actuals, newest)
        moved, count, newest = self.refits.move_forward(current, mark)
        if not self.holder.swap(current, moved, newest):
            self.refits.forget()  # another model was loaded meanwhile: it is sent next round
            return 0
        return count

    def _actuals_to_apply(
        self, live: LiveModel, mark: int | None
    ) -> tuple[pd.DataFrame | None, int]:
        """At load: the actuals posted or corrected since what `live` reflects (see
        `actuals_to_apply`); read by date, so a start reads what is new, not everything."""
        return actuals_to_apply(self.engine, live, mark)

    # ------------------------------------------------------------------ the ledger

    def record_served(self, item: Any) -> None:
        """Queue one served forecast for the ledger writer (raises LedgerFull when behind)."""
        self.writer.submit(item)

    def _write_served(self, batch: Sequence[Any]) -> None:
        self.writes.run(ledger.log_served_many, list(batch))

    def actuals_posted(self, changed_ids: Sequence[str]) -> str:
        """After a post: forget the changed series' anticipation; the refit job's id."""
        live = self.holder.current
        touched = set(changed_ids)
        if live is not None:
            touched |= live.parents_of(changed_ids)
        self.anticipation.invalidate(touched)
        return self.refresher.request()


def model_holder(
    settings: Settings,
    engine: Engine,
    *,
    prepare: Callable[[LiveModel], None] | None = None,
    read_only: bool = False,
) -> ModelHolder:
    """The champion holder of `settings`: its registry, its snapshots, the ledger's actuals mark.

    The server and the command line build it here, so both load the same model (`read_only`:
    the snapshots are read, never written).
    """
    return ModelHolder(
        settings.mlflow_tracking_uri,
        settings.model_name,
        SnapshotStore(
            settings.snapshot_dir,
            ledger=_ledger_identity(settings.database_url),
            read_only=read_only,
        ),
        prepare=prepare,
        actuals_mark=lambda: ledger.actuals_mark(engine),
    )


def _ledger_identity(database_url: str) -> str:
    """A stable name for the ledger database that reveals nothing of its URL (passwords)."""
    return hashlib.sha256(database_url.encode()).hexdigest()[:16]


def prepare_snapshot(live: LiveModel) -> None:
    """Build what requests read from a snapshot before it serves, so none pays for it."""
    history_stats_of(live)
    backtest_of(live)
    expected_by_series(live)
    _ = live.level_of, live.origin_of, live.parents


def _freeze_heap() -> None:
    """Exempt what is alive now (modules, the loaded model) from full garbage collections.

    A full collection scans every tracked object: about 380k once the model is loaded, 160 ms on
    2 cores. Frozen objects are still freed by reference counting; unfreezing first lets a
    replaced model's reference cycles be collected.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
