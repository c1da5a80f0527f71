"""Crash durability and a soak of `anticipate serve` (issue 10); `make soak` runs `main()`.

- `kill_cycles`: N times, start a real server on a small trained model, let several writer
  clients post actuals (new rows on dates after the history, and revisions of rows already
  acknowledged), `kill -9` the server's whole process group at a random moment, then read the
  SQLite ledger directly: every row whose post was answered 200 must be stored with the value
  acknowledged last (or with the value of a post of it that was in flight at the kill), and
  `PRAGMA integrity_check` must say ok. A post that was not answered is sent again after the
  restart, as a client does (a post of actuals is idempotent).
- `mixed_load`: one server, open-loop load of forecasts, actuals posts and accuracy reads at a
  fixed rate; statuses, latencies, RSS of the process group after the warm-up and at the end,
  and every acknowledged actuals row checked in the ledger afterwards.
- `fuzz_cases`: the figures the API fuzz suite (tests/serving/test_fuzz.py) prints.

The parts live in reliability_store.py (store, ledgers, process groups), reliability_kills.py,
reliability_load.py and reliability_report.py (the results file); this module runs them.

    python -m benchmarks.reliability --cycles 50 --load-seconds 300 --rate 100

writes benchmarks/results/reliability.md; scratch (store, ledgers, server logs) in
benchmarks/.work/reliability/ (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path

from benchmarks.reliability_fuzz import Fuzz, fuzz_cases
from benchmarks.reliability_kills import Cycle, KillReport, kill_cycles
from benchmarks.reliability_load import MixedReport, mixed_load
from benchmarks.reliability_report import mib, render
from benchmarks.reliability_store import ROOT, WORK, Store, prepare_store, say

__all__ = [
    "Cycle",
    "Fuzz",
    "KillReport",
    "MixedReport",
    "Store",
    "fuzz_cases",
    "kill_cycles",
    "main",
    "mixed_load",
    "prepare_store",
]

RESULTS = ROOT / "results" / "reliability.md"
#: Writer threads of the kill cycles.
WRITERS = 4


def main() -> None:
    """`make soak`: kill cycles, mixed load, fuzz figures; writes the results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=50, help="kill -9 cycles")
    parser.add_argument("--load-seconds", type=float, default=300.0, help="mixed-load seconds")
    parser.add_argument("--warmup", type=float, default=20.0, help="mixed-load warm-up seconds")
    parser.add_argument("--rate", type=float, default=100.0, help="mixed-load requests per second")
    parser.add_argument("--connections", type=int, default=80, help="mixed-load connections")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-fuzz", action="store_true", help="skip the fuzz suite")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    parser.add_argument("--work", type=Path, default=WORK, help="scratch folder")
    args = parser.parse_args()
    started_at = dt.datetime.now()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    for old in args.work.glob("run-*"):
        shutil.rmtree(old, ignore_errors=True)
    run = args.work / f"run-{started_at:%Y%m%d-%H%M%S}"
    say(f"training the small model in {run}")
    store = prepare_store(run / "store")
    say(f"trained in {store.train_s:.0f} s; {args.cycles} kill cycles")
    kills = kill_cycles(store, args.cycles, logs=run / "logs", writers=WRITERS, seed=args.seed)
    mixed = mixed_load(
        store,
        logs=run / "logs",
        seconds=args.load_seconds,
        warmup=args.warmup,
        rate=args.rate,
        connections=args.connections,
        seed=args.seed + 1,
    )
    say(
        f"mixed load: {mixed.requests} requests, 2xx {mixed.status_2xx}, 5xx {mixed.status_5xx}, "
        f"shed {mixed.shed}, no answer {mixed.failed}; RSS {mib(mixed.rss_warm)} -> "
        f"{mib(mixed.rss_end)} ({mixed.rss_growth:+.1%}); lost {len(mixed.lost)}"
    )
    fuzz = Fuzz(ran=False, summary="not run (--no-fuzz)")
    if not args.no_fuzz:
        say("fuzz suite")
        fuzz = fuzz_cases()
        say(f"fuzz: {fuzz.summary}, total {fuzz.total}")
    command = "python -m benchmarks.reliability " + " ".join(sys.argv[1:])
    text = render(
        command=command.strip(),
        started=started_at,
        wall_s=time.perf_counter() - started,
        load=(load_before, os.getloadavg()[0]),
        store=store,
        kills=kills,
        mixed=mixed,
        fuzz=fuzz,
        cycles_asked=args.cycles,
        scratch=run,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
