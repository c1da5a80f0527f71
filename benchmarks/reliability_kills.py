"""Crash durability: kill -9 of a real server while writers post actuals, N times.

Every row whose post was answered 200 must be in the SQLite ledger after the kill with the
value acknowledged last (or the value of a post of it that was in flight at the kill), and
the ledger must pass `PRAGMA integrity_check`.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.api_servers import Server
from benchmarks.reliability_store import (
    Key,
    Log,
    Store,
    kill_group,
    log_problems,
    new_ledger,
    read_actuals,
    say,
    start_server,
    wait_group_gone,
)

#: Writers wait this long for an answer (a post can wait behind a refit on a busy machine).
POST_TIMEOUT_S = 60.0
#: If no post was acknowledged by the random kill moment, wait at most this long for one.
FIRST_ACK_LIMIT_S = 60.0


@dataclass
class Book:
    """What every writer was told about every row, across cycles.

    `acked[key]`: the value of the last post of the key answered 200. `unsure[key]`: values
    of posts of it sent after that and not answered 200 (in flight at a kill); one of them may
    be stored. Each writer owns its series, so posts of one key never overlap.
    """

    series: list[str]
    last_day: dt.date
    writers: int
    dates_per_post: int = 3
    acked: dict[Key, float] = field(default_factory=dict)
    unsure: dict[Key, set[float]] = field(default_factory=dict)
    next_day: dict[str, int] = field(default_factory=dict)
    pending: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    lost: dict[Key, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def owned(self, writer: int) -> list[str]:
        return self.series[writer :: self.writers]

    def batch(self, writer: int, rng: random.Random) -> tuple[list[dict[str, Any]], int]:
        """New rows (the next days of the writer's series) plus 0-2 revisions; (rows, revised)."""
        rows, keys = [], set()
        with self.lock:
            for uid in self.owned(writer):
                first = self.next_day.get(uid, 1)
                for k in range(first, first + self.dates_per_post):
                    ds = (self.last_day + dt.timedelta(days=k)).isoformat()
                    rows.append({"unique_id": uid, "ds": ds, "y": rng.randint(0, 500)})
                    keys.add((uid, ds))
                self.next_day[uid] = first + self.dates_per_post
            mine = set(self.owned(writer))
            candidates = [k for k in self.acked if k[0] in mine and k not in keys]
        revised = 0
        for uid, ds in rng.sample(candidates, min(len(candidates), rng.choice((0, 0, 1, 2)))):
            value = (int(self.acked[(uid, ds)]) + rng.randint(1, 500)) % 501  # a new value
            rows.append({"unique_id": uid, "ds": ds, "y": value})
            revised += 1
        return rows, revised

    def sending(self, rows: list[dict[str, Any]]) -> None:
        with self.lock:
            for row in rows:
                self.unsure.setdefault((row["unique_id"], row["ds"]), set()).add(float(row["y"]))

    def answered(self, rows: list[dict[str, Any]]) -> None:
        """The post of `rows` was answered 200: they are stored (a later post wins over them)."""
        with self.lock:
            for row in rows:
                key = (row["unique_id"], row["ds"])
                self.acked[key] = float(row["y"])
                self.unsure.pop(key, None)

    def check(self, stored: dict[Key, float], cycle: int) -> tuple[int, int, int]:
        """Acknowledged rows not stored as acknowledged (new ones recorded in `lost`), and of
        the rows in flight without an acknowledged value, how many were / were not stored."""
        lost = 0
        for key, value in self.acked.items():
            found = stored.get(key)
            if found == value or found in self.unsure.get(key, ()):
                continue
            lost += 1
            self.lost.setdefault(
                key, {"cycle": cycle, "acknowledged": value, "stored": found, "in_flight": None}
            )
            self.lost[key]["in_flight"] = sorted(self.unsure.get(key, ()))
        in_flight = [k for k in self.unsure if k not in self.acked]
        kept = sum(1 for k in in_flight if stored.get(k) in self.unsure[k])
        return lost, kept, len(in_flight) - kept


@dataclass
class Cycle:
    """One kill cycle's figures."""

    cycle: int
    ready_s: float
    kill_after_s: float
    posts: int = 0
    posts_acked: int = 0
    rows_acked: int = 0
    revisions_acked: int = 0
    resent: int = 0
    failed_at_kill: int = 0
    errors_before_kill: int = 0
    status_5xx: int = 0
    shed: int = 0
    status_4xx: int = 0
    gone_s: float = 0.0
    keys_acked_total: int = 0
    lost: int = 0
    in_flight_stored: int = 0
    in_flight_not_stored: int = 0
    integrity: str = ""
    answers: list[str] = field(default_factory=list)


@dataclass
class KillReport:
    """Every cycle, the rows lost (if any), and the server logs' problem lines."""

    cycles: list[Cycle]
    lost: dict[Key, dict[str, Any]]
    keys_acked: int
    final_ready_s: float | None
    log_problems: list[str]
    wall_s: float
    writers: int

    def total(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.cycles)

    @property
    def integrity_ok(self) -> bool:
        return bool(self.cycles) and all(c.integrity == "ok" for c in self.cycles)


class _Tally:
    """Counters the writer threads of one cycle share."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.first_ack = threading.Event()
        self.answers: list[str] = []

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n


def _writer(
    number: int,
    base: str,
    key: str,
    book: Book,
    tally: _Tally,
    killed: threading.Event,
    seed: int,
) -> None:
    """Post actuals back to back until the server dies; the unanswered post stays pending."""
    rng = random.Random(seed)
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=base, timeout=POST_TIMEOUT_S, headers=headers) as http:
        while True:
            rows = book.pending.pop(number, None)
            revised = 0
            if rows is not None:
                tally.add("resent")
            else:
                rows, revised = book.batch(number, rng)
            book.sending(rows)
            tally.add("posts")
            try:
                answer = http.post("/v1/actuals", json={"rows": rows})
            except httpx.TransportError as error:
                book.pending[number] = rows
                if killed.is_set():
                    tally.add("failed_at_kill")
                    return
                tally.add("errors_before_kill")
                with tally.lock:
                    tally.answers.append(f"before the kill: {type(error).__name__}: {error}")
                time.sleep(0.5)
                continue
            if answer.status_code == 200:
                book.answered(rows)
                tally.add("posts_acked")
                tally.add("rows_acked", len(rows))
                tally.add("revisions_acked", revised)
                tally.first_ack.set()
                continue
            book.pending[number] = rows
            status = answer.status_code
            shed = status == 503 and "retry-after" in answer.headers
            tally.add("shed" if shed else "status_5xx" if status >= 500 else "status_4xx")
            with tally.lock:
                tally.answers.append(f"{status} {answer.headers} {answer.text[:500]}")
            if status < 500:  # our body is wrong: sending it again would not help
                book.pending.pop(number, None)
            time.sleep(float(answer.headers.get("retry-after", "0.2")))
            if killed.is_set():
                return


def kill_cycles(
    store: Store,
    n: int,
    *,
    logs: Path,
    writers: int = 4,
    seed: int = 0,
    kill_window: tuple[float, float] = (0.5, 3.0),
    final_restart: bool = True,
    log: Log = say,
) -> KillReport:
    """`n` times: serve, post actuals from `writers` threads, kill -9 the group, check the ledger.

    The kill comes a random `kill_window` seconds after the posts start (if no post was
    answered by then: a moment after the first answer, so every cycle has acknowledged rows).
    With `final_restart` the server is started once more after the last kill (it must get
    ready on the ledger as the last kill left it) and stopped.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    ledger = new_ledger(store, "kill", ("writer",))
    book = Book(store.series, store.last_day, writers)
    cycles: list[Cycle] = []
    problems: list[str] = []
    final_ready = None
    server: Server | None = None
    try:
        for number in range(1, n + 1):
            server = start_server(ledger, f"kill-{number:02d}", logs)
            tally, killed = _Tally(), threading.Event()
            threads = [
                threading.Thread(
                    target=_writer,
                    args=(w, server.base, ledger.keys["writer"], book, tally, killed),
                    kwargs={"seed": seed * 1000 + number * 10 + w},
                    daemon=True,
                )
                for w in range(writers)
            ]
            posting = time.perf_counter()
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(*kill_window))
            if not tally.first_ack.is_set():
                tally.first_ack.wait(FIRST_ACK_LIMIT_S)
                time.sleep(rng.uniform(0.0, 0.3))
            server.check_alive(f"kill cycle {number}")
            ready = server.ready_s
            killed.set()
            kill_after = time.perf_counter() - posting
            gone = kill_group(server)
            for thread in threads:
                thread.join(POST_TIMEOUT_S + 5)
            problems += [f"{server.log.name}: {line}" for line in log_problems(server.log)]
            server = None
            stored, integrity = read_actuals(ledger.path)
            lost, kept, not_kept = book.check(stored, number)
            counts = tally.counts
            cycle = Cycle(
                cycle=number,
                ready_s=ready,
                kill_after_s=kill_after,
                gone_s=gone,
                keys_acked_total=len(book.acked),
                lost=lost,
                in_flight_stored=kept,
                in_flight_not_stored=not_kept,
                integrity=integrity,
                answers=tally.answers[:5],
                **{k: counts[k] for k in _COUNTED},
            )
            cycles.append(cycle)
            log(_cycle_line(cycle))
        if final_restart:
            server = start_server(ledger, "kill-final", logs)
            final_ready = server.ready_s
            server.stop()
            wait_group_gone(server.process.pid)
            problems += [f"{server.log.name}: {line}" for line in log_problems(server.log)]
            server = None
    finally:
        if server is not None:
            kill_group(server)
    return KillReport(
        cycles=cycles,
        lost=book.lost,
        keys_acked=len(book.acked),
        final_ready_s=final_ready,
        log_problems=problems,
        wall_s=time.perf_counter() - started,
        writers=writers,
    )


_COUNTED = (
    "posts",
    "posts_acked",
    "rows_acked",
    "revisions_acked",
    "resent",
    "failed_at_kill",
    "errors_before_kill",
    "status_5xx",
    "shed",
    "status_4xx",
)


def _cycle_line(c: Cycle) -> str:
    return (
        f"kill cycle {c.cycle}: ready {c.ready_s:.1f} s, killed {c.kill_after_s:.2f} s after "
        f"the posts started; posts {c.posts} (acknowledged {c.posts_acked}, {c.rows_acked} rows, "
        f"{c.revisions_acked} revisions; resent {c.resent}), failed at the kill "
        f"{c.failed_at_kill}, before it {c.errors_before_kill}, 5xx {c.status_5xx}, shed "
        f"{c.shed}, 4xx {c.status_4xx}; group gone in {c.gone_s:.2f} s; rows acknowledged so "
        f"far {c.keys_acked_total}, lost {c.lost}; in flight stored {c.in_flight_stored}, not "
        f"{c.in_flight_not_stored}; integrity {c.integrity}"
    )
