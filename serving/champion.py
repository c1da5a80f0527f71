"""The champion holder: loads registered versions from the MLflow registry and swaps them safely.

The only serving module that talks to MLflow. A version that fails to load leaves the previous
snapshot in place and says why in `last_error` (shown by /ready and the reload answer).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from serving.snapshots import Snapshot, SnapshotStore
from serving.state import LiveModel
from training.pyfunc import ForecastBundle
from training.registry import CHAMPION
from training.tracking import using_store

log = logging.getLogger("anticipate.serving")


class ModelHolder:
    """Holds the current LiveModel of a registered model name and swaps it safely."""

    def __init__(
        self,
        tracking_uri: str,
        name: str,
        snapshots: SnapshotStore | None = None,
        prepare: Callable[[LiveModel], None] | None = None,
        actuals_mark: Callable[[], int] | None = None,
    ) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.name = name
        self.snapshots = snapshots
        #: Called on every new snapshot before it serves (fills its caches off the hot path).
        self.prepare = prepare
        #: The ledger's current actuals revision (snapshots ahead of it are ignored).
        self.actuals_mark = actuals_mark or (lambda: 0)
        self._unsaved = False
        #: How the current model was loaded: from a snapshot or not, series refitted at load.
        self.load_info: dict[str, object] = {}
        self._current: LiveModel | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.last_check: float | None = None

    @property
    def current(self) -> LiveModel | None:
        """The snapshot to serve with (take it once per request)."""
        return self._current

    def champion_version(self) -> str | None:
        """The version the champion alias points at now (None without a champion)."""
        try:
            return str(self.client.get_model_version_by_alias(self.name, CHAMPION).version)
        except MlflowException:
            return None

    def load(
        self,
        version: str | None = None,
        actuals: Callable[[pd.Timestamp], pd.DataFrame] | None = None,
    ) -> bool:
        """Load `version` (the champion when None); True if the served model changed.

        On any failure the previous model stays and the error is kept in `last_error`.
        """
        import mlflow

        with self._lock:
            self.last_check = time.time()
            try:
                version = version or self.champion_version()
                if version is None:
                    raise LookupError(f"{self.name} has no champion version yet")
                if self._current is not None and self._current.version == version:
                    self.last_error = None
                    return False
                with using_store(self.client), _sys_path_kept():
                    loaded = mlflow.pyfunc.load_model(f"models:/{self.name}/{version}")
                bundle: ForecastBundle = loaded.unwrap_python_model().bundle
                if bundle.history is None:
                    raise ValueError(
                        f"{self.name} version {version} was registered without its history; "
                        "retrain it with this version of anticipate"
                    )
                run_id = self.client.get_model_version(self.name, version).run_id
                live = LiveModel(self.name, version, run_id, bundle, bundle.model, bundle.history)
                snapshot = (
                    self.snapshots.load(self.name, version, run_id, self.actuals_mark())
                    if self.snapshots
                    else None
                )
                if snapshot is not None:
                    live = replace(live, model=snapshot.model, history=snapshot.history)
                moved = 0
                if actuals is not None:
                    recent = actuals(live.last_ds.min())
                    if not recent.empty:
                        live, moved = live.moved_forward(recent)
                _ = live.precomputed
                if self.prepare is not None:
                    self.prepare(live)
            except Exception as err:  # keep serving the previous model, report why
                self.last_error = f"{type(err).__name__}: {err}"
                log.exception("loading %s version %s failed", self.name, version)
                return False
            self._current = live
            self.last_error = None
            self.load_info = {"snapshot": snapshot is not None, "moved_at_load": moved}
            log.info(
                "serving %s version %s (snapshot: %s, refitted at load: %d series)",
                self.name,
                version,
                "yes" if snapshot is not None else "no",
                moved,
            )
            if moved:
                self._save(live)
            return True

    def move_forward(self, actuals: pd.DataFrame) -> int:
        """Apply known actuals to the served model; returns how many series moved."""
        with self._lock:
            current = self._current
            if current is None:
                return 0
            live, moved = current.moved_forward(actuals)
            if moved:
                _ = live.precomputed
                if self.prepare is not None:
                    self.prepare(live)
                self._current = live
                self._unsaved = True
            return moved

    def swap(self, expected: LiveModel, moved: LiveModel) -> bool:
        """Serve `moved` (made from `expected` elsewhere) if `expected` is still the current one.

        False when another model was loaded meanwhile (then `moved` is dropped).
        """
        with self._lock:
            if self._current is not expected:
                return False
            if self.prepare is not None:
                self.prepare(moved)
            self._current = moved
            self._unsaved = True
            return True

    def save_snapshot(self) -> None:
        """Write the served model if it moved since the last snapshot (at shutdown)."""
        with self._lock:
            if self._unsaved and self._current is not None:
                self._save(self._current)

    def _save(self, live: LiveModel) -> None:
        if self.snapshots is None:
            return
        try:
            self.snapshots.save(
                Snapshot(
                    live.name,
                    live.version,
                    live.run_id,
                    live.model,
                    live.history,
                    ledger=self.snapshots.ledger,
                    actuals_mark=self.actuals_mark(),
                )
            )
            self._unsaved = False
        except OSError as err:  # a snapshot is an optimisation; serving goes on without it
            log.warning("could not write the serving snapshot: %s", err)


@contextlib.contextmanager
def _sys_path_kept() -> Iterator[None]:
    """Undo MLflow's prepending of the model's logged code folder to `sys.path`.

    The server runs the installed anticipate; left in place, the copy logged with an older
    version would shadow it for every module imported later, here and in the child processes
    (which start with the parent's `sys.path`): a refit process failed on an import exactly so.
    """
    kept = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = kept
