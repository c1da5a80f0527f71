"""API benchmark: forecast latency and throughput, `anticipate serve` against `mlflow models serve`.

Both servers serve the same registered model version (the champion of the default MLflow store,
trained with the demo data when there is none) with one uvicorn worker on 127.0.0.1, one after
the other in the same run. A separate load process (benchmarks/load.py, asyncio + httpx) sends

- a single-series forecast request and a 100-series request (horizon 14, 80/95 % intervals),
- closed loop: N concurrent clients back to back -> throughput and latency;
- open loop: a fixed rate (100/s single, 10/s for 100 series) -> latency from each request's
  scheduled send time (queueing counts), and errors. When a server's closed-loop throughput is
  below the fixed rate it is also run at 50 % and 75 % of that throughput.

Our API logs every served forecast to its ledger (SQLite in a temp folder here); that is part of
what is measured. Writes benchmarks/results/api.md.

    python -m benchmarks.api [--rate-single 100] [--rate-batch 10] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx

from benchmarks.machine import describe_machine

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
RESULTS = ROOT / "results"
WORK = ROOT / ".work" / "api"
BIN = Path(sys.executable).parent
STORE = "sqlite:///mlruns/mlflow.db"  # the default store, relative to the repository
MODEL = "anticipate-demand"
DEMO = Path("data/demo")
HORIZON = 14
LEVELS = [80, 95]
BATCH = 100
SERVERS = ("anticipate", "mlflow")
#: Open-loop rates, as shares of the closed-loop throughput, for servers below the fixed rate.
SHARES = (0.5, 0.75)
OURS = (str(BIN / "anticipate"), "serve", "--host", "127.0.0.1", "--workers", "1")
MLFLOW = (
    str(BIN / "mlflow"),
    "models",
    "serve",
    "--env-manager",
    "local",
    "-h",
    "127.0.0.1",
    "-w",
    "1",
    "-m",
)


# ---------------------------------------------------------------------------- setup


def git_commit() -> str:
    """The checked-out commit, read from .git without running git."""
    git = REPO / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return "unknown"


def champion_version(tracking_uri: str, name: str) -> str | None:
    """The version behind `name@champion` in the store, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        return str(client.get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        return None


def cli(env: dict[str, str], *args: str) -> str:
    """Run `anticipate ...` in the repository with `env`; its stdout."""
    done = subprocess.run(
        [str(BIN / "anticipate"), *args], env=env, cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"anticipate {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def ensure_champion(env: dict[str, str], tracking_uri: str, name: str) -> tuple[str, bool]:
    """The champion version, after building the demo data and training when there is none."""
    found = champion_version(tracking_uri, name)
    if found is not None:
        return found, False
    print(f"no {name}@champion in {tracking_uri}: building the demo data, training", flush=True)
    print("(training takes about 11 minutes on a 2-core machine)", flush=True)
    cli(env, "data", "demo", "--out", str(DEMO))
    cli(
        env,
        "data",
        "build",
        "--sales",
        str(DEMO / "sales.csv"),
        "--attributes",
        str(DEMO / "attributes.csv"),
        "--out",
        str(DEMO / "datasets"),
    )
    cli(env, "train", "--data", str(DEMO / "datasets"))
    found = champion_version(tracking_uri, name)
    if found is None:
        raise RuntimeError("training registered no champion (see `anticipate models list`)")
    return found, True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A server process group started by us: its name, base URL, process and log."""

    name: str
    base: str
    process: subprocess.Popen
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time of every live process in the server's process group."""
        total = 0
        tick = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # after the command: state ppid pgrp ... utime (index 11) stime (12)
            if int(fields[2]) == self.process.pid:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL it if it has not ended after 20 s."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def start(name: str, command: list[str], env: dict[str, str], ready: str, port: int) -> Server:
    """Start a server in its own session and wait until `ready` answers 200."""
    log = Path(env["BENCH_TMP"]) / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 300
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(server.base + ready, timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} never got ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


# ---------------------------------------------------------------------------- load


@dataclass
class Target:
    """One (server, request size): where to POST what, and how to check the answer."""

    server: Server
    size: int
    path: str
    body_file: Path
    headers: dict[str, str]

    def post(self, client: httpx.Client) -> tuple[float, httpx.Response]:
        started = time.perf_counter()
        response = client.post(
            self.server.base + self.path,
            content=self.body_file.read_bytes(),
            headers={"Content-Type": "application/json", **self.headers},
        )
        return time.perf_counter() - started, response

    def baseline(self, client: httpx.Client, n: int = 10) -> float:
        """Median seconds of `n` sequential requests (after 3 discarded ones)."""
        times = []
        for i in range(n + 3):
            took, response = self.post(client)
            response.raise_for_status()
            if i >= 3:
                times.append(took)
        return statistics.median(times)

    def drain(self, client: httpx.Client, baseline: float, limit: float = 300) -> float:
        """Wait until a sequential request is fast again (the server's backlog is gone)."""
        started = time.monotonic()
        fast = 0
        while fast < 3 and time.monotonic() - started < limit:
            try:
                took, response = self.post(client)
                ok = response.status_code == 200 and took < max(3 * baseline, baseline + 0.05)
            except httpx.HTTPError:
                ok = False
            fast = fast + 1 if ok else 0
            if not ok:
                time.sleep(0.5)
        return time.monotonic() - started


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_load(target: Target, shape: str, value: float, duration: float, warmup: float) -> dict:
    """One load process against `target`; its JSON summary plus CPU use of server and client."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.load",
        "--url",
        target.server.base + target.path,
        "--body-file",
        str(target.body_file),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
        f"--{shape}",
        str(value),
    ]
    for name, header in target.headers.items():
        command += ["--header", f"{name}: {header}"]
    server_before = target.server.cpu_seconds()
    machine_before = busy_cpu_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine = busy_cpu_seconds() - machine_before
    server = target.server.cpu_seconds() - server_before
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    client_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    result.update(
        server=target.server.name,
        size=target.size,
        wall_s=wall,
        server_cpu_pct=100 * server / wall,
        client_cpu_pct=100 * client_cpu / wall,
        other_cpu_pct=100 * max(0.0, machine - server - client_cpu) / wall,
    )
    return result


def measure(
    target: Target, args: argparse.Namespace, client: httpx.Client, log: Callable[[dict], None]
) -> list[dict]:
    """Closed loop, then open loop at the fixed rate (and at lower ones if it is too high)."""
    baseline = target.baseline(client)
    print(f"{target.server.name} {target.size}: sequential median {1000 * baseline:.1f} ms")
    rows = []
    closed = run_load(target, "concurrency", args.concurrency, args.closed_duration, 3)
    closed["baseline_ms"] = 1000 * baseline
    rows.append(closed)
    log(closed)
    target.drain(client, baseline)
    fixed = args.rate_single if target.size == 1 else args.rate_batch
    rates: list[tuple[float, float | None]] = [(fixed, None)]
    if closed["throughput_rps"] < fixed:
        rates += [(round(share * closed["throughput_rps"], 1), share) for share in SHARES]
    for rate, share in rates:
        row = run_load(target, "rate", rate, args.open_duration, args.warmup)
        row["share"] = share
        row["drain_s"] = target.drain(client, baseline)
        rows.append(row)
        log(row)
    return rows


# ---------------------------------------------------------------------------- results


def _ms(value: float) -> str:
    if not math.isfinite(value):
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _request(size: int) -> str:
    return "1 series" if size == 1 else f"{size} series"


def write_results(
    rows: list[dict], meta: dict, args: argparse.Namespace, command: str
) -> list[str]:
    """benchmarks/results/api.md from the rows of every load run."""
    open_rows = [r for r in rows if r["shape"] == "open"]
    closed_rows = [r for r in rows if r["shape"] == "closed"]
    header = (
        "| server | request | {what} | p50 ms | p99 ms | max ms | throughput req/s | errors | "
        "server CPU | client CPU | other CPU |{extra}"
    )
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|{extra}"

    def line(row: dict, what: str, extra: str = "") -> str:
        errors = str(row["errors"])
        if row["errors"]:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(row["error_kinds"].items()))
            errors += f" ({kinds})"
        return (
            f"| {row['server']} | {_request(row['size'])} | {what} | {_ms(row['p50_ms'])} | "
            f"{_ms(row['p99_ms'])} | {_ms(row['max_ms'])} | {row['throughput_rps']:.1f} | "
            f"{errors} | {row['server_cpu_pct']:.0f} % | {row['client_cpu_pct']:.0f} % | "
            f"{row['other_cpu_pct']:.0f} % |{extra}"
        )

    def rate(row: dict) -> str:
        label = f"{row['rate']:g}/s"
        return label + (f" ({row['share']:.0%} of its max)" if row["share"] else "")

    lines = [
        "# API: forecast latency and throughput, Anticipate against `mlflow models serve`",
        "",
        f"Command: `{command}` (part of `make bench`)",
        f"Date: {time.strftime('%Y-%m-%d')}",
        f"Machine: {describe_machine()}",
        f"Versions: anticipate {meta['commit'][:12]} (git commit checked out), "
        + ", ".join(
            f"{p} {version(p)}"
            for p in ("mlflow", "fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy")
        )
        + f", httpx {version('httpx')} (load generator), Python {platform.python_version()}",
        "",
        f"Model: `{meta['model']}` version {meta['version']}, the champion of the default store "
        f"`{meta['store']}` ({meta['n_series']} series, {meta['n_bottom']} at the bottom level)"
        + ("; trained by this run from the demo data" if meta["trained"] else "")
        + ". Both servers serve this same version with one uvicorn worker on 127.0.0.1, one "
        "after the other in the same run:",
        "",
        "- ours: `anticipate serve --workers 1` (model polling off), POST /v1/forecasts with an "
        "`X-API-Key` (viewer) and `{unique_ids, horizon: 14, levels: [80, 95]}`; its ledger is "
        "a fresh SQLite file in a temp folder and every served forecast is written to it;",
        f"- mlflow: `mlflow models serve -m models:/{meta['model']}/{meta['version']} "
        "--env-manager local -w 1`, POST /invocations with "
        '`{"dataframe_split": {"columns": ["unique_id"], "data": [[id], ...]}, '
        '"params": {"horizon": 14, "levels": [80, 95]}}`.',
        "",
        "Requests: `1 series` is one bottom-level series; "
        f"`{BATCH} series` the first {BATCH} of `GET /v1/series?level=series`, "
        f"{HORIZON} days with 80 % and 95 % bounds; the two servers' forecasts of those "
        f"{BATCH} series agree within {meta['max_abs_diff']:.1e} (ours rounds to 6 decimals). "
        "Load comes from a separate process (`benchmarks/load.py`: asyncio + "
        "httpx.AsyncClient with a keep-alive connection pool) over loopback. The machine has "
        "2 cores, shared by the server and the load generator: `server CPU` and `client CPU` "
        "are their CPU time over the run's wall time (warm-up included; 100 % = one core); "
        "`other CPU` is the rest of the machine's busy time meanwhile (the kernel's loopback "
        "networking, anything else running). A Python server with one worker computes on one "
        "core at a time (the GIL). 1-minute load average when the run started: "
        f"{meta['loadavg']:.2f}.",
        "",
        f"## Open loop: fixed arrival rate, {args.open_duration:g} s after a "
        f"{args.warmup:g} s warm-up",
        "",
        "Requests are sent on schedule whatever the server does; latency runs from each "
        "request's scheduled send time to the end of its response, so time spent queueing (in "
        "the server or for a free connection) counts and an overloaded server shows as growing "
        "latency (no coordinated omission). Percentiles are over every request of the window; "
        "a failed one counts with the time it took to fail (the client gives up on a request "
        "30 s after its scheduled time: `timeout`). "
        f"Rates: {args.rate_single:g}/s for one series, {args.rate_batch:g}/s for {BATCH} "
        "series (lower because each request forecasts 100 times as many series); a server "
        "whose closed-loop throughput (its max, next table) is below the rate is also run at "
        "50 % and 75 % of it. `client late p99`: how late the load generator itself sent "
        "requests after their scheduled time (it shares the CPU); latency counts from the "
        "schedule either way. Where a server cannot keep up, the load generator itself needs "
        "up to a core (httpx's pool juggles thousands of waiting requests) and takes it from "
        "the server; at rates the server sustains it needs about a tenth of one.",
        "",
        header.format(what="rate", extra=" client late p99 ms |"),
        rule.format(extra="---:|"),
        *(line(r, rate(r), f" {_ms(r['send_lag_p99_ms'])} |") for r in open_rows),
        "",
        f"## Closed loop: {args.concurrency} concurrent clients, {args.closed_duration:g} s "
        "after a 3 s warm-up",
        "",
        "Each client sends its next request as soon as the previous one is answered; "
        "throughput counts successful responses over the window.",
        "",
        header.format(what="clients", extra=""),
        rule.format(extra=""),
        *(line(r, str(r["concurrency"])) for r in closed_rows),
        "",
    ]
    ratios = []
    for size in sorted({r["size"] for r in closed_rows}):
        by = {r["server"]: r for r in closed_rows if r["size"] == size}
        if "anticipate" in by and "mlflow" in by and by["mlflow"]["throughput_rps"] > 0:
            ratio = by["anticipate"]["throughput_rps"] / by["mlflow"]["throughput_rps"]
            ratios.append(f"{ratio:.2f} for {_request(size)}")
    if ratios:
        lines += [
            "Throughput of ours / mlflow's (closed loop): " + "; ".join(ratios) + ".",
            "",
        ]
    single = [
        r
        for r in open_rows
        if r["server"] == "anticipate" and r["size"] == 1 and r["share"] is None
    ]
    if single:
        r = single[0]
        met = r["p99_ms"] < 50 and r["errors"] == 0
        lines += [
            f"Target: our single-series p99 under 50 ms at {r['rate']:g} requests/s: "
            f"**{'met' if met else 'missed'}** (p99 {_ms(r['p99_ms'])} ms, "
            f"{r['errors']} errors).",
            "",
        ]
    lines += [
        "Sequential latency before the load (median of 10 back-to-back requests, ms): "
        + "; ".join(
            f"{r['server']} {_request(r['size'])} {r['baseline_ms']:.1f}" for r in closed_rows
        )
        + ".",
        "",
        "## What differs",
        "",
        "Both answer with the same forecasts, but do different work per request. Ours looks the "
        "requested series up in forecasts precomputed when the model was loaded (at the "
        "bundle's horizon and levels), writes every served forecast to the ledger (one "
        "transaction: the request, one row per series and one per point, scored against any "
        "known actual) so its accuracy can be realized later, and attaches each series' "
        "anticipation metric (expected accuracy from the backtest, realized accuracy and drift "
        "from the ledger) behind an API-key check. `mlflow models serve` runs the pyfunc for "
        "each request: it recomputes the forecast of every series of the model and then keeps "
        "the requested ones, logs nothing and checks no key, so its cost barely depends on how "
        "many series are asked for. Its response is the bare forecast rows.",
        f"Ledger written by this run: {meta['ledger_requests']:,} forecast requests, "
        f"{meta['ledger_points']:,} served points.",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api.md").write_text("\n".join(lines) + "\n")
    return lines


# ---------------------------------------------------------------------------- main


def _max_abs_diff(ours: dict, theirs: dict) -> float:
    """Largest |difference| of yhat and bounds between our and mlflow's answers."""
    mine = {
        (f["unique_id"], p["ds"][:10], k): v
        for f in ours["forecasts"]
        for p in f["points"]
        for k, v in p.items()
        if k != "ds"
    }
    worst = 0.0
    for row in theirs["predictions"]:
        for k, v in row.items():
            key = (row["unique_id"], str(row["ds"])[:10], k)
            if key in mine and mine[key] is not None and v is not None:
                worst = max(worst, abs(mine[key] - v))
    missing = len(mine) - sum(
        1
        for row in theirs["predictions"]
        for k in row
        if (row["unique_id"], str(row["ds"])[:10], k) in mine
    )
    if missing:
        raise RuntimeError(f"mlflow's answer lacks {missing} of our values")
    return worst


def main() -> None:
    """Set up, run both servers one after the other under load, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate-single", type=float, default=100.0)
    parser.add_argument("--rate-batch", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--open-duration", type=float, default=20.0)
    parser.add_argument("--closed-duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--tracking-uri", default=STORE)
    parser.add_argument("--model-name", default=MODEL)
    args = parser.parse_args()
    os.chdir(REPO)  # the default store's sqlite path is relative to the repository
    servers = args.servers.split(",")
    command = "python -m benchmarks.api" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v != parser.get_default(k)
    )

    scratch = Path(tempfile.mkdtemp(prefix="anticipate-api-bench-"))
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        MLFLOW_TRACKING_URI=args.tracking_uri,
        ANTICIPATE_MODEL_NAME=args.model_name,
        ANTICIPATE_DATABASE_URL=f"sqlite:///{scratch / 'ledger.db'}",
        ANTICIPATE_MODEL_POLL_SECONDS="0",
        BENCH_TMP=str(scratch),
    )
    model_version, trained = ensure_champion(env, args.tracking_uri, args.model_name)
    print(f"{args.model_name} version {model_version}; scratch {scratch}", flush=True)
    key = cli(env, "keys", "create", "--role", "viewer", "--quiet").strip().splitlines()[-1]
    WORK.mkdir(parents=True, exist_ok=True)
    raw = WORK / "runs.jsonl"
    raw.write_text("")

    def log(row: dict) -> None:
        with raw.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(
            f"  {row['server']} {row['size']} {row['shape']} "
            f"{row.get('rate') or row.get('concurrency')}: p50 {row['p50_ms']:.1f} "
            f"p99 {row['p99_ms']:.1f} max {row['max_ms']:.1f} ms, "
            f"{row['throughput_rps']:.1f} req/s, errors {row['errors']}, "
            f"CPU server {row['server_cpu_pct']:.0f} % client {row['client_cpu_pct']:.0f} % "
            f"other {row['other_cpu_pct']:.0f} %",
            flush=True,
        )

    rows: list[dict] = []
    meta: dict = {
        "commit": git_commit(),
        "model": args.model_name,
        "version": model_version,
        "store": args.tracking_uri,
        "trained": trained,
        "loadavg": os.getloadavg()[0],
    }
    answers: dict[str, dict] = {}
    http = httpx.Client(timeout=120)
    try:
        port = free_port()
        ours = start(
            "anticipate",
            [*OURS, "--port", str(port)],
            env,
            "/ready",
            port,
        )
        try:
            served = http.get(ours.base + "/ready").json()["model_version"]
            if served != model_version:
                raise RuntimeError(f"our server serves version {served}, not {model_version}")
            auth = {"X-API-Key": key}
            page = http.get(
                ours.base + "/v1/series", params={"level": "series", "limit": BATCH}, headers=auth
            ).json()
            ids = [item["unique_id"] for item in page["items"]]
            meta["n_bottom"] = page["total"]
            meta["n_series"] = http.get(
                ours.base + "/v1/series", params={"limit": 1}, headers=auth
            ).json()["total"]
            if len(ids) < BATCH:
                raise RuntimeError(f"the model has only {len(ids)} bottom-level series")
            bodies = {}
            for size in (1, BATCH):
                bodies[("anticipate", size)] = scratch / f"anticipate-{size}.json"
                bodies[("anticipate", size)].write_text(
                    json.dumps({"unique_ids": ids[:size], "horizon": HORIZON, "levels": LEVELS})
                )
                bodies[("mlflow", size)] = scratch / f"mlflow-{size}.json"
                bodies[("mlflow", size)].write_text(
                    json.dumps(
                        {
                            "dataframe_split": {
                                "columns": ["unique_id"],
                                "data": [[uid] for uid in ids[:size]],
                            },
                            "params": {"horizon": HORIZON, "levels": LEVELS},
                        }
                    )
                )
            if "anticipate" in servers:
                for size in (1, BATCH):
                    target = Target(ours, size, "/v1/forecasts", bodies[("anticipate", size)], auth)
                    _, response = target.post(http)
                    response.raise_for_status()
                    answers[f"anticipate-{size}"] = response.json()
                    rows += measure(target, args, http, log)
        finally:
            ours.stop()
        if "mlflow" in servers:
            port = free_port()
            theirs = start(
                "mlflow",
                [*MLFLOW, f"models:/{args.model_name}/{model_version}", "-p", str(port)],
                env,
                "/ping",
                port,
            )
            try:
                for size in (1, BATCH):
                    target = Target(theirs, size, "/invocations", bodies[("mlflow", size)], {})
                    _, response = target.post(http)
                    response.raise_for_status()
                    answers[f"mlflow-{size}"] = response.json()
                    rows += measure(target, args, http, log)
            finally:
                theirs.stop()
    finally:
        http.close()

    if "anticipate-100" in answers and "mlflow-100" in answers:
        meta["max_abs_diff"] = _max_abs_diff(answers["anticipate-100"], answers["mlflow-100"])
    else:
        meta["max_abs_diff"] = math.nan
    with contextlib.closing(sqlite3.connect(scratch / "ledger.db")) as ledger:
        for table, name in (("forecast_requests", "requests"), ("served_points", "points")):
            meta[f"ledger_{name}"] = ledger.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    lines = write_results(rows, meta, args, command)
    print("\n".join(lines))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
