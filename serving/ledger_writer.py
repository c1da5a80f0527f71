"""Write served forecasts to the ledger off the request path, many requests per transaction.

A forecast answer takes a few milliseconds to compute; one SQLite transaction per answer cost
as much again and, under load, requests queued for SQLite's single writer. The writer thread
takes what queued since its last commit and writes it in one transaction (group commit), so the
ledger keeps up at any request rate the model can answer. Stopping flushes the queue. A process
killed with SIGKILL loses at most the last batch (well under a second of answers); answers are
refused (503) rather than queued without bound when the writer falls behind.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("anticipate.serving")


class LedgerFull(RuntimeError):
    """The writer is too far behind to take more served forecasts."""


class LedgerWriter:
    """A background thread that writes batches of served forecasts with `write_batch`."""

    def __init__(
        self,
        write_batch: Callable[[Sequence[Any]], None],
        *,
        max_queued: int = 20_000,
        max_batch: int = 500,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self.write_batch = write_batch
        self.max_batch = max_batch
        self.on_depth = on_depth
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queued)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.written = 0
        self.failed = 0

    def start(self) -> None:
        """Start the writer thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
            self._thread.start()

    def submit(self, item: Any) -> None:
        """Queue one served forecast; LedgerFull when the queue is at its bound."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            raise LedgerFull("the forecast ledger is behind; retry in a moment") from None

    @property
    def depth(self) -> int:
        """Served forecasts waiting to be written."""
        return self._queue.qsize()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is written (True) or `timeout` passes."""
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None and self._stopping.is_set():
                return
            batch, markers = [], []
            item = first
            while True:
                if isinstance(item, threading.Event):
                    markers.append(item)
                elif item is not None:
                    batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            for marker in markers:
                marker.set()
            if self.on_depth is not None:
                self.on_depth(self._queue.qsize())

    def _write(self, batch: list[Any]) -> None:
        try:
            self.write_batch(batch)
            self.written += len(batch)
        except Exception:  # one bad batch must not stop the ledger; retry each alone
            log.exception("writing %d served forecasts failed; retrying one by one", len(batch))
            for item in batch:
                try:
                    self.write_batch([item])
                    self.written += 1
                except Exception:
                    self.failed += 1
                    log.exception("a served forecast could not be written to the ledger")
