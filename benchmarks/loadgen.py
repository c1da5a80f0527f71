"""Lean HTTP/1.1 load generator for benchmarks/api.py: open loop on a schedule, or closed loop.

It runs in its own process (so its CPU is not the server's) on raw asyncio streams with
keep-alive connections (uvloop when installed). At 200 requests/s on 200 connections against a
trivial ASGI app (uvicorn) it used 0.07 of a core and measured p50 0.7 ms; the httpx client it
replaces used 0.43 of a core and measured p50 2.8 ms (2 cores, 2026-12). One plan (a JSON
file) lists workloads that run side by side; the summary of each is written as JSON to `--out`.

- open loop (`rate`): request i is due at start + i / rate whatever happened to earlier ones; a
  free connection takes it, and its latency runs from the due time to the end of the response, so
  waiting for a connection or in the server's queue counts (no coordinated omission). A request
  not answered `timeout` s after its due time is abandoned (`timeout`, the connection reopened).
- closed loop (no `rate`): each connection sends its next request when the previous one is
  answered; after a 503 it first waits what `Retry-After` says (capped), as a polite client does.

    python -m benchmarks.loadgen --plan plan.json --out result.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.api_stats import summarize

#: Longest wait after a 503 before a closed-loop client sends again, whatever Retry-After says.
RETRY_AFTER_CAP_S = 2.0
#: Connections opened at the same time while setting up (1,000 at once overflows accept queues).
OPEN_AT_ONCE = 100


class ConnectionClosed(Exception):
    """The server closed the connection before the whole response arrived."""


@dataclass
class Workload:
    """One stream of requests: what to send, to where, in which shape, for how long."""

    name: str
    path: str
    bodies: list[bytes]
    headers: dict[str, str]
    connections: int
    duration: float
    warmup: float
    rate: float | None = None
    timeout: float = 30.0
    method: str = "POST"
    samples: list[tuple[float, float, float, str]] = field(default_factory=list)
    late: list[float] = field(default_factory=list)  # open loop: enqueued after the due time

    @classmethod
    def from_plan(cls, item: dict[str, Any]) -> Workload:
        """A workload from one plan entry (request bodies given as strings, used in turn)."""
        bodies = [body.encode() for body in item["bodies"]] or [b""]
        return cls(
            name=item["name"],
            path=item["path"],
            bodies=bodies,
            headers=dict(item.get("headers", {})),
            connections=int(item["connections"]),
            duration=float(item["duration"]),
            warmup=float(item.get("warmup", 0.0)),
            rate=float(item["rate"]) if item.get("rate") else None,
            timeout=float(item.get("timeout", 30.0)),
            method=item.get("method", "POST"),
        )

    def requests(self, host: str, port: int) -> list[bytes]:
        """The raw bytes of each request, built once."""
        out = []
        for body in self.bodies:
            head = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}"]
            head += [f"{k}: {v}" for k, v in self.headers.items()]
            if body or self.method == "POST":
                head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
            out.append(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        return out


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams; reopened after any failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """Connect (if not connected)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        """Drop the connection; the next request opens a new one."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, raw: bytes) -> tuple[int, float | None]:
        """Send one request and read its whole response: (status, Retry-After seconds)."""
        await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        if len(raw) > 65536:
            await self.writer.drain()
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise ConnectionClosed from None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close, retry_after = 0, False, False, None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = "close" in value.lower()
            elif name == "retry-after":
                try:
                    retry_after = float(value)
                except ValueError:
                    retry_after = None
        try:
            if chunked:
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await self.reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await self.reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise ConnectionClosed from None
        if close:
            self.close()
        return status, retry_after


#: Every timestamp: uvloop's loop.time() has millisecond steps, too coarse for latencies.
clock = time.perf_counter


def _outcome(status: int) -> str:
    return "ok" if 200 <= status < 300 else f"http_{status}"


async def _attempt(connection: Connection, raw: bytes, deadline: float) -> tuple[str, float | None]:
    """One request answered by `deadline` (perf_counter) or abandoned: (outcome, Retry-After)."""
    remaining = deadline - clock()
    if remaining <= 0:
        return "timeout", None
    try:
        async with asyncio.timeout(remaining):
            status, retry_after = await connection.send(raw)
        return _outcome(status), retry_after
    except TimeoutError:
        connection.close()
        return "timeout", None
    except (OSError, ConnectionClosed, asyncio.LimitOverrunError, ValueError, IndexError) as error:
        connection.close()
        return type(error).__name__, None


async def _open_all(connections: list[Connection]) -> None:
    """Open every connection before the clock starts, a batch at a time (failures retry later)."""
    for start in range(0, len(connections), OPEN_AT_ONCE):
        batch = connections[start : start + OPEN_AT_ONCE]
        await asyncio.gather(*(c.open() for c in batch), return_exceptions=True)


async def open_loop(
    work: Workload, raws: list[bytes], start: float, pool: list[Connection]
) -> None:
    """Requests due every 1/rate s from `start` for warmup + duration s, on a connection pool."""
    assert work.rate is not None
    total = round((work.warmup + work.duration) * work.rate)
    due_times: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def worker(connection: Connection) -> None:
        while True:
            item = await due_times.get()
            if item is None:
                return
            i, due = item
            started = clock()
            outcome, _ = await _attempt(connection, raws[i % len(raws)], due + work.timeout)
            work.samples.append((due, started, clock(), outcome))

    workers = [asyncio.create_task(worker(c)) for c in pool]
    i = 0
    while i < total:
        now = clock()
        while i < total and start + i / work.rate <= now:
            due_times.put_nowait((i, start + i / work.rate))
            work.late.append(now - (start + i / work.rate))
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, start + i / work.rate - clock()))
    for _ in workers:
        due_times.put_nowait(None)
    await asyncio.gather(*workers)


async def closed_loop(
    work: Workload, raws: list[bytes], start: float, pool: list[Connection]
) -> None:
    """Each connection back to back (honouring Retry-After) until warmup + duration s passed."""
    end = start + work.warmup + work.duration

    async def client(k: int, connection: Connection) -> None:
        await asyncio.sleep(max(0.0, start - clock()))
        n = k
        while (now := clock()) < end:
            outcome, retry_after = await _attempt(
                connection, raws[n % len(raws)], now + work.timeout
            )
            work.samples.append((now, now, clock(), outcome))
            n += len(pool)
            if outcome == "http_503":
                await asyncio.sleep(min(retry_after or 0.1, RETRY_AFTER_CAP_S))

    await asyncio.gather(*(client(k, c) for k, c in enumerate(pool)))


async def run_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """Run every workload of `plan` side by side; their summaries and the process's CPU use."""
    host, port = plan["host"], int(plan["port"])
    works = [Workload.from_plan(item) for item in plan["workloads"]]
    pools = {w.name: [Connection(host, port) for _ in range(w.connections)] for w in works}
    for pool in pools.values():
        await _open_all(pool)
    start = clock() + 0.2
    cpu_before, wall_before = _cpu_seconds(), clock()
    runs = []
    for w in works:
        shape = open_loop if w.rate else closed_loop
        runs.append(shape(w, w.requests(host, port), start, pools[w.name]))
    await asyncio.gather(*runs)
    cpu, wall = _cpu_seconds() - cpu_before, clock() - wall_before
    for pool in pools.values():
        for connection in pool:
            connection.close()
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_share": cpu / wall if wall > 0 else 0.0,
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "workloads": {
            w.name: summarize(
                w.samples,
                window_start=start + w.warmup,
                window_end=start + w.warmup + w.duration,
                timeout=w.timeout,
                rate=w.rate,
                connections=w.connections,
                late=w.late,
            )
            for w in works
        },
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _raise_fd_limit() -> None:
    """Allow as many sockets as the hard limit (1,000 connections exceed a 1,024 soft limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    """Read the plan, run it (on uvloop if installed), write the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", required=True, type=Path, help="JSON plan of workloads")
    parser.add_argument("--out", required=True, type=Path, help="where to write the summary")
    args = parser.parse_args()
    _raise_fd_limit()
    plan = json.loads(args.plan.read_text())
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run_plan(plan))
    else:
        result = uvloop.run(run_plan(plan))
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
