"""The API benchmark's scenarios (a-d of issue 9, item 3) against one running server.

Each returns a plain dict for the report. Request bodies are built here from what the server
itself answered (its series and their forecast dates), so actuals land on dates the ledger's
served points cover and are scored against them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.api_ledger import SeriesForecast
from benchmarks.api_servers import Server, run_load, workload

HORIZON = 14
LEVELS = [80, 95]
FORECASTS = "/v1/forecasts"
JSON = {"Content-Type": "application/json"}
ACTUALS = "/v1/actuals"
#: Rows of each post of the 8 writers of scenario c: 25 series x 2 days.
WRITER_ROWS = 50
#: Different bodies the writers take in turn (each with its own values, so posts change rows).
WRITER_BODIES = 64
#: Longest wait for a server to work off what it queued during a load run.
DRAIN_LIMIT_S = 300.0
#: Writers wait this long for an actuals post (the server may refit inside the request).
WRITER_TIMEOUT_S = 60.0


@dataclass
class Bench:
    """What every scenario needs: sizes from the command line, keys, bodies, a scratch folder."""

    args: Any
    scratch: Path
    viewer: dict[str, str]
    writer: dict[str, str]
    forecast_bodies: list[str]
    bottom: list[SeriesForecast]
    baseline_s: float = 0.05

    def run(self, server: Server, label: str, *workloads: dict[str, Any]) -> dict[str, Any]:
        """One load-generator process running `workloads` side by side; its result, drained.

        `drain_s`: how long after the load ended the server still took to answer a
        single-series forecast as fast as when idle (what it had queued).
        """
        result = run_load(server, list(workloads), self.scratch, label)
        server.check_alive(label)
        result["drain_s"] = self.drain(server) if server.name.startswith("anticipate") else 0.0
        print(_line(result), flush=True)
        return result

    def drain(self, server: Server, limit: float = DRAIN_LIMIT_S) -> float:
        """Wait until 3 forecasts in a row answer within 3x the idle latency; seconds waited."""
        fast_enough = max(3 * self.baseline_s, self.baseline_s + 0.05)
        headers = {"Content-Type": "application/json", **self.viewer}
        started = time.perf_counter()
        fast = 0
        with httpx.Client(timeout=limit) as http:
            while fast < 3 and time.perf_counter() - started < limit:
                sent = time.perf_counter()
                try:
                    response = http.post(
                        server.base + FORECASTS, content=self.forecast_bodies[0], headers=headers
                    )
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                ok = ok and time.perf_counter() - sent < fast_enough
                fast = fast + 1 if ok else 0
                if not ok:
                    time.sleep(0.2)
        return time.perf_counter() - started


def _line(result: dict[str, Any]) -> str:
    parts = [f"{result['label']}:"]
    for name, w in result["workloads"].items():
        parts.append(
            f"{name} p50 {w['p50_ms']:.1f} p99 {w['p99_ms']:.1f} max {w['max_ms']:.1f} ms, "
            f"{w['throughput_rps']:.1f} ok/s, shed {w['shed']}, errors {w['errors']};"
        )
    parts.append(
        f"CPU server {result['server_cpu_share']:.0%} loadgen {result['loadgen_cpu_share']:.0%} "
        f"other {result['other_cpu_share']:.0%}; drained in {result['drain_s']:.1f} s"
    )
    return " ".join(parts)


def list_series(http: httpx.Client, base: str, headers: dict[str, str], level: str | None) -> list:
    """Every series the server lists (all pages), optionally of one hierarchy level."""
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        params: dict[str, Any] = {"limit": 1000, "offset": offset}
        if level:
            params["level"] = level
        page = http.get(base + "/v1/series", params=params, headers=headers)
        page.raise_for_status()
        body = page.json()
        found += body.get("items", body.get("data", []))
        offset = body.get("next_offset")
    return found


def forecast_bodies(ids: list[str]) -> list[str]:
    """One single-series forecast request per id (horizon 14, 80 and 95 % intervals)."""
    return [json.dumps({"unique_ids": [uid], "horizon": HORIZON, "levels": LEVELS}) for uid in ids]


def _rows(pairs: list[tuple[SeriesForecast, int]], rng: np.random.Generator) -> str:
    """An actuals body: each (series, step) gets a plausible quantity near its forecast."""
    rows = []
    for series, step in pairs:
        yhat = float(series.values["yhat"][step])
        y = max(0.0, round(yhat * float(rng.uniform(0.7, 1.3))))
        rows.append(
            {"unique_id": series.unique_id, "ds": series.ds[step].date().isoformat(), "y": y}
        )
    return json.dumps({"rows": rows})


def writer_bodies(bottom: list[SeriesForecast], seed: int = 0) -> list[str]:
    """Bodies for the writers of scenario c: 25 series x the first 2 forecast days each."""
    rng = np.random.default_rng(seed)
    per_body = WRITER_ROWS // 2
    bodies = []
    for j in range(WRITER_BODIES):
        chosen = [bottom[(j * per_body + i) % len(bottom)] for i in range(per_body)]
        bodies.append(_rows([(s, step) for step in (0, 1) for s in chosen], rng))
    return bodies


def big_posts(bottom: list[SeriesForecast], rows: int, posts: int, seed: int = 1) -> list[str]:
    """Bodies of `rows` rows each for scenario d: every series on later days (from the 3rd)."""
    rng = np.random.default_rng(seed)
    pairs = [(s, step) for step in range(2, len(bottom[0].ds)) for s in bottom]
    if rows * posts > len(pairs):
        raise ValueError(
            f"{posts} posts of {rows} rows need {rows * posts} (series, day) pairs; "
            f"the model has {len(pairs)} after the first two forecast days"
        )
    return [_rows(pairs[k * rows : (k + 1) * rows], rng) for k in range(posts)]


def sequential(bench: Bench, server: Server, path: str, bodies: list[str], headers: dict) -> dict:
    """Back-to-back requests on one connection: the latency of a request on an idle server."""
    a = bench.args
    with httpx.Client(timeout=120) as http:  # one request first: nothing measured is the first
        http.post(server.base + path, content=bodies[0], headers={**JSON, **headers})
    result = bench.run(
        server,
        f"{server.name}-sequential",
        workload(
            "sequential", path, bodies, headers, connections=1, duration=a.seq_duration, warmup=0
        ),
    )
    if server.name.startswith("anticipate"):
        bench.baseline_s = result["workloads"]["sequential"]["p50_ms"] / 1000
    return result


def scenario_a(bench: Bench, server: Server) -> dict:
    """Open loop: single-series forecasts at `rate` on `connections` connections."""
    a = bench.args
    forecasts = workload(
        "forecasts",
        FORECASTS,
        bench.forecast_bodies,
        bench.viewer,
        connections=a.connections,
        duration=a.duration,
        warmup=a.warmup,
        rate=a.rate,
        timeout=a.timeout,
    )
    return bench.run(server, "a-open-loop", forecasts)


def scenario_b(bench: Bench, server: Server) -> dict:
    """Closed loop with `clients` connections, then with `many` connections, in the same run."""
    a = bench.args
    results = {}
    for label, n in (("few", a.clients), ("many", a.many)):
        closed = workload(
            "forecasts",
            FORECASTS,
            bench.forecast_bodies,
            bench.viewer,
            connections=n,
            duration=a.closed_duration,
            warmup=a.closed_warmup,
            timeout=a.timeout,
        )
        results[label] = bench.run(server, f"b-closed-{n}", closed)
    return results


def scenario_c(bench: Bench, server: Server) -> dict:
    """Open-loop forecasts at `mixed_rate` while `writers` clients post actuals back to back."""
    a = bench.args
    forecasts = workload(
        "forecasts",
        FORECASTS,
        bench.forecast_bodies,
        bench.viewer,
        connections=max(a.clients, int(a.mixed_rate)),
        duration=a.mixed_duration,
        warmup=a.warmup,
        rate=a.mixed_rate,
        timeout=a.timeout,
    )
    writers = workload(
        "actuals",
        ACTUALS,
        writer_bodies(bench.bottom),
        bench.writer,
        connections=a.writers,
        duration=a.mixed_duration,
        warmup=a.warmup,
        timeout=max(a.timeout, WRITER_TIMEOUT_S),
    )
    return bench.run(server, "c-forecasts-with-writers", forecasts, writers)
