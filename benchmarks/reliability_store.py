"""Reliability runs (benchmarks/reliability.py): the small trained store, its ledgers, and
the server process groups: start, kill -9, wait until gone, RSS, and the ledger read directly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.api_servers import Server, group_stat_fields, ours_command, start
from benchmarks.api_setup import BIN
from serving.write_process import WRITER_NICENESS  # light; serving.refit_process is not

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".work" / "reliability"
CONFIG = """
[model]
horizon = 7
members = ["dynamic_theta", "seasonal_naive"]
"""
#: How long a killed process group may take to be gone before the harness gives up.
GONE_LIMIT_S = 30.0

Key = tuple[str, str]  # (unique_id, ds as YYYY-MM-DD)
Log = Callable[[str], None]


def say(line: str) -> None:
    """Print a progress line at once."""
    print(line, flush=True)


@dataclass
class Store:
    """A small trained model in `root`: the environment to serve it, its bottom series, and
    the last day of its history (actuals are posted on the days after it)."""

    root: Path
    env: dict[str, str]
    series: list[str]
    last_day: dt.date
    train_s: float = 0.0


def cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    """`anticipate ...` with `env`; its stdout (RuntimeError with the output if it fails)."""
    done = subprocess.run(
        [str(BIN / "anticipate"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"anticipate {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare_store(root: Path, seed: int = 21) -> Store:
    """Demo sales of 2 stores (10 series, 150 days), built and trained into `root` (a new or
    empty folder: a champion already there would be re-scored against the new one)."""
    from features.demand import build_demand_dataset
    from features.ingest import sales_from_frames
    from features.storage import write_demand_dataset, write_trend_dataset
    from features.synthetic import make_demo_sales
    from features.trend import build_trend_dataset

    started = time.perf_counter()
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} is not empty; the store is trained into a new folder")
    root.mkdir(parents=True, exist_ok=True)
    demo = make_demo_sales(seed=seed, n_stores=2, n_bakery_items=4, n_web_items=2, n_days=150)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    write_demand_dataset(demand, root / "datasets")
    write_trend_dataset(build_trend_dataset(demand), root / "datasets")
    (root / "train.toml").write_text(CONFIG)
    env = dict(os.environ)
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        ANTICIPATE_MLFLOW_ARTIFACT_ROOT=str(root / "mlruns"),
        ANTICIPATE_DATA_DIR=str(root / "datasets"),
        ANTICIPATE_DATABASE_URL=f"sqlite:///{root / 'train.db'}",
        ANTICIPATE_SNAPSHOT_DIR=str(root / "train-snapshots"),
        ANTICIPATE_MODEL_POLL_SECONDS="0",
        ANTICIPATE_N_JOBS="1",
    )
    cli(env, root, "train", "--config", str(root / "train.toml"), "--data", str(root / "datasets"))
    panel = demand.panel
    last = panel.groupby("unique_id")["ds"].max()
    return Store(
        root=root,
        env=env,
        series=sorted(panel["unique_id"].unique().tolist()),
        last_day=last.max().date(),
        train_s=time.perf_counter() - started,
    )


@dataclass
class Ledger:
    """One SQLite ledger of a store, with its own snapshots, environment and keys."""

    path: Path
    env: dict[str, str]
    keys: dict[str, str]


def new_ledger(store: Store, name: str, roles: tuple[str, ...]) -> Ledger:
    """A fresh ledger `name`.db next to the store, and a key of each of `roles` in it."""
    path = store.root / f"{name}.db"
    for stale in store.root.glob(f"{name}.db*"):
        stale.unlink()
    env = dict(store.env)
    env.update(
        ANTICIPATE_DATABASE_URL=f"sqlite:///{path}",
        ANTICIPATE_SNAPSHOT_DIR=str(store.root / f"{name}-snapshots"),
    )
    shutil.rmtree(store.root / f"{name}-snapshots", ignore_errors=True)
    keys = {
        role: cli(env, store.root, "keys", "create", "--role", role, "--quiet").strip()
        for role in roles
    }
    return Ledger(path, env, keys)


def _group_processes(pgid: int) -> dict[int, str]:
    """Live (not zombie) processes of process group `pgid`: pid -> state."""
    return {
        pid: fields[0]
        for pid, fields in group_stat_fields(pgid).items()
        if fields[0] not in ("Z", "X")
    }


def group_rss(pgid: int) -> dict[int, int]:
    """VmRSS in bytes of every live process of group `pgid`."""
    out = {}
    for pid in _group_processes(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[pid] = int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return out


def group_stats(pgid: int) -> dict[str, tuple[int, float]]:
    """(RSS bytes, CPU seconds so far) of each live process of group `pgid`, by role: the
    server, its write and refit processes (told apart by their niceness), the resource tracker."""
    roles = {WRITER_NICENESS: "write process"}  # the other spawned child refits
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[int, float]] = {}
    for pid, rss in group_rss(pgid).items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if pid == pgid:
            name = "server"
        elif "resource_tracker" in command:
            name = "resource tracker"
        else:
            name = roles.get(int(fields[16]), "refit process")
        while name in out:
            name += "'"
        out[name] = (rss, (int(fields[11]) + int(fields[12])) / tick)
    return out


def kill_group(server: Server) -> float:
    """SIGKILL the server's whole process group; seconds until no process of it is left.

    Raises RuntimeError if one survives `GONE_LIMIT_S` (SIGKILL is sent again meanwhile).
    """
    pgid = server.process.pid
    started = time.perf_counter()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    server.process.wait()
    return wait_group_gone(pgid, started)


def wait_group_gone(pgid: int, started: float | None = None) -> float:
    """Wait until group `pgid` has no live process (SIGKILL again every second)."""
    started = time.perf_counter() if started is None else started
    last_kill = time.perf_counter()
    while _group_processes(pgid):
        now = time.perf_counter()
        if now - started > GONE_LIMIT_S:
            raise RuntimeError(f"processes of group {pgid} survived: {_group_processes(pgid)}")
        if now - last_kill > 1.0:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            last_kill = now
        time.sleep(0.02)
    return time.perf_counter() - started


def start_server(ledger: Ledger, name: str, logs: Path) -> Server:
    """`anticipate serve --workers 1` on a free port with `ledger`, once /ready answers 200."""
    return start(name, ours_command(), ledger.env, "/ready", logs)


def read_actuals(path: Path) -> tuple[dict[Key, float], str]:
    """Every stored actual of the ledger file and the answer of PRAGMA integrity_check."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        integrity = "; ".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
        stored = {
            (uid, str(ds)[:10]): float(y)
            for uid, ds, y in connection.execute("SELECT unique_id, ds, y FROM actuals")
        }
    finally:
        connection.close()
    return stored, integrity


def log_problems(log: Path) -> list[str]:
    """What a server log reports as an error: ERROR/CRITICAL and 5xx access lines, and each
    traceback whole (up to its first line that is not indented: the exception)."""
    pattern = re.compile(r"ERROR|CRITICAL|\" 5(?!03)\d\d ")  # a 503 is shedding, counted apart
    lines = log.read_text(errors="replace").splitlines()
    found, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("Traceback"):
            block = [line]
            i += 1
            while i < len(lines) and (lines[i][:1] in (" ", "\t") or not lines[i].strip()):
                block.append(lines[i])
                i += 1
            if i < len(lines):
                block.append(lines[i])
            found.append("\n".join(block))
        elif pattern.search(line):
            found.append(line)
        i += 1
    return found
