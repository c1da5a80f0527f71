"""Soak: one server under open-loop mixed load (forecasts, actuals posts, accuracy reads).

Statuses and latencies by kind, RSS of the process group after the warm-up and at the end,
and every actuals row answered 200 looked up in the ledger afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from benchmarks.api_stats import percentile
from benchmarks.loadgen import Connection, ConnectionClosed
from benchmarks.reliability_store import (
    Key,
    Log,
    Store,
    group_rss,
    group_stats,
    kill_group,
    log_problems,
    new_ledger,
    read_actuals,
    say,
    start_server,
    wait_group_gone,
)

#: Shares of the mixed load: forecasts, actuals posts, accuracy reads.
MIX = (("forecast", 0.7), ("actuals", 0.2), ("accuracy", 0.1))
#: Series (each on its next day) in one actuals post of the mixed load.
MIXED_ROWS = 4
#: An open-loop request not answered this long after its due time is abandoned (`timeout`).
REQUEST_TIMEOUT_S = 30.0
#: A connection idle this long is reopened before its next request: the server closes kept-alive
#: connections after 5 s (anticipate.cli.serve.KEEP_ALIVE_SECONDS), and a request sent as it
#: does would find the connection closed.
REOPEN_IDLE_S = 4.0
#: The group's RSS is sampled this often during the mixed load.
RSS_EVERY_S = 5.0
#: The results show the mixed load by slices of this many seconds.
SLICE_S = 30.0


@dataclass
class MixedReport:
    """The mixed load's figures: outcomes and latencies by kind, RSS, actuals checked."""

    seconds: float
    warmup: float
    rate: float
    connections: int
    ready_s: float
    outcomes: dict[str, Counter[str]]
    latency_ms: dict[str, dict[str, float]]
    rss_warm: int
    rss_end: int
    rss_samples: list[tuple[float, int]]
    processes_warm: dict[str, tuple[int, float]]  # RSS bytes, CPU seconds so far
    processes_end: dict[str, tuple[int, float]]
    measured_s: float  # from the warm-up's end to the end: CPU shares are over this time
    rows_acked: int
    lost: list[dict[str, Any]]
    integrity: str
    late_max_s: float
    stop_s: float
    log_problems: list[str]
    wall_s: float
    slices: list[dict[str, Any]] = field(default_factory=list)

    def count(self, test: Callable[[str], bool]) -> int:
        return sum(n for c in self.outcomes.values() for o, n in c.items() if test(o))

    @property
    def requests(self) -> int:
        return self.count(lambda o: True)

    @property
    def status_5xx(self) -> int:
        return self.count(lambda o: o[:1] == "5" and o != SHED)

    @property
    def shed(self) -> int:
        return self.count(lambda o: o == SHED)

    @property
    def status_2xx(self) -> int:
        return self.count(lambda o: o[:1] == "2")

    @property
    def status_4xx(self) -> int:
        return self.count(lambda o: o[:1] == "4")

    @property
    def failed(self) -> int:
        """Requests without an answer: timeouts, connection errors."""
        return self.count(lambda o: not o[:1].isdigit())

    @property
    def rss_growth(self) -> float:
        return self.rss_end / self.rss_warm - 1 if self.rss_warm else float("nan")


#: The outcome of a 503 answered with Retry-After (admission control shedding load).
SHED = "503 shed"


def _raw(method: str, path: str, port: int, key: str, body: bytes = b"") -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"X-API-Key: {key}"]
    if method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _MixedClient:
    """Builds each request of the mixed load when it is due, and records what came back."""

    def __init__(
        self,
        port: int,
        keys: dict[str, str],
        store: Store,
        ids: list[str],
        levels: list[str],
        seed: int,
    ) -> None:
        self.port, self.keys = port, keys
        self.rng = random.Random(seed)
        self.store, self.ids, self.levels = store, ids, levels
        self.next_day = dict.fromkeys(store.series, 1)
        self.turn = 0
        self.reads = 0
        self.acked: dict[Key, float] = {}
        self.used: dict[int, float] = {}  # id(connection) -> when its last answer came
        self.samples: list[tuple[str, float, float, str]] = []  # kind, due, ended, outcome

    def request(self, kind: str) -> tuple[bytes, list[dict[str, Any]]]:
        """The raw request of `kind` and, for actuals, the rows it posts."""
        if kind == "forecast":
            chosen = self.rng.sample(self.ids, self.rng.choice((1, 1, 1, 2, 3)))
            body = json.dumps({"unique_ids": chosen, "horizon": 7}).encode()
            return _raw("POST", "/v1/forecasts", self.port, self.keys["viewer"], body), []
        if kind == "accuracy":
            self.reads += 1
            path = "/v1/accuracy"
            if self.reads % 3 == 1:
                path += "?level=" + quote(self.rng.choice(self.levels))
            elif self.reads % 3 == 2:
                path += "?unique_id=" + quote(self.rng.choice(self.ids))
            return _raw("GET", path, self.port, self.keys["viewer"]), []
        rows = []
        series = self.store.series
        for k in range(MIXED_ROWS):
            uid = series[(self.turn + k) % len(series)]
            day = self.store.last_day + dt.timedelta(days=self.next_day[uid])
            self.next_day[uid] += 1
            rows.append({"unique_id": uid, "ds": day.isoformat(), "y": self.rng.randint(0, 500)})
        self.turn += MIXED_ROWS
        body = json.dumps({"rows": rows}).encode()
        return _raw("POST", "/v1/actuals", self.port, self.keys["writer"], body), rows

    async def send(self, connection: Connection, kind: str, due: float) -> None:
        raw, rows = self.request(kind)
        if time.perf_counter() - self.used.get(id(connection), 0.0) > REOPEN_IDLE_S:
            connection.close()  # the server may be closing it (keep-alive): a fresh one
        remaining = due + REQUEST_TIMEOUT_S - time.perf_counter()
        try:
            async with asyncio.timeout(max(remaining, 0.001)):
                status, retry_after = await connection.send(raw)
            outcome = SHED if status == 503 and retry_after is not None else str(status)
        except TimeoutError:
            connection.close()
            outcome = "timeout"
        except (OSError, ConnectionClosed, asyncio.LimitOverrunError, ValueError) as error:
            connection.close()
            outcome = type(error).__name__
        if outcome == "200" and rows:
            for row in rows:
                self.acked[(row["unique_id"], row["ds"])] = float(row["y"])
        self.used[id(connection)] = time.perf_counter()
        self.samples.append((kind, due, time.perf_counter(), outcome))


async def _mixed_run(
    client: _MixedClient, pgid: int, *, seconds: float, warmup: float, rate: float, connections: int
) -> dict[str, Any]:
    """The open loop: request i due at start + i / rate, its kind drawn from MIX."""
    pool = [Connection("127.0.0.1", client.port) for _ in range(connections)]
    rng = random.Random(client.rng.random())
    total = round((warmup + seconds) * rate)
    kinds = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=total)
    start = time.perf_counter() + 0.2
    queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
    rss: list[tuple[float, int]] = []
    late = 0.0
    warm: dict[str, tuple[int, float]] = {}
    warm_at = 0.0

    async def worker(connection: Connection) -> None:
        while (item := await queue.get()) is not None:
            await client.send(connection, *item)

    async def sampler() -> None:
        nonlocal warm, warm_at
        while True:
            now = time.perf_counter() - start
            rss.append((now, sum(group_rss(pgid).values())))
            if not warm and now >= warmup:
                warm, warm_at = group_stats(pgid), time.perf_counter()
            await asyncio.sleep(RSS_EVERY_S - (now % RSS_EVERY_S) + 0.001)

    workers = [asyncio.create_task(worker(c)) for c in pool]
    sampling = asyncio.create_task(sampler())
    i = 0
    while i < total:
        now = time.perf_counter()
        while i < total and start + i / rate <= now:
            queue.put_nowait((kinds[i], start + i / rate))
            late = max(late, now - (start + i / rate))
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    sampling.cancel()
    for connection in pool:
        connection.close()
    return {"start": start, "rss": rss, "late": late, "warm": warm, "warm_at": warm_at}


def mixed_load(
    store: Store,
    *,
    logs: Path,
    seconds: float = 300.0,
    warmup: float = 20.0,
    rate: float = 100.0,
    connections: int = 80,
    seed: int = 1,
    log: Log = say,
) -> MixedReport:
    """One server under open-loop mixed load for warmup + `seconds` s (see MIX), then stopped.

    RSS of the process group: the sample at the end of the warm-up and one when the last
    answer arrived. Every actuals row answered 200 is then looked up in the ledger.
    """
    started = time.perf_counter()
    ledger = new_ledger(store, "mixed", ("viewer", "writer"))
    server = start_server(ledger, "mixed", logs)
    try:
        with httpx.Client(base_url=server.base, timeout=60) as http:
            headers = {"X-API-Key": ledger.keys["viewer"]}
            items = http.get("/v1/series", params={"limit": 1000}, headers=headers).json()["items"]
        ids = [item["unique_id"] for item in items]
        levels = sorted({item["level"] for item in items})
        client = _MixedClient(server.port, ledger.keys, store, ids, levels, seed)
        log(
            f"mixed load: {warmup:.0f} s warm-up + {seconds:.0f} s at {rate:g} req/s on "
            f"{connections} connections, {len(ids)} series"
        )
        try:
            import uvloop
        except ImportError:
            run = asyncio.run
        else:
            run = uvloop.run
        kw = {"seconds": seconds, "warmup": warmup, "rate": rate, "connections": connections}
        timeline = run(_mixed_run(client, server.process.pid, **kw))
        server.check_alive("the mixed load")
        rss_end = sum(group_rss(server.process.pid).values())
        processes_end = group_stats(server.process.pid)
        measured_s = time.perf_counter() - timeline["warm_at"]
        stored, integrity = read_actuals(ledger.path)
        stopping = time.perf_counter()
        server.stop()
        wait_group_gone(server.process.pid)
        stop_s = time.perf_counter() - stopping
    except BaseException:
        kill_group(server)
        raise
    window = timeline["start"] + warmup
    outcomes: dict[str, Counter[str]] = {kind: Counter() for kind, _ in MIX}
    latency: dict[str, list[float]] = {kind: [] for kind, _ in MIX}
    for kind, due, ended, outcome in client.samples:
        outcomes[kind][outcome] += 1
        if due >= window:
            latency[kind].append(1000 * (ended - due))
    latency["all"] = [ms for kind, _ in MIX for ms in latency[kind]]
    slices = _slices(client.samples, timeline["start"], warmup + seconds)
    rss_warm = next((r for t, r in timeline["rss"] if t >= warmup), timeline["rss"][-1][1])
    lost = [
        {"unique_id": key[0], "ds": key[1], "acknowledged": value, "stored": stored.get(key)}
        for key, value in client.acked.items()
        if stored.get(key) != value
    ]
    return MixedReport(
        seconds=seconds,
        warmup=warmup,
        rate=rate,
        connections=connections,
        ready_s=server.ready_s,
        outcomes=outcomes,
        latency_ms={
            kind: {
                "p50": percentile(ms, 50),
                "p99": percentile(ms, 99),
                "max": max(ms, default=float("nan")),
                "n": len(ms),
            }
            for kind, ms in latency.items()
        },
        rss_warm=rss_warm,
        rss_end=rss_end,
        rss_samples=timeline["rss"],
        processes_warm=timeline["warm"],
        processes_end=processes_end,
        measured_s=measured_s,
        rows_acked=len(client.acked),
        lost=lost,
        integrity=integrity,
        late_max_s=timeline["late"],
        stop_s=stop_s,
        log_problems=log_problems(server.log),
        wall_s=time.perf_counter() - started,
        slices=slices,
    )


def _slices(
    samples: list[tuple[str, float, float, str]], start: float, length: float
) -> list[dict[str, Any]]:
    """Requests by SLICE_S-second slice of their due time: count, shed, other non-2xx, p99."""
    out = []
    edges = [start + k * SLICE_S for k in range(int(length // SLICE_S) + 1)]
    if edges[-1] < start + length:
        edges.append(start + length)
    for low, high in itertools.pairwise(edges):
        part = [s for s in samples if low <= s[1] < high]
        out.append(
            {
                "from_s": low - start,
                "to_s": high - start,
                "requests": len(part),
                "shed": sum(1 for s in part if s[3] == SHED),
                "failed": sum(1 for s in part if s[3][:1] != "2" and s[3] != SHED),
                "p99_ms": percentile([1000 * (s[2] - s[1]) for s in part], 99),
            }
        )
    return out
