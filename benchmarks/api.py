"""API benchmark: the load scenarios of issue 9 (item 3) and `mlflow models serve`, same model.

One run: a small ledger (keys only) and a copy of it filled with 1M served points; our server
(`anticipate serve`, one worker) is started on each and timed to `/ready` (e); on the big one it
then takes (a) single-series forecasts at 200/s open loop for 60 s on 200 connections, (b) closed
loop with 8 and with 1,000 connections, (c) forecasts at 100/s while 8 clients post actuals,
(d) 1,000-row actuals posts and the refit jobs they start, then it is restarted once more (e);
(f) `mlflow models serve` serves the same version. Load comes from benchmarks/loadgen.py in its
own process. Writes benchmarks/results/api.md (benchmarks/.work/api/run-*/ keeps each run's
plans, raw results and server logs).

    python -m benchmarks.api [--quick] [--rate 200] [--duration 60] [--many 1000] ...
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.api_actuals import scenario_d
from benchmarks.api_ledger import copy_sqlite, fill_served, ledger_size, parse_forecasts
from benchmarks.api_mlflow import scenario_f
from benchmarks.api_report import render
from benchmarks.api_scenarios import (
    FORECASTS,
    HORIZON,
    LEVELS,
    Bench,
    forecast_bodies,
    list_series,
    scenario_a,
    scenario_b,
    scenario_c,
    sequential,
)
from benchmarks.api_servers import Server, ours_command, start
from benchmarks.api_setup import (
    MODEL,
    REPO,
    WORK,
    base_env,
    create_key,
    default_store,
    ensure_champion,
    git_commit,
    git_dirty,
    versions,
)
from benchmarks.machine import describe_machine

RESULTS = REPO / "benchmarks" / "results"
#: Above this median share of a core used by other programs during the load runs, the results
#: say the machine was busy.
BUSY_OTHERS = 0.25
#: Scenario sizes of `--quick` (a few seconds each), for development.
QUICK = {
    "duration": 6.0,
    "closed_duration": 4.0,
    "closed_warmup": 1.0,
    "mixed_duration": 6.0,
    "seq_duration": 2.0,
    "warmup": 1.0,
    "actuals_posts": 2,
    "ledger_points": 100_000,
    "jobs_limit": 60.0,
}


def parse_args() -> tuple[argparse.Namespace, str]:
    """The options, with `--quick` applied; and the command line that reproduces them."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few seconds per scenario")
    p.add_argument("--rate", type=float, default=200.0, help="a: open-loop requests/s")
    p.add_argument("--duration", type=float, default=60.0, help="a: measured seconds")
    p.add_argument("--connections", type=int, default=200, help="a: connections")
    p.add_argument("--clients", type=int, default=8, help="b, f: the few closed-loop clients")
    p.add_argument("--many", type=int, default=1000, help="b: the many closed-loop clients")
    p.add_argument("--closed-duration", type=float, default=30.0, help="b, f: measured seconds")
    p.add_argument("--closed-warmup", type=float, default=5.0, help="b, f: warm-up seconds")
    p.add_argument("--mixed-rate", type=float, default=100.0, help="c: forecast requests/s")
    p.add_argument("--mixed-duration", type=float, default=60.0, help="c: measured seconds")
    p.add_argument("--writers", type=int, default=8, help="c: clients posting actuals")
    p.add_argument("--actuals-rows", type=int, default=1000, help="d: rows per post")
    p.add_argument("--actuals-posts", type=int, default=5, help="d: posts")
    p.add_argument("--jobs-limit", type=float, default=600.0, help="d: wait for refits (s)")
    p.add_argument("--ledger-points", type=int, default=1_000_000, help="served points to add")
    p.add_argument("--fill-series", type=int, default=10, help="series per filled request")
    p.add_argument("--fill-days", type=int, default=30, help="days the filled requests span")
    p.add_argument("--seq-duration", type=float, default=10.0, help="sequential seconds")
    p.add_argument("--warmup", type=float, default=5.0, help="a, c: warm-up seconds")
    p.add_argument("--timeout", type=float, default=10.0, help="request abandoned after (s)")
    p.add_argument("--no-mlflow", action="store_true", help="skip f (mlflow models serve)")
    p.add_argument("--tracking-uri", default=None, help="MLflow store (default: the bench's own)")
    p.add_argument("--model-name", default=MODEL)
    p.add_argument("--retrain", action="store_true", help="train a new version first")
    p.add_argument("--results", type=Path, default=RESULTS / "api.md")
    args = p.parse_args()
    command = "python -m benchmarks.api" + "".join(
        f" --{k.replace('_', '-')}" + ("" if v is True else f" {v}")
        for k, v in vars(args).items()
        if v != p.get_default(k)
    )
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    args.tracking_uri = args.tracking_uri or default_store()
    if args.quick and args.results == p.get_default("results"):
        args.results = WORK / "api-quick.md"  # a quick run never replaces the published results
    return args, command


def _raise_fd_limit() -> None:
    """1,000 connections need more descriptors than a 1,024 soft limit (servers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _with_ledger(env: dict[str, str], database: Path) -> dict[str, str]:
    return {**env, "ANTICIPATE_DATABASE_URL": f"sqlite:///{database}"}


def _restarts(name: str, env: dict[str, str], logs: Path) -> tuple[dict[str, float], Server]:
    """Start, stop and start again; the two times to ready, and the running second server."""
    first = start(f"{name}-first", ours_command(), env, "/ready", logs)
    first.stop()
    again = start(name, ours_command(), env, "/ready", logs)
    print(f"e: {name} first start {first.ready_s:.1f} s, restart {again.ready_s:.1f} s", flush=True)
    return {"first_s": first.ready_s, "restart_s": again.ready_s}, again


def _model_forecasts(server: Server, viewer: dict[str, str]) -> dict[str, Any]:
    """Every series, their served forecasts and one single-series answer, from our server."""
    headers = {"Content-Type": "application/json", **viewer}
    with httpx.Client(timeout=120) as http:
        listed = list_series(http, server.base, viewer, None)
        ids = [s["unique_id"] for s in listed]
        levels = [s.get("level", s.get("hierarchy_level")) for s in listed]
        bottom_level = max(set(levels), key=levels.count)
        answers = []
        for start_at in range(0, len(ids), 500):
            body = {
                "unique_ids": ids[start_at : start_at + 500],
                "horizon": HORIZON,
                "levels": LEVELS,
            }
            response = http.post(server.base + FORECASTS, json=body, headers=headers)
            response.raise_for_status()
            answers += parse_forecasts(response.json(), LEVELS)
        ready = http.get(server.base + "/ready").json()
    bottom = [s for s, level in zip(answers, levels, strict=True) if level == bottom_level]
    with httpx.Client(timeout=120) as http:
        one = http.post(
            server.base + FORECASTS,
            content=forecast_bodies([bottom[0].unique_id])[0],
            headers=headers,
        )
        one.raise_for_status()
    return {
        "ids": ids,
        "series": answers,
        "bottom": bottom,
        "one": one.json(),
        "version": str(ready.get("model_version")),
    }


def _log_problems(logs: Path) -> str:
    found = []
    for log in sorted(logs.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        bad = [line for line in lines if " ERROR " in line or line.startswith("Traceback")]
        if bad:
            found.append(f"{log.name} {len(bad)} (first: `{bad[0][:160]}`)")
    return "; ".join(found)


def main() -> None:
    """Set up the ledgers, run every scenario, write benchmarks/results/api.md."""
    args, command = parse_args()
    os.chdir(REPO)
    _raise_fd_limit()
    began = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    # One folder per run (runs side by side must not share ledgers); dated, so the newest is last.
    scratch = Path(tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=WORK))
    (scratch / "logs").mkdir()
    logs = scratch / "logs"
    env = base_env(args.tracking_uri, args.model_name, scratch)
    loadavg = os.getloadavg()[0]
    version, trained = ensure_champion(env, args.retrain)
    small, big = scratch / "small.db", scratch / "big.db"
    env_small, env_big = _with_ledger(env, small), _with_ledger(env, big)
    viewer = {"X-API-Key": create_key(env_small, "viewer")}
    writer = {"X-API-Key": create_key(env_small, "writer")}
    notes: list[str] = []
    if git_dirty():
        notes.append(
            "The checkout had uncommitted changes when this ran (serving/ may have been "
            "mid-rewrite): re-run `make bench` on a clean commit before quoting these figures."
        )

    setup = start("anticipate-setup", ours_command(), env_small, "/ready", logs)
    try:
        model = _model_forecasts(setup, viewer)
    finally:
        setup.stop()
    if model["version"] != version:
        raise RuntimeError(f"the server serves version {model['version']}, not {version}")
    copy_sqlite(small, big)
    ledger: dict[str, Any] = {"small": ledger_size(small)}
    e: dict[str, Any] = {}
    e["small"], server = _restarts("anticipate-small", env_small, logs)
    server.stop()
    print(f"filling {big.name} with {args.ledger_points:,} served points", flush=True)
    fill = fill_served(
        env_big["ANTICIPATE_DATABASE_URL"],
        model["series"],
        model_name=args.model_name,
        model_version=version,
        points=args.ledger_points,
        per_request=args.fill_series,
        interval_levels=LEVELS,
        days=args.fill_days,
    )
    print(f"filled in {fill['seconds']:.0f} s with {fill['function']}", flush=True)
    ledger["big"] = ledger_size(big)
    bench = Bench(args, scratch, viewer, writer, forecast_bodies(model["ids"]), model["bottom"])
    results: dict[str, Any] = {}
    e["big"], server = _restarts("anticipate-big", env_big, logs)
    try:
        results["ours_sequential"] = sequential(
            bench, server, FORECASTS, bench.forecast_bodies, viewer
        )
        results["a"] = scenario_a(bench, server)
        results["b"] = scenario_b(bench, server)
        results["c"] = scenario_c(bench, server)
        results["d"] = scenario_d(bench, server)
    finally:
        server.stop()
    again = start("anticipate-big-after", ours_command(), env_big, "/ready", logs)
    again.stop()
    e["after"] = {"restart_s": again.ready_s}
    print(f"e: restart after the scenarios' actuals {again.ready_s:.1f} s", flush=True)
    ledger["end"] = ledger_size(big)
    model_uri = f"models:/{args.model_name}/{version}"
    if not args.no_mlflow:
        results["f"] = scenario_f(bench, env_small, model_uri, model["one"])

    loadgen_runs = [results["ours_sequential"], results["a"], *results["b"].values(), results["c"]]
    if "f" in results:
        loadgen_runs += [results["f"]["sequential"], results["f"]["closed"]]
    others = statistics.median(r["other_cpu_share"] for r in loadgen_runs)
    if others > BUSY_OTHERS:
        notes.append(
            f"Other programs kept {others:.0%} of a core busy (median over the load runs; the "
            "machine has 2 cores), so the server had less than it would alone: re-run on an idle "
            "machine before comparing these figures with the targets."
        )
    report = {
        **results,
        "args": args,
        "e": e,
        "notes": notes,
        "command": command,
        "run_s": time.perf_counter() - began,
        "date": time.strftime("%Y-%m-%d"),
        "machine": describe_machine(),
        "loadavg": loadavg,
        "commit": git_commit(),
        "dirty": bool(git_dirty()),
        "versions": versions(),
        "model": args.model_name,
        "version": version,
        "model_uri": model_uri,
        "store": args.tracking_uri.replace(str(REPO) + "/", ""),
        "trained": trained,
        "n_series": len(model["ids"]),
        "n_bottom": len(model["bottom"]),
        "event_loop": results["a"]["event_loop"],
        "ledger": ledger,
        "ledger_points": ledger["big"]["served_points"],
        "fill": fill,
        "loadgen_runs": [r["label"] for r in loadgen_runs],
        "scratch": str(scratch.relative_to(REPO)),
        "loadavg_end": os.getloadavg()[0],
        "server_log_problems": _log_problems(logs),
    }
    (scratch / "report.json").write_text(json.dumps(report, default=str, indent=1))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(render(report))
    for database in scratch.glob("*.db*"):
        database.unlink()
    print(f"wrote {args.results} in {report['run_s'] / 60:.1f} minutes", file=sys.stderr)


if __name__ == "__main__":
    main()
