"""Fan work out over series: joblib on local cores, or a Dask cluster given its scheduler address.

Loops over series live here and nowhere else. Work is cut into contiguous chunks so that each
task carries enough series to be worth shipping, and results come back in input order, so the
same inputs give the same outputs whatever the backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any, TypeVar

import joblib
from threadpoolctl import threadpool_limits

T = TypeVar("T")
R = TypeVar("R")

#: Chunks per worker: enough to balance uneven series, few enough to keep overhead small.
CHUNKS_PER_WORKER = 4
#: The Dask client of the innermost `dask_backend(...)` block, if any (per thread and task).
_CLUSTER: ContextVar[Any] = ContextVar("anticipate_dask_client", default=None)
_IN_PROCESS: ContextVar[bool] = ContextVar("anticipate_in_process", default=False)


def effective_jobs(n_jobs: int | None) -> int:
    """The number of workers joblib will use for `n_jobs` (-1 means every core)."""
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, joblib.cpu_count() + 1 + n_jobs)
    return n_jobs


def _run_chunk(func: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    """Run one chunk with one BLAS thread: tiny per-series problems run 5-30x slower threaded."""
    with threadpool_limits(limits=1):
        return [func(item) for item in chunk]


def _chunks(items: list[T], workers: int) -> list[list[T]]:
    """`items` cut into contiguous chunks, CHUNKS_PER_WORKER per worker (at most one per item)."""
    n_chunks = min(len(items), workers * CHUNKS_PER_WORKER)
    bounds = [round(i * len(items) / n_chunks) for i in range(n_chunks + 1)]
    return [items[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def fan_out(func: Callable[[T], R], items: Sequence[T], n_jobs: int | None = 1) -> list[R]:
    """`[func(item) for item in items]`, in parallel when n_jobs != 1, results in input order.

    Inside `dask_backend(...)` the chunks always run on the Dask cluster, spread over all its
    worker threads (n_jobs is then the cluster's business); elsewhere on n_jobs local processes.
    """
    items = list(items)
    client = _CLUSTER.get()
    if client is not None and items:
        threads = max(1, sum(client.nthreads().values()))
        futures = client.map(partial(_run_chunk, func), _chunks(items, threads), pure=False)
        return [result for chunk in client.gather(futures) for result in chunk]
    workers = 1 if _IN_PROCESS.get() else effective_jobs(n_jobs)
    if workers == 1 or len(items) <= 1:
        return [func(item) for item in items]
    jobs = (joblib.delayed(_run_chunk)(func, c) for c in _chunks(items, workers))
    results = joblib.Parallel(n_jobs=n_jobs)(jobs)
    return [result for chunk in results for result in chunk]


@contextmanager
def in_process() -> Iterator[None]:
    """Run every `fan_out` inside this block in the calling thread, whatever its n_jobs.

    For work beside a latency-sensitive server (refits after actuals): no worker processes to
    start or to ship models to.
    """
    token = _IN_PROCESS.set(True)
    try:
        yield
    finally:
        _IN_PROCESS.reset(token)


@contextmanager
def dask_backend(scheduler_address: str) -> Iterator[Any]:
    """Run every `fan_out` inside this block on the Dask cluster at `scheduler_address`."""
    from distributed import Client

    with Client(scheduler_address) as client:
        token = _CLUSTER.set(client)
        try:
            yield client
        finally:
            _CLUSTER.reset(token)
