"""Move the served model forward to new actuals in the background, one job per round.

`POST /v1/actuals` stores the rows and answers; the series they extend are refitted here,
after the answer (a refit of a few hundred series takes seconds). Posts that arrive while a
round runs are coalesced into the next round. Each round with work is a `refresh` job in the
jobs table, so `GET /v1/jobs` shows it, its progress and how many series moved.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from serving import jobs_store

log = logging.getLogger("anticipate.serving")


class Refresher:
    """A background thread that runs `move_forward()` whenever actuals were posted."""

    def __init__(self, write: Callable[..., Any], move_forward: Callable[[], int]) -> None:
        #: Runs a ledger write `fn(engine, *args, **kwargs)` (the service's write process).
        self.write = write
        self.move_forward = move_forward
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: str | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="refresher", daemon=True)
            self._thread.start()

    def request(self) -> str:
        """Ask for a round soon; returns the id of the (queued) job that will run it.

        Requests that arrive before that round starts share its job.
        """
        with self._lock:
            if self._pending is None:
                self._pending = self.write(jobs_store.create_job, "refresh")
            job_id = self._pending
            self._idle.clear()
            self._wake.set()
        return job_id

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no round is pending or running (tests, shutdown)."""
        return self._idle.wait(timeout)

    def stop(self) -> None:
        """Finish the running round and stop."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None

    #: After a round of t seconds the next waits at least max(MIN_PAUSE, t): refits take at most
    #: half of one core however fast actuals arrive, and the posts in between share one round.
    MIN_PAUSE = 0.5

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping:
                self._idle.set()
                return
            self._wake.clear()
            started = time.perf_counter()
            self._round()
            pause = max(self.MIN_PAUSE, time.perf_counter() - started)
            if not self._stopping and self._pending is not None:
                time.sleep(pause)
            with self._lock:
                if self._pending is None and not self._wake.is_set():
                    self._idle.set()

    def _round(self) -> None:
        with self._lock:
            job_id, self._pending = self._pending, None
        if job_id is None:
            return
        started = time.perf_counter()
        try:
            self.write(jobs_store.update_job, job_id, status="running", stage="refitting")
            moved = self.move_forward()
            seconds = round(time.perf_counter() - started, 3)
            self.write(
                jobs_store.update_job,
                job_id,
                status="succeeded",
                stage="done",
                progress=1.0,
                result={"moved_series": moved, "seconds": seconds},
            )
        except Exception as err:  # keep refreshing in later rounds
            log.exception("refresh job %s failed", job_id)
            self.write(
                jobs_store.update_job, job_id, status="failed", error=f"{type(err).__name__}: {err}"
            )
