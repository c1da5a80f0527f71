"""HTTP load generator for benchmarks/api.py: open loop at a fixed rate, or closed loop.

Runs in its own process so that the client's CPU time is not charged to the server process.
Prints one JSON object with the results on stdout.

Open loop (`--rate R`): request i is due at start + i / R whatever happened to earlier ones, and
its latency runs from that due time to the end of its response. A server (or a connection pool)
that falls behind therefore shows up as queueing in the latency; no request is silently delayed
or dropped (no coordinated omission). Closed loop (`--concurrency N`): N clients each send their
next request as soon as the previous one is answered; reports throughput and latency.

    python -m benchmarks.load --url http://127.0.0.1:8000/v1/forecasts --body-file body.json \
        --header "X-API-Key: ..." --rate 100 --duration 20 --warmup 5
    python -m benchmarks.load --url ... --body-file ... --concurrency 8 --duration 15

Latency percentiles are over every request sent in the measured window; a failed request (non-2xx
status, transport error, client timeout) counts with the time it took to fail and in `errors`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Samples:
    """What the measured window saw: latencies (seconds), errors by kind, completion span."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    ok: int = 0
    send_lag: list[float] = field(default_factory=list)
    first_start: float = math.inf
    last_end: float = 0.0

    def add(self, due: float, started: float, ended: float, error: str | None) -> None:
        self.latencies.append(ended - due)
        self.send_lag.append(started - due)
        self.first_start = min(self.first_start, due)
        self.last_end = max(self.last_end, ended)
        if error is None:
            self.ok += 1
        else:
            self.errors[error] += 1


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


async def one(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    due: float,
    timeout: float,
) -> tuple[float, float, float, str | None]:
    """Send one request; (due, started, ended, error or None).

    A request not answered `timeout` seconds after its due time (waiting for a connection
    included) is abandoned and counted as a timeout.
    """
    started = time.perf_counter()
    error = None
    try:
        response = await asyncio.wait_for(
            client.post(url, content=body, headers=headers),
            timeout=max(0.001, due + timeout - started),
        )
        if not 200 <= response.status_code < 300:
            error = f"http_{response.status_code}"
    except (TimeoutError, httpx.TimeoutException):
        error = "timeout"
    except httpx.HTTPError as err:
        error = type(err).__name__
    return due, started, time.perf_counter(), error


async def open_loop(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    rate: float,
    warmup: float,
    duration: float,
    timeout: float,
) -> Samples:
    """Requests due every 1/rate s for warmup + duration s; samples of those in the window."""
    samples = Samples()
    start = time.perf_counter() + 0.05
    total = round((warmup + duration) * rate)
    measured_from = round(warmup * rate)
    tasks: list[asyncio.Task] = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(client, url, body, headers, due, timeout)))
    results = await asyncio.gather(*tasks)
    for result in results[measured_from:]:
        samples.add(*result)
    return samples


async def closed_loop(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    warmup: float,
    duration: float,
    timeout: float,
) -> tuple[Samples, float]:
    """`concurrency` clients back to back; samples of requests started in the window, its span."""
    samples = Samples()
    begin = time.perf_counter()
    window_start = begin + warmup
    window_end = window_start + duration

    async def client_loop() -> None:
        while True:
            now = time.perf_counter()
            if now >= window_end:
                return
            due, started, ended, error = await one(client, url, body, headers, now, timeout)
            if started >= window_start:
                samples.add(due, started, ended, error)

    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    # Throughput over the window: requests started in it, over the time until the last of
    # them was answered (the window plus the tail of the requests in flight at its end).
    span = max(samples.last_end, window_end) - window_start
    return samples, span


def summary(samples: Samples, span: float) -> dict:
    """Milliseconds and rates for the JSON report."""
    ms = [1000 * v for v in samples.latencies]
    lag = [1000 * v for v in samples.send_lag]
    return {
        "requests": len(ms),
        "ok": samples.ok,
        "errors": sum(samples.errors.values()),
        "error_kinds": dict(samples.errors),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms, default=math.nan),
        "mean_ms": sum(ms) / len(ms) if ms else math.nan,
        "span_s": span,
        "throughput_rps": samples.ok / span if span > 0 else math.nan,
        # How late the client itself started requests after their due time (open loop): large
        # values mean the client (not only the server) could not keep up.
        "send_lag_p99_ms": percentile(lag, 99),
        "send_lag_max_ms": max(lag, default=math.nan),
    }


async def run(args: argparse.Namespace) -> dict:
    """Run the configured load shape and return its summary."""
    body = Path(args.body_file).read_bytes()
    headers = {"Content-Type": "application/json"}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    connections = args.connections or (args.concurrency or max(16, math.ceil(args.rate)))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timeout = httpx.Timeout(args.timeout + 5, pool=None)  # the deadline is enforced in `one`
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        if args.rate:
            samples = await open_loop(
                client, args.url, body, headers, args.rate, args.warmup, args.duration, args.timeout
            )
            span = samples.last_end - samples.first_start if samples.latencies else 0.0
            shape = {"shape": "open", "rate": args.rate}
        else:
            samples, span = await closed_loop(
                client,
                args.url,
                body,
                headers,
                args.concurrency,
                args.warmup,
                args.duration,
                args.timeout,
            )
            shape = {"shape": "closed", "concurrency": args.concurrency}
    return {
        **shape,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": connections,
        **summary(samples, span),
    }


def main() -> None:
    """Parse the arguments, run the load, print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True, help="JSON request body to POST")
    parser.add_argument("--header", action="append", default=[], help='"Name: value"')
    shape = parser.add_mutually_exclusive_group(required=True)
    shape.add_argument("--rate", type=float, help="open loop: requests per second")
    shape.add_argument("--concurrency", type=int, help="closed loop: concurrent clients")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds after its due time a request is abandoned",
    )
    parser.add_argument("--connections", type=int, help="connection pool size")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
