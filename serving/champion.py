"""The champion holder: loads registered versions from the MLflow registry and swaps them safely.

The only serving module that talks to MLflow. A version that fails to load leaves the previous
snapshot in place and says why in `last_error` (shown by /ready and the reload answer); at
start-up the newest earlier champion that loads serves instead, and /ready says `degraded`.
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

from serving.model_files import diagnose
from serving.snapshots import Snapshot, SnapshotStore
from serving.state import LiveModel
from training.pyfunc import ForecastBundle
from training.registry import CHAMPION
from training.tracking import using_store

log = logging.getLogger("anticipate.serving")

#: Reads the actuals that may change a snapshot reflecting the ledger up to a mark (None: the
#: registered history): the frame (None when nothing changed) and the mark it reflects.
ReadActuals = Callable[[LiveModel, int | None], tuple[pd.DataFrame | None, int]]


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
        #: Why the champion is not what serves (it does not load), or None when it is.
        self.degraded: str | None = None
        #: Versions that failed to load, with the reason (polls skip them; reload retries).
        self.failures: dict[str, str] = {}
        self._warned: set[str] = set()
        #: The ledger's actuals revision the served history reflects (saved with snapshots).
        self.applied_mark = 0
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
        actuals: ReadActuals | None = None,
    ) -> bool:
        """Load `version` (the champion when None); True if the served model changed.

        On any failure the previous model stays and the reason is kept in `last_error`. When
        nothing serves yet (start-up), the newest earlier champion that loads serves instead and
        `degraded` says why: a damaged new version must not leave the service without a model.
        """
        with self._lock:
            self.last_check = time.time()
            wanted = version or self.champion_version()
            if wanted is None:
                self.last_error = f"{self.name} has no champion version yet"
                return False
            if self._current is not None and self._current.version == wanted:
                self.last_error = None
                self.degraded = None
                return False
            try:
                live, snapshot, moved, mark = self._load_version(wanted, actuals)
            except Exception as err:  # keep serving the previous model, report why
                self.last_error = self._failed(wanted, err)
                if self._current is not None:
                    self.degraded = (
                        f"{self.last_error}; still serving version {self._current.version}"
                    )
                    self._warn_once(f"the champion does not load: {self.degraded}")
                    return False
                if self._fall_back(wanted, actuals):
                    self._warn_once(f"the champion does not load: {self.degraded}")
                    return True
                self._warn_once(
                    f"the champion does not load, nor any earlier one: {self.last_error}"
                )
                return False
            self._serve(live, snapshot, moved, mark)
            self.last_error = None
            self.degraded = None
            return True

    def known_broken(self, version: str) -> bool:
        """True when `version` failed to load before (polls do not retry it; a reload does)."""
        return version in self.failures

    def _load_version(
        self, version: str, actuals: ReadActuals | None
    ) -> tuple[LiveModel, Snapshot | None, int, int]:
        """Load one registered version, from its snapshot when there is one, moved forward:
        the live model, the snapshot used (if any), series refitted, the actuals mark."""
        import mlflow

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
        mark = None
        if snapshot is not None:
            live = replace(live, model=snapshot.model, history=snapshot.history)
            mark = snapshot.actuals_mark
        moved = 0
        if actuals is not None:
            recent, mark = actuals(live, mark)
            if recent is not None and not recent.empty:
                live, moved = live.moved_forward(recent)
        _ = live.precomputed
        if self.prepare is not None:
            self.prepare(live)
        return live, snapshot, moved, mark or 0

    def _serve(self, live: LiveModel, snapshot: Snapshot | None, moved: int, mark: int) -> None:
        self._current = live
        self.applied_mark = mark
        self.failures.pop(live.version, None)
        self.load_info = {"snapshot": snapshot is not None, "moved_at_load": moved}
        log.info(
            "serving %s version %s (snapshot: %s, refitted at load: %d series)",
            self.name,
            live.version,
            "yes" if snapshot is not None else "no",
            moved,
        )
        if moved:
            self._save(live)

    def _failed(self, version: str, err: Exception) -> str:
        """Name what is wrong with `version`; one log line the first time it fails."""
        try:
            source = self.client.get_model_version(self.name, version).source
            message = diagnose(self.name, version, source, err, download=_download)
        except Exception:  # the registry itself is the problem
            message = f"{self.name} version {version}: {type(err).__name__}: {err}"
        if self.failures.get(version) != message:
            log.debug("loading %s version %s failed", self.name, version, exc_info=err)
        self.failures[version] = message
        return message

    def _warn_once(self, message: str) -> None:
        """Log a load problem once per distinct message (polls repeat the same state)."""
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)

    def _fall_back(self, broken: str, actuals: ReadActuals | None) -> bool:
        """Serve the newest earlier champion that loads; True when one does."""
        for version in self._earlier_champions(broken):
            try:
                live, snapshot, moved, mark = self._load_version(version, actuals)
            except Exception as err:
                self._failed(version, err)
                continue
            self._serve(live, snapshot, moved, mark)
            self.degraded = (
                f"{self.last_error}; serving version {version}, the newest earlier champion "
                "that loads"
            )
            return True
        self.degraded = None
        return False

    def _earlier_champions(self, broken: str) -> list[str]:
        """Versions before `broken` that passed the gate (or were forced in), newest first."""
        try:
            versions = self.client.search_model_versions(f"name='{self.name}'")
        except MlflowException:
            return []
        earlier = [
            v
            for v in versions
            if str(v.version).isdigit()
            and int(v.version) < int(broken)
            and (v.tags.get("gate.decision") == "promoted" or v.tags.get("gate.forced") == "True")
        ]
        return [str(v.version) for v in sorted(earlier, key=lambda v: -int(v.version))]

    def move_forward(self, actuals: pd.DataFrame | None, mark: int) -> int:
        """Apply known actuals (reflecting the ledger up to `mark`) to the served model; returns
        how many series were refitted."""
        with self._lock:
            current = self._current
            if current is None:
                return 0
            live, moved = current.moved_forward(actuals) if actuals is not None else (current, 0)
            self.applied_mark = max(self.applied_mark, mark)
            if moved:
                _ = live.precomputed
                if self.prepare is not None:
                    self.prepare(live)
                self._current = live
                self._unsaved = True
            return moved

    def swap(self, expected: LiveModel, moved: LiveModel, mark: int) -> bool:
        """Serve `moved` (made from `expected` elsewhere, reflecting the actuals up to `mark`)
        if `expected` is still the current one; `moved` may be `expected` (only the mark moved).

        False when another model was loaded meanwhile (then `moved` is dropped).
        """
        with self._lock:
            if self._current is not expected:
                return False
            self.applied_mark = max(self.applied_mark, mark)
            if moved is expected:
                return True
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
                    actuals_mark=self.applied_mark,
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


def _download(source: str, folder: str) -> str:
    """Copy a model version's files from its (remote) artifact store into `folder`."""
    import mlflow.artifacts

    return str(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=folder))
