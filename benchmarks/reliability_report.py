"""The results file of the reliability runs (benchmarks/results/reliability.md)."""

from __future__ import annotations

import datetime as dt
import platform
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks.api_setup import REPO, changed_files, git_commit
from benchmarks.machine import describe_machine
from benchmarks.reliability_fuzz import Fuzz
from benchmarks.reliability_kills import KillReport
from benchmarks.reliability_load import (
    MIX,
    MIXED_ROWS,
    REQUEST_TIMEOUT_S,
    RSS_EVERY_S,
    SHED,
    SLICE_S,
    MixedReport,
)
from benchmarks.reliability_store import Store

#: Acceptance bounds of issue 10.
MIN_SOAK_CYCLES = 50
RSS_GROWTH_BOUND = 0.20
VERSIONED = ("uvicorn", "fastapi", "starlette", "sqlalchemy", "pydantic", "httpx")


def _versions() -> str:
    found = []
    for package in VERSIONED:
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return (
        ", ".join(found) + f", SQLite {sqlite3.sqlite_version}, Python {platform.python_version()}"
    )


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _mark(ok: bool | None) -> str:
    return "–" if ok is None else "**met**" if ok else "**missed**"


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return "–" if value != value else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def render(
    *,
    command: str,
    started: dt.datetime,
    wall_s: float,
    load: tuple[float, float],
    store: Store,
    kills: KillReport,
    mixed: MixedReport | None,
    fuzz: Fuzz,
    cycles_asked: int,
    scratch: Path,
) -> str:
    """The results file (markdown); `scratch` is the run's folder (store/, logs/)."""
    code = f"git commit {git_commit()[:12]}"
    changed = changed_files() or []
    if changed:
        code += (
            "; the servers ran the working tree, which had uncommitted changes (work in "
            "progress in the same checkout) in " + ", ".join(f"`{f}`" for f in changed)
        )
    k = kills
    lost_total = len(k.lost) + (len(mixed.lost) if mixed else 0)
    fives = k.total("status_5xx") + (mixed.status_5xx if mixed else 0)
    out = [
        "# Reliability: kill -9 during actuals posts, and a soak under mixed load (issue 10)",
        "",
        f"Command: `{command}` (`make soak`, not part of `make test` or `make bench`); the run "
        f"took {wall_s / 60:.1f} minutes.",
        f"Date: {started:%Y-%m-%d}. Machine: {describe_machine()}. 1-minute load average at the "
        f"start {load[0]:.2f}, at the end {load[1]:.2f}.",
        f"Code: {code}. Versions: {_versions()}.",
        f"Model: the demo data of 2 stores ({len(store.series)} bottom series, 150 days to "
        f'{store.last_day}), `[model] horizon = 7, members = ["dynamic_theta", '
        f'"seasonal_naive"]`, trained in {store.train_s:.0f} s into a scratch MLflow store. '
        "Server: `anticipate serve --workers 1` on 127.0.0.1 with its two child processes "
        "(ledger writes, refits), settings as shipped (model polling off), a SQLite ledger of its "
        "own for each part. Clients run in the harness process on the same 2 cores.",
        "",
        "## Every figure next to its bound",
        "",
        "| figure | measured | bound | |",
        "|---|---:|---|---|",
    ]
    in_flight = k.total("failed_at_kill")
    out += [
        f"| kill -9 cycles of the whole server process group during actuals posts | "
        f"{len(k.cycles)} | ≥ {MIN_SOAK_CYCLES} | "
        f"{_mark(len(k.cycles) >= MIN_SOAK_CYCLES and len(k.cycles) == cycles_asked)} |",
        f"| cycles with acknowledged rows | {sum(1 for c in k.cycles if c.posts_acked)} of "
        f"{len(k.cycles)} | every cycle | "
        f"{_mark(all(c.posts_acked for c in k.cycles))} |",
        f"| acknowledged rows lost or stored with another value (kill cycles) | "
        f"{len(k.lost)} of {_n(k.keys_acked)} rows ({_n(k.total('rows_acked'))} acknowledged row "
        f"writes, {_n(k.total('revisions_acked'))} of them revisions) | 0 | "
        f"{_mark(not k.lost)} |",
        f"| `PRAGMA integrity_check` after every kill | "
        f"{sum(1 for c in k.cycles if c.integrity == 'ok')} of {len(k.cycles)} ok | ok | "
        f"{_mark(k.integrity_ok)} |",
        f"| posts failed by a connection error at the kill (expected: in flight) | "
        f"{in_flight} of {_n(k.total('posts'))} posts | reported | – |",
        f"| connection errors before a kill | {k.total('errors_before_kill')} | 0 | "
        f"{_mark(k.total('errors_before_kill') == 0)} |",
    ]
    if mixed is not None:
        m = mixed
        achieved = m.status_2xx / (m.seconds + m.warmup)
        out += [
            f"| mixed load: {m.seconds:.0f} s (+ {m.warmup:.0f} s warm-up) at {m.rate:g} req/s, "
            f"answered 2xx | {_n(m.status_2xx)} of {_n(m.requests)} ({achieved:.1f}/s) | "
            f"{m.rate:g} req/s for ≥ 300 s | "
            f"{_mark(m.seconds >= 300 and m.status_2xx == m.requests)} |",
            f"| acknowledged actuals rows lost (mixed load) | {len(m.lost)} of "
            f"{_n(m.rows_acked)} | 0 | {_mark(not m.lost)} |",
            f"| RSS of the process group: end vs after the warm-up | {mib(m.rss_end)} vs "
            f"{mib(m.rss_warm)} ({m.rss_growth:+.1%}) | within ±20 % | "
            f"{_mark(abs(m.rss_growth) <= RSS_GROWTH_BOUND)} |",
            f"| mixed load: 4xx, timeouts and connection errors | {m.status_4xx}, {m.failed} | "
            f"0 | {_mark(m.status_4xx + m.failed == 0)} |",
        ]
    shed = k.total("shed") + (mixed.shed if mixed else 0)
    share = f" ({mixed.shed / mixed.requests:.1%} of the mixed load)" if mixed else ""
    out += [
        f"| 5xx answers other than shedding (kill cycles + mixed load) | {fives} | 0 | "
        f"{_mark(fives == 0)} |",
        f"| 503 with Retry-After (admission control shedding; kill cycles + mixed load) | "
        f'{_n(shed)}{share} | reported apart; the issue\'s "0 5xx" read literally counts '
        f"them | {_mark(shed == 0)} |",
        f"| 4xx in the kill cycles | {k.total('status_4xx')} | 0 | "
        f"{_mark(k.total('status_4xx') == 0)} |",
    ]
    if fuzz.ran:
        out.append(
            f"| requests fuzzed (tests/serving/test_fuzz.py, schemathesis) | "
            f"{_n(fuzz.total)} cases, suite {'passed' if fuzz.passed else 'FAILED'} | "
            f"reported; no 500 | {_mark(fuzz.passed)} |"
        )
    else:
        out.append(
            f"| requests fuzzed (tests/serving/test_fuzz.py) | {fuzz.summary} | reported | – |"
        )
    out += [
        "",
        f"All acknowledged writes lost: {lost_total}. A row counts as lost when its stored value "
        "(read straight from the SQLite file, after the kill, before the next start) is neither "
        "the value of its last post answered 200 nor the value of a post of it that was in flight "
        "at the kill (sent, not answered: the server may or may not have committed it). Each "
        "writer owns its series, so posts of one row never overlap; the post a writer had in "
        "flight at a kill is sent again after the restart (posts of actuals are idempotent), as "
        "a client would.",
        "",
        "## Kill cycles",
        "",
        f"{len(k.cycles)} cycles in {k.wall_s:.0f} s: start `anticipate serve`, wait for `/ready`, "
        f"{k.writers} writer threads post actuals back to back (each post: the next 3 days of "
        "each of the writer's series, values random 0–500, and 0–2 revisions of rows the writer "
        "got acknowledged before, with new values), then `kill -9` of the process group 0.5–3 s "
        "after the posts started (later only if no post was answered yet), wait until no process "
        "of the group is left, read the ledger.",
        "",
        "| | total | per cycle: min | median | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, name in (
        ("start to `/ready` (s)", "ready_s"),
        ("kill after the posts started (s)", "kill_after_s"),
        ("posts sent (resent after a kill included)", "posts"),
        ("posts answered 200", "posts_acked"),
        ("rows in posts answered 200", "rows_acked"),
        ("revisions answered 200", "revisions_acked"),
        ("posts in flight at the kill (connection error)", "failed_at_kill"),
        ("kill to the whole group gone (s)", "gone_s"),
        ("rows in flight at the kill found stored", "in_flight_stored"),
        ("rows in flight at the kill not stored", "in_flight_not_stored"),
    ):
        values = sorted(getattr(c, name) for c in k.cycles) or [0]
        seconds = name.endswith("_s")
        total = "" if seconds else _n(sum(values))
        fmt = (lambda v: f"{v:.2f}") if seconds else _n
        out.append(
            f"| {label} | {total} | {fmt(values[0])} | {fmt(values[len(values) // 2])} | "
            f"{fmt(values[-1])} |"
        )
    if k.final_ready_s is not None:
        out += [
            "",
            f"After the last kill the server started once more on the ledger as that kill left "
            f"it: `/ready` 200 after {k.final_ready_s:.1f} s, then stopped.",
        ]
    if k.lost:
        out += ["", "Rows lost (first 20):", ""]
        for key, what in list(k.lost.items())[:20]:
            out.append(f"- {key[0]} {key[1]}: {what}")
    answers = [a for c in k.cycles for a in c.answers]
    if answers:
        out += ["", "Answers other than 200 and errors before a kill (first 10):", ""]
        out += [f"- `{a[:300]}`" for a in answers[:10]]
    if mixed is not None:
        out += _mixed_section(mixed)
    if fuzz.ran:
        out += [
            "",
            "## Fuzzing",
            "",
            f"`python -m pytest tests/serving/test_fuzz.py -q -rP` in {fuzz.seconds:.0f} s: "
            f"{fuzz.summary}; {_n(fuzz.total)} generated requests over {len(fuzz.cases)} "
            "operation runs (an admin key with the schema's own values, an admin key with the "
            "model's series ids, no key); the suite fails on any 5xx or an answer off the schema.",
        ]
    problems = k.log_problems + (mixed.log_problems if mixed else [])
    out += [
        "",
        "## Notes",
        "",
        "- The machine has 2 cores and other people ran tests on it during the run, so times "
        "(start-up, latencies) are noisy; the counts (lost rows, 5xx, integrity) are not.",
        "- Durability here is against the server's processes dying (`kill -9`), not the "
        "machine losing power: the ledger is SQLite in WAL mode with `synchronous=NORMAL`, "
        "where a committed transaction is in the WAL before the answer, which a process crash "
        "cannot undo (a power cut could lose the last transactions).",
        f"- Server log lines reporting a problem (Traceback, ERROR, CRITICAL, a 5xx access "
        f"line) over every server of the run: {len(problems)}"
        + (". First 10:" if problems else "."),
    ]
    out += [f"  - `{line[:300]}`" for line in problems[:10]]
    out += [
        f"- Scratch: {_relative(scratch)}/ (store/: the model and the ledgers; logs/: the log "
        "of every server).",
        "",
    ]
    return "\n".join(out)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _by_process(m: MixedReport) -> str:
    parts = []
    for name, (rss_end, cpu_end) in m.processes_end.items():
        rss_warm, cpu_warm = m.processes_warm.get(name, (0, cpu_end))
        share = (cpu_end - cpu_warm) / m.measured_s if m.measured_s > 0 else float("nan")
        parts.append(f"{name} {mib(rss_warm)} → {mib(rss_end)}, {share:.0%}")
    return "; ".join(parts)


def _mixed_section(m: MixedReport) -> list[str]:
    out = [
        "",
        "## Mixed load",
        "",
        f"One server (ready {m.ready_s:.1f} s after its start), open loop: request i due at "
        f"start + i / {m.rate:g} s for {m.warmup:.0f} s of warm-up + {m.seconds:.0f} s, each "
        f"drawn at random: 70 % `POST /v1/forecasts` (1–3 series of any level, horizon 7), 20 % "
        f"`POST /v1/actuals` ({MIXED_ROWS} rows: 4 series each on its next day after what was "
        "posted before, values random), 10 % `GET /v1/accuracy` (all, `?level=`, "
        f"`?unique_id=` in turn), on {m.connections} keep-alive connections. Latency runs from "
        "the due time to the end of the answer (waiting for a connection counts); a request not "
        f"answered {REQUEST_TIMEOUT_S:.0f} s after its due time is abandoned. The generator fell "
        f"behind its schedule by at most {1000 * m.late_max_s:.1f} ms.",
        "",
        "| requests | all | 2xx | 4xx | 5xx | 503 shed | no answer | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, _ in MIX:
        c = m.outcomes[kind]
        lat = m.latency_ms[kind]
        out.append(
            f"| {kind} | {_n(sum(c.values()))} | "
            f"{_n(sum(n for o, n in c.items() if o[:1] == '2'))} | "
            f"{_n(sum(n for o, n in c.items() if o[:1] == '4'))} | "
            f"{_n(sum(n for o, n in c.items() if o[:1] == '5' and o != SHED))} | "
            f"{_n(c.get(SHED, 0))} | {_n(sum(n for o, n in c.items() if not o[:1].isdigit()))} "
            f"| {_ms(lat['p50'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} |"
        )
    lat = m.latency_ms["all"]
    out += [
        f"| all | {_n(m.requests)} | {_n(m.status_2xx)} | {_n(m.status_4xx)} | "
        f"{_n(m.status_5xx)} | {_n(m.shed)} | {_n(m.failed)} | {_ms(lat['p50'])} | "
        f"{_ms(lat['p99'])} | {_ms(lat['max'])} |",
        "",
        "Counts are over the whole run, warm-up included; latencies over the measured window "
        f"(after the warm-up). Actuals: {_n(m.rows_acked)} rows answered 200, "
        f"{len(m.lost)} of them not stored as answered; `PRAGMA integrity_check`: "
        f"{m.integrity}. The server then stopped on SIGTERM in {m.stop_s:.1f} s.",
        "",
    ]
    if m.slices:
        out += [
            f"By {SLICE_S:.0f}-s slice of the due times (warm-up first):",
            "",
            "| s | " + " | ".join(f"{s['from_s']:.0f}–{s['to_s']:.0f}" for s in m.slices) + " |",
            "|---|" + "---:|" * len(m.slices),
            "| requests | " + " | ".join(_n(s["requests"]) for s in m.slices) + " |",
            "| 503 shed | " + " | ".join(_n(s["shed"]) for s in m.slices) + " |",
            "| other non-2xx | " + " | ".join(_n(s["failed"]) for s in m.slices) + " |",
            "| p99 ms | " + " | ".join(_ms(s["p99_ms"]) for s in m.slices) + " |",
            "",
        ]
    out += [
        "RSS (VmRSS summed over every process of the server's group) every "
        f"{RSS_EVERY_S * 6:.0f} s from the start of the load:",
        "",
    ]
    picked = [(t, r) for t, r in m.rss_samples if t >= -1][::6]
    out += [
        "| s | " + " | ".join(f"{max(t, 0):.0f}" for t, _ in picked) + " | end |",
        "|---|" + "---:|" * (len(picked) + 1),
        "| MiB | "
        + " | ".join(f"{r / 2**20:,.0f}" for _, r in picked)
        + f" | {m.rss_end / 2**20:,.0f} |",
        "",
        "By process, RSS after the warm-up → at the end, and CPU over the measured "
        f"{m.measured_s:.0f} s (100 % = one core): " + _by_process(m) + ".",
    ]
    if m.lost:
        out += ["", "Rows lost (first 20):", ""]
        out += [f"- {row}" for row in m.lost[:20]]
    return out
