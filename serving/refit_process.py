"""Refits of the served model in a child process, so they never hold the API's interpreter lock.

Moving the model forward to new actuals refits every series they extend: seconds of Python and
numpy work per round. In a thread of the API's process that work held the GIL about a fifth of
the time, and single-series forecasts waited behind it (p99 well over 50 ms while 8 clients
posted actuals). Here the child holds its own copy of the served snapshot, reads the new actuals
from the ledger itself, refits, and computes what requests read (the precomputed forecasts, the
history statistics, each series' last date); the API's process only unpickles the result and
swaps it in. The result is small: the model's parts a refit leaves alone (backtests, fitted
global estimators: most of its 35 MB) travel as references to the copy the API's process
already holds, and the history as the rows it gained (a whole copy took 70 ms to unpickle,
and that long every forecast waited).

    refits = RefitProcess(database_url)
    moved, count, mark = refits.move_forward(current, mark)   # `current`, 0 when nothing moved

`mark` is the ledger's actuals revision the served history reflects: a round reads nothing when
no actual was inserted or corrected after it, and otherwise the actuals from the earliest day
that changed (`actuals_to_apply`, also used at load and without child processes).

The child is given the snapshot once per model (and again if it died); after that each round
sends nothing but a request. It runs at a lower priority than the API's process.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from threadpoolctl import threadpool_limits

from serving import ledger
from serving.engine import make_engine
from serving.forecasting import history_stats_of
from serving.state import LiveModel, with_corrections
from serving.write_process import become_child, child_pool
from training.parallel import in_process

log = logging.getLogger("anticipate.serving")

#: How much lower the refit process runs than the API's process (see `os.nice`).
REFIT_NICENESS = 10
#: Cached values of a snapshot that depend only on its registered bundle: kept across a move.
OF_BUNDLE = (
    "hierarchy_levels",
    "level_of",
    "parents",
    "trained_last_ds",
    "_expected_by_series",
    "_backtest",
    "_total_errors",
)
#: Cached values that depend on the history: computed by the child, sent with the move.
OF_HISTORY = ("precomputed", "last_ds", "origin_of", "_history_stats")

#: Arrays and frames smaller than this are copied rather than shared by reference.
LEAF_MIN_SIZE = 1_000
#: Objects of these packages are walked into; of these, shared whole.
OUR_PACKAGES = ("training", "features", "serving")
SHARED_PACKAGES = ("sklearn", "statsmodels", "numpy", "pandas")

_ENGINE: Engine | None = None
_LIVE: LiveModel | None = None
_MARK: int | None = None


@dataclass(frozen=True)
class Moved:
    """What the child sends after a move: the model (its unchanged parts by reference), the
    rows the history gained, and the values requests read."""

    count: int
    model: bytes
    extra: pd.DataFrame
    corrected: pd.DataFrame
    derived: dict[str, Any]


def actuals_to_apply(
    engine: Engine, live: LiveModel, mark: int | None
) -> tuple[pd.DataFrame | None, int]:
    """The actuals that may change `live` (None: nothing changed), and the mark they reflect.

    `mark` None: `live` holds the registered history, so every actual after it may apply.
    Otherwise only rows inserted or corrected after `mark` are news: the read starts at the
    earliest day they touch, or at the earliest series' last date when that is before (rows
    that continue a series may need rows posted earlier, across a gap now filled).
    """
    if mark is None:
        newest = ledger.actuals_mark(engine)  # read first: a later post is read again, not lost
        return ledger.actuals_frame(engine, after=live.last_ds.min()), newest
    earliest, newest = ledger.changed_since(engine, mark)
    if earliest is None:
        return None, mark
    after = min(live.last_ds.min(), pd.Timestamp(earliest) - pd.Timedelta(days=1))
    return ledger.actuals_frame(engine, after=after), newest


def shared_leaves(root: Any) -> dict[str, Any]:
    """The large parts of a fitted model by path ("routes_[0].backtest"), walked the same way
    in both processes (arrays, frames and foreign estimators; our objects are walked into)."""
    found: dict[str, Any] = {}

    def walk(obj: Any, path: str, depth: int) -> None:
        if isinstance(obj, np.ndarray | pd.DataFrame | pd.Series | pd.Index):
            if obj.size >= LEAF_MIN_SIZE:
                found[path] = obj
        elif isinstance(obj, list | tuple):
            for i, item in enumerate(obj):
                walk(item, f"{path}[{i}]", depth + 1)
        elif hasattr(obj, "__dict__") and depth < 8:
            if type(obj).__module__.split(".")[0] in OUR_PACKAGES:
                for name, value in vars(obj).items():
                    walk(value, f"{path}.{name}", depth + 1)
            elif type(obj).__module__.split(".")[0] in SHARED_PACKAGES:
                found[path] = obj  # a fitted estimator: refreshes never change it in place

    walk(root, "", 0)
    return found


def dumps_sharing(obj: Any, base: Any) -> bytes:
    """Pickle `obj`, writing the parts it shares with `base` as references to their paths."""
    paths = {id(leaf): path for path, leaf in shared_leaves(base).items()}
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.persistent_id = lambda o: paths.get(id(o))  # type: ignore[method-assign]
    pickler.dump(obj)
    return buffer.getvalue()


def loads_sharing(data: bytes, base: Any) -> Any:
    """Unpickle what `dumps_sharing` wrote, taking the shared parts from this side's `base`."""
    leaves = shared_leaves(base)
    unpickler = pickle.Unpickler(io.BytesIO(data))
    unpickler.persistent_load = leaves.__getitem__  # type: ignore[method-assign]
    return unpickler.load()


class RefitProcess:
    """A one-worker process pool holding a copy of the served snapshot, moving it forward."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._pool: ProcessPoolExecutor | None = None
        #: The API's snapshot the child's copy corresponds to (None: it must be sent).
        self._child_has: LiveModel | None = None
        self._lock = threading.Lock()

    def stop(self) -> None:
        """End the child (a round in progress is finished first)."""
        with self._lock:
            pool, self._pool, self._child_has = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def move_forward(self, current: LiveModel, mark: int | None) -> tuple[LiveModel, int, int]:
        """`current` (reflecting the actuals up to `mark`) moved forward to the ledger's: the
        new snapshot, how many series were refitted, and the mark it reflects."""
        pool = self._ensure()
        try:
            if self._child_has is not current:
                pool.submit(_take, _bare(current), mark).result()
                self._child_has = current
            moved, newest = pool.submit(_move).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool, self._child_has = None, None
            log.error("the refit process died; the next round starts another")
            raise
        if moved is None:
            return current, 0, newest
        model = loads_sharing(moved.model, current.model)
        # appended, not sorted: nothing in this process needs the history in order
        history = pd.concat(
            [with_corrections(current.history, moved.corrected), moved.extra], ignore_index=True
        )
        live = replace(current, model=model, history=history, loaded_at=time.time())
        live.__dict__.update({k: current.__dict__[k] for k in OF_BUNDLE if k in current.__dict__})
        live.__dict__.update(moved.derived)
        self._child_has = live
        return live, moved.count, newest

    def forget(self) -> None:
        """The served snapshot was replaced by other means: send it again next round."""
        self._child_has = None

    def _ensure(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = child_pool(_open, self.database_url)
            return self._pool


def _bare(live: LiveModel) -> LiveModel:
    """The snapshot without its cached values (the child computes what it needs)."""
    return replace(live)


def _open(database_url: str) -> None:
    """In the child: below the API's priority, ending with it; an engine."""
    global _ENGINE
    become_child(REFIT_NICENESS)
    _ENGINE = make_engine(database_url)


def _take(live: LiveModel, mark: int | None) -> None:
    global _LIVE, _MARK
    _LIVE, _MARK = live, mark


def _move() -> tuple[Moved | None, int]:
    """Move the child's snapshot to the ledger's actuals: what the API needs (None when nothing
    moved) and the mark the snapshot now reflects."""
    global _LIVE, _MARK
    assert _ENGINE is not None and _LIVE is not None, "the refit process has no snapshot"
    live = _LIVE
    actuals, newest = actuals_to_apply(_ENGINE, live, _MARK)
    changes = live.changes(actuals) if actuals is not None else None
    if changes is None or changes.empty:
        _MARK = newest
        return None, newest
    with threadpool_limits(limits=1), in_process():  # one core: the other is the API's
        moved, count = live.applied(changes)
    _ = moved.precomputed, moved.origin_of
    history_stats_of(moved)
    _LIVE, _MARK = moved, newest
    derived = {k: moved.__dict__[k] for k in OF_HISTORY if k in moved.__dict__}
    model = dumps_sharing(moved.model, live.model)
    return Moved(count, model, changes.extra, changes.corrected, derived), newest
