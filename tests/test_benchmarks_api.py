"""Smoke tests of the API benchmark: the load generator, its statistics, the ledger filler."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from benchmarks.api_ledger import SeriesForecast, copy_sqlite, fill_served, ledger_size
from benchmarks.api_stats import drift_ms, summarize
from benchmarks.loadgen import run_plan


class _Handler(BaseHTTPRequestHandler):
    """Answers POST /ok with a small JSON body and POST /busy with 503 + Retry-After."""

    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        busy = self.path == "/busy"
        body = b'{"detail": "busy"}' if busy else b'{"ok": true}'
        self.send_response(503 if busy else 200)
        if busy:
            self.send_header("Retry-After", "0.05")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def port() -> Iterator[int]:
    """A keep-alive HTTP server on a free loopback port, in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _plan(port: int, **workload: object) -> dict:
    base = {"name": "w", "bodies": ['{"a": 1}'], "headers": {}, "warmup": 0.2, "timeout": 5}
    return {"host": "127.0.0.1", "port": port, "workloads": [{**base, **workload}]}


def test_open_loop_sends_every_scheduled_request_and_counts_them(port: int) -> None:
    """At 100/s for 1 s every one of the 100 requests due in the window is sent and answered."""
    result = asyncio.run(run_plan(_plan(port, path="/ok", connections=4, duration=1.0, rate=100)))
    w = result["workloads"]["w"]
    assert (w["requests"], w["ok"], w["errors"], w["shed"]) == (100, 100, 0, 0)
    assert 0 < w["p50_ms"] <= w["p99_ms"] <= w["max_ms"] < 1000
    assert sum(s["requests"] for s in w["slices"]) == 100
    assert 0 <= result["cpu_share"] < 2


def test_closed_loop_counts_503_as_shed_and_waits_retry_after(port: int) -> None:
    """503 answers are shed, not errors, and a client waits Retry-After (0.05 s) between them."""
    result = asyncio.run(run_plan(_plan(port, path="/busy", connections=2, duration=1.0)))
    w = result["workloads"]["w"]
    assert w["shed"] == w["requests"] > 0
    assert w["errors"] == 0 and w["ok"] == 0 and w["shed_share"] == 1.0
    assert w["requests"] <= 2 * 1.0 / 0.05 + 2  # each client sleeps 50 ms after each answer


def test_a_refused_connection_is_an_error_not_a_crash() -> None:
    """Requests to a port nobody listens on fail one by one and are counted as errors."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    result = asyncio.run(run_plan(_plan(free, path="/ok", connections=1, duration=0.5, rate=20)))
    w = result["workloads"]["w"]
    assert w["requests"] == 10 and w["ok"] == 0
    assert w["errors"] == 10 and set(w["error_kinds"]) == {"ConnectionRefusedError"}


def test_summary_shows_drift_and_counts_timeouts() -> None:
    """Latency growing over the window shows as drift; a timeout is an error with its time."""
    samples = [(t / 10, t / 10, t / 10 + 0.001 * (1 + t), "ok") for t in range(60)]
    samples.append((5.95, 5.95, 15.95, "timeout"))
    summary = summarize(samples, window_start=0, window_end=6, timeout=10, rate=10, connections=1)
    assert summary["requests"] == 61 and summary["timeouts"] == 1 and summary["errors"] == 1
    assert summary["max_ms"] == pytest.approx(10_000)
    assert [s["requests"] for s in summary["slices"]] == [10, 10, 10, 10, 10, 11]
    assert drift_ms(summary) > 50


def test_fill_served_writes_the_points_through_the_ledger(tmp_path: Path) -> None:
    """The filler reaches the asked number of served points in a real, migrated SQLite ledger."""
    from serving.db import migrate

    database = tmp_path / "ledger.db"
    migrate(f"sqlite:///{database}")
    days = [dt.datetime(2026, 1, d) for d in range(2, 16)]
    series = [
        SeriesForecast(
            unique_id=f"s{i}",
            level="series",
            origin=dt.datetime(2026, 1, 1),
            ds=days,
            values={c: np.full(14, 10.0 + i) for c in ("yhat", "yhat_lo_80", "yhat_hi_80")},
        )
        for i in range(3)
    ]
    done = fill_served(
        f"sqlite:///{database}",
        series,
        model_name="m",
        model_version="1",
        points=14 * 2 * 5,
        per_request=2,
        interval_levels=[80],
        days=2,
    )
    assert (done["points"], done["requests"]) == (140, 5)
    copy = tmp_path / "copy.db"
    copy_sqlite(database, copy)
    size = ledger_size(copy)
    assert size["served_points"] == 140
    assert size["rows"]["forecast_requests"] == 5
    assert size["bytes"] > 0
