"""The served model moved forward to posted actuals, kept on disk so a restart is quick.

Moving a registered version forward refits every series that got actuals since training (tens
of seconds for a few hundred series). Without a snapshot every restart repeats that work, so
start-up time grew with the actuals posted. A snapshot holds the refitted model and its history
for one registered version (run id checked); a restart loads it and refits only what arrived
after it. Written when the server stops and after a load that refitted, not after each refit
round: pickling a model holds the GIL for a second or more, which every request would wait out.
A server killed with SIGKILL therefore starts from its last clean stop and refits the rest.
Written atomically (temporary file, then rename): a crash leaves the previous one.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import joblib
import pandas as pd

from training.auto import AutoForecaster

log = logging.getLogger("anticipate.serving")


@dataclass(frozen=True)
class Snapshot:
    """A moved-forward model of one registered version."""

    model_name: str
    version: str
    run_id: str | None
    model: AutoForecaster
    history: pd.DataFrame
    ledger: str = ""
    actuals_mark: int = 0


class SnapshotStore:
    """One snapshot file per registered model name, replaced as the model moves forward.

    A snapshot belongs to one ledger (`ledger`, e.g. a hash of its URL) and records the actuals'
    revision it includes: a server on another ledger, or on one with fewer actuals (reset, or
    restored from a backup), ignores it rather than serve actuals that ledger does not have.
    `read_only` stores (the command line's) load snapshots and never write one.
    """

    def __init__(self, folder: Path, ledger: str = "", read_only: bool = False) -> None:
        self.folder = Path(folder)
        self.ledger = ledger
        self.read_only = read_only

    def _path(self, model_name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
        return self.folder / f"{safe}.joblib"

    def save(self, snapshot: Snapshot) -> None:
        """Replace the snapshot of its model name (atomically); nothing when read-only."""
        if self.read_only:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._path(snapshot.model_name)
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        os.close(handle)
        try:
            joblib.dump(snapshot, temporary, compress=1)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def load(
        self, model_name: str, version: str, run_id: str | None, actuals_mark: int = 0
    ) -> Snapshot | None:
        """The snapshot of exactly this version, run and ledger, or None (missing, other,
        unreadable, or ahead of the ledger's actuals)."""
        path = self._path(model_name)
        if not path.is_file():
            return None
        try:
            snapshot = joblib.load(path)
        except Exception as err:  # a damaged snapshot is only a slower start
            log.warning("ignoring the snapshot %s: %s: %s", path, type(err).__name__, err)
            return None
        if not isinstance(snapshot, Snapshot):
            return None
        if (snapshot.model_name, snapshot.version, snapshot.run_id) != (
            model_name,
            version,
            run_id,
        ):
            return None
        if snapshot.ledger != self.ledger or snapshot.actuals_mark > actuals_mark:
            log.warning("ignoring the snapshot %s: it holds actuals this ledger lacks", path)
            return None
        return snapshot
