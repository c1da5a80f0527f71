"""benchmarks/results/api.md from one run of benchmarks/api.py: every figure next to its target."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from benchmarks.api_stats import drift_ms, worst_slice_p99

#: Latency target of every forecast scenario (p99, ms).
P99_TARGET_MS = 50.0
#: "No drift": the last slice's p99 is at most this much above the first slice's.
DRIFT_TARGET_MS = 10.0
#: "Restart does not grow with the ledger": 1M-point restart <= small * ratio + slack.
RESTART_RATIO, RESTART_SLACK_S = 1.25, 1.0
ACTUALS_TARGET_S = 1.0


def _ms(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _pct(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.0f} %"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _errors(w: dict[str, Any]) -> str:
    if not w["errors"]:
        return "0"
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(w["error_kinds"].items()))
    return f"{w['errors']} ({kinds})"


def _load_table(rows: list[tuple[str, dict[str, Any], str]]) -> list[str]:
    """One row per (label, loadgen result, workload name)."""
    out = [
        "| run | workload | shape | conn. | requests | p50 ms | p90 ms | p99 ms | max ms | ok/s "
        "| 503 (shed) | errors | conn. wait p99 ms | loadgen late max ms | server CPU "
        "| loadgen CPU | other CPU | drained after |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, result, name in rows:
        w = result["workloads"][name]
        shape = f"{w['rate']:g}/s open" if w["rate"] else "closed"
        shed = f"{w['shed']} ({_pct(w['shed_share'])})" if w["shed"] else "0"
        out.append(
            f"| {label} | {name} | {shape} | {w['connections']} | {w['requests']:,} | "
            f"{_ms(w['p50_ms'])} | {_ms(w['p90_ms'])} | {_ms(w['p99_ms'])} | "
            f"{_ms(w['max_ms'])} | {w['throughput_rps']:.1f} | {shed} | {_errors(w)} | "
            f"{_ms(w['wait_p99_ms'])} | {_ms(w['late_max_ms'])} | "
            f"{_pct(result['server_cpu_share'])} | "
            f"{_pct(result['loadgen_cpu_share'])} | {_pct(result['other_cpu_share'])} | "
            f"{result['drain_s']:.1f} s |"
        )
    return out


def _slices(w: dict[str, Any]) -> list[str]:
    head = "| slice (s) | " + " | ".join(
        f"{s['from_s']:.0f}–{s['from_s'] + w['slice_s']:.0f}" for s in w["slices"]
    )
    rule = "|---|" + "---:|" * len(w["slices"])
    return [
        head + " |",
        rule,
        "| requests | " + " | ".join(f"{s['requests']:,}" for s in w["slices"]) + " |",
        "| p50 ms | " + " | ".join(_ms(s["p50_ms"]) for s in w["slices"]) + " |",
        "| p99 ms | " + " | ".join(_ms(s["p99_ms"]) for s in w["slices"]) + " |",
        "| max ms | " + " | ".join(_ms(s["max_ms"]) for s in w["slices"]) + " |",
    ]


def _size(size: dict[str, Any]) -> str:
    rows = ", ".join(f"{name} {n:,}" for name, n in size["rows"].items() if n)
    return f"{size['served_points']:,} served points in {size['mb']:,.1f} MB (table rows: {rows})"


def _job_seconds(job: dict[str, Any], since: str = "created_at") -> float:
    try:
        start = dt.datetime.fromisoformat(str(job[since]).replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(str(job["finished_at"]).replace("Z", "+00:00"))
    except (TypeError, ValueError, KeyError):
        return math.nan
    return (end - start).total_seconds()


def summary_rows(r: dict[str, Any]) -> list[str]:
    """The table of every item-3 figure next to its target."""
    a = r["a"]["workloads"]["forecasts"]
    few = r["b"]["few"]["workloads"]["forecasts"]
    many = r["b"]["many"]["workloads"]["forecasts"]
    c = r["c"]["workloads"]["forecasts"]
    d, e = r["d"], r["e"]
    args = r["args"]
    drift = drift_ms(a)
    worst = worst_slice_p99(a)
    rows = [
        "| | figure | measured | target | |",
        "|---|---|---:|---|---|",
        f"| a | p99 of single-series forecasts, {args.rate:g}/s open loop, {args.duration:g} s, "
        f"{args.connections} connections, {r['ledger_points']:,}-point ledger | "
        f"{_ms(a['p99_ms'])} ms (p50 {_ms(a['p50_ms'])}, max {_ms(a['max_ms'])}) | "
        f"< {P99_TARGET_MS:g} ms | {_verdict(a['p99_ms'] < P99_TARGET_MS)} |",
        f"| a | errors, timeouts, 503s | {a['errors']}, {a['timeouts']}, {a['shed']} | none | "
        f"{_verdict(a['errors'] == 0 and a['shed'] == 0)} |",
        f"| a | drift: p99 of the last {a['slice_s']:g}-s slice minus the first; worst slice "
        f"| {'+' if drift >= 0 else '−'}{_ms(abs(drift))} ms; {_ms(worst)} ms "
        f"| < {DRIFT_TARGET_MS:g} ms; < {P99_TARGET_MS:g} ms "
        f"| {_verdict(drift < DRIFT_TARGET_MS and worst < P99_TARGET_MS)} |",
        f"| b | closed-loop throughput, {args.many} connections vs {args.clients} | "
        f"{many['throughput_rps']:.1f} vs {few['throughput_rps']:.1f} req/s | not below the "
        f"{args.clients}-client figure | "
        f"{_verdict(many['throughput_rps'] >= few['throughput_rps'])} |",
        f"| b | {args.many} connections: answered 503 (shed), errors | "
        f"{_pct(many['shed_share'])} of {many['requests']:,}, {many['errors']} | shed, not "
        f"errors | {_verdict(many['errors'] == 0)} |",
        f"| c | p99 of forecasts at {args.mixed_rate:g}/s while {args.writers} clients post "
        f"actuals | {_ms(c['p99_ms'])} ms ({c['errors']} errors) | < {P99_TARGET_MS:g} ms | "
        f"{_verdict(c['p99_ms'] < P99_TARGET_MS and c['errors'] == 0)} |",
        f"| d | {d['rows']:,}-row `POST /v1/actuals`: median, max of {d['posts']} | "
        f"{d['median_s']:.2f} s, {d['max_s']:.2f} s | < {ACTUALS_TARGET_S:g} s | "
        f"{_verdict(d['max_s'] < ACTUALS_TARGET_S)} |",
    ]
    if d.get("jobs_endpoint"):
        statuses = ", ".join(sorted({str(j["status"]) for j in d["jobs"]})) or "none"
        good = bool(d["jobs"]) and all(j["status"] == "succeeded" for j in d["jobs"])
        rows.append(
            f"| d | refit jobs after the posts, in `GET /v1/jobs`: count, state, finished after "
            f"the last answer | {len(d['jobs'])}, {statuses}, {d['jobs_wait_s']:.1f} s | "
            f"visible, in the background, succeeded | {_verdict(good)} |"
        )
    else:
        rows.append("| d | refit jobs | `GET /v1/jobs` answered 404: not measured | visible | – |")
    bound = e["small"]["restart_s"] * RESTART_RATIO + RESTART_SLACK_S
    worst = max(e["big"]["restart_s"], e["after"]["restart_s"])
    rows.append(
        f"| e | restart to `/ready` 200: small ledger; {r['ledger_points']:,}-point ledger; "
        f"the same after the scenarios ({r['ledger']['end']['rows'].get('actuals', 0):,} actuals) "
        f"| {e['small']['restart_s']:.1f} s; {e['big']['restart_s']:.1f} s; "
        f"{e['after']['restart_s']:.1f} s | does not grow (≤ {bound:.1f} s) | "
        f"{_verdict(worst <= bound)} |"
    )
    if r.get("f"):
        f = r["f"]
        ours_seq = r["ours_sequential"]["workloads"]["sequential"]["p50_ms"]
        theirs_seq = f["sequential"]["workloads"]["sequential"]["p50_ms"]
        theirs = f["closed"]["workloads"]["invocations"]["throughput_rps"]
        rows.append(
            f"| f | `mlflow models serve`, single series: sequential median, {args.clients}-client "
            f"throughput; ours/mlflow | {_ms(theirs_seq)} ms, {theirs:.1f} req/s; "
            f"{theirs_seq / ours_seq:.1f}x faster, {few['throughput_rps'] / theirs:.1f}x the "
            "throughput | reported | – |"
        )
    return rows


def render(r: dict[str, Any]) -> str:
    """The whole results file."""
    args = r["args"]
    lines = [
        "# API under load: the scenarios of issue 9 (item 3), and `mlflow models serve`",
        "",
        *(["> " + note for note in r["notes"]] + [""] if r["notes"] else []),
        f"Command: `{r['command']}` (part of `make bench`); the run took "
        f"{r['run_s'] / 60:.1f} minutes.",
        f"Date: {r['date']}. Machine: {r['machine']}. 1-minute load average at the start "
        f"{r['loadavg']:.2f}, at the end {r['loadavg_end']:.2f}.",
        f"Code: git commit {r['commit'][:12]}"
        + (" with uncommitted changes in the checkout" if r["dirty"] else "")
        + f". Versions: {r['versions']}.",
        f"Model: `{r['model']}` version {r['version']} of `{r['store']}` "
        f"({r['n_series']} series, {r['n_bottom']} at the bottom level)"
        + ("; trained by this run from the demo data" if r["trained"] else "")
        + ". Server: `anticipate serve --workers 1` on 127.0.0.1 (settings as shipped, model "
        "polling off); load: `benchmarks/loadgen.py`, a separate process on the same 2 cores "
        f"(asyncio on {r['event_loop']}, raw HTTP/1.1 keep-alive connections). `server CPU` and "
        "`loadgen CPU` are each process's user + system seconds over the run's wall time "
        "(100 % = one core).",
        "",
        f"Ledger (SQLite): the small one holds {_size(r['ledger']['small'])}. The big one is a "
        f"copy filled with {r['fill']['points']:,} served points in "
        f"{r['fill']['seconds']:.0f} s through `serving.ledger.{r['fill']['function']}`: "
        f"{r['fill']['requests']:,} requests of {r['fill']['series_per_request']} series, spread "
        f"over the last {r['fill']['days']} days, each day's forecasts the model's own shifted "
        "back to origins that many days earlier (as if served daily; without the history "
        "statistics the server adds, so those points get no MASE). It holds "
        f"{_size(r['ledger']['big'])}; after the scenarios {_size(r['ledger']['end'])}.",
        "",
        "## Every figure of item 3 next to its target",
        "",
        *summary_rows(r),
        "",
        "Latency runs from each request's due time to the end of its response. Open loop: "
        "requests are due on a fixed schedule whatever the server does, so waiting for a free "
        "connection or in the server's queue counts (no coordinated omission); a request not "
        f"answered {args.timeout:g} s after its due time is abandoned (`timeout`). Closed loop: "
        "each connection sends its next request when the previous one is answered, and after a "
        "503 waits what `Retry-After` says (at most 2 s). A 503 is shedding, counted apart from "
        "errors; percentiles are over every request (failures with the time they took), `ok/s` "
        "counts 2xx answers. `conn. wait`: due time to the moment a connection took the request; "
        "`loadgen late`: how far behind its schedule the load generator itself queued a request "
        "(it shares the CPU with the server; latency counts from the schedule either way). "
        "`drained after`: once the load stopped, how long until 3 single-series forecasts in a "
        "row answered within 3x the idle latency (what the server still had queued).",
        "",
        "## Load runs",
        "",
        *_load_table(
            [
                ("ours, sequential", r["ours_sequential"], "sequential"),
                ("a", r["a"], "forecasts"),
                (f"b, {args.clients} clients", r["b"]["few"], "forecasts"),
                (f"b, {args.many} clients", r["b"]["many"], "forecasts"),
                ("c", r["c"], "forecasts"),
                ("c", r["c"], "actuals"),
                *(
                    [
                        ("f, mlflow sequential", r["f"]["sequential"], "sequential"),
                        (f"f, mlflow {args.clients} clients", r["f"]["closed"], "invocations"),
                    ]
                    if r.get("f")
                    else []
                ),
            ]
        ),
        "",
        f"### a: latency by {r['a']['workloads']['forecasts']['slice_s']:g}-s slice of the window",
        "",
        *_slices(r["a"]["workloads"]["forecasts"]),
        "",
        f"### c: forecast latency by slice while {args.writers} clients post actuals "
        f"({r['c']['workloads']['actuals']['ok']:,} posts of 50 rows answered, "
        f"{r['c']['workloads']['actuals']['throughput_rps']:.1f}/s)",
        "",
        *_slices(r["c"]["workloads"]["forecasts"]),
        "",
        *_details(r),
    ]
    return "\n".join(lines) + "\n"


def _details(r: dict[str, Any]) -> list[str]:
    d, e = r["d"], r["e"]
    out = [
        "### d: large actuals posts",
        "",
        f"{d['posts']} sequential posts of {d['rows']:,} rows (every bottom-level series, later "
        "forecast days than scenario c's): "
        + ", ".join(f"{t:.2f}" for t in d["times_s"])
        + f" s; points scored per post: {', '.join(str(p) for p in d['scored_points'])}.",
    ]
    if d.get("jobs_endpoint"):
        jobs = "; ".join(
            f"{j['kind']} {j['status']}, ran {_job_seconds(j, 'started_at'):.1f} s"
            + (f" ({j['result']})" if j.get("result") else "")
            + (f" ({j['error']})" if j.get("error") else "")
            for j in d.get("jobs", [])
        )
        out.append(
            f"Refit jobs followed: {jobs or 'none'}; "
            f"{'all finished' if d['jobs_done'] else 'not all finished'} "
            f"{d['jobs_wait_s']:.1f} s after the last post answered. Before the posts, the "
            f"refits of scenario c had finished after {d['earlier_jobs_wait_s']:.1f} s more."
        )
    out += [
        "",
        "### e: start-up time (process start to the first `/ready` 200)",
        "",
        "| ledger | first start | restart |",
        "|---|---:|---:|",
        f"| small | {e['small']['first_s']:.1f} s | {e['small']['restart_s']:.1f} s |",
        f"| {r['ledger_points']:,} points | {e['big']['first_s']:.1f} s | "
        f"{e['big']['restart_s']:.1f} s |",
        f"| the same after scenarios a–d | | {e['after']['restart_s']:.1f} s |",
        "",
        f"Does not grow: at most {RESTART_RATIO:g} x the small ledger's restart + "
        f"{RESTART_SLACK_S:g} s (the machine is shared, start-up times vary by about that).",
        "",
    ]
    if r.get("f"):
        f = r["f"]
        out += [
            "### f: `mlflow models serve`",
            "",
            f"`mlflow models serve -m {r['model_uri']} --env-manager local -w 1`, POST "
            "/invocations with `dataframe_split` of one `unique_id` and params `horizon: 14, "
            f"levels: [80, 95]`; ready {f['ready_s']:.1f} s after its start. Its forecast of "
            f"one series agrees with ours within {f['max_abs_diff']:.1e} over the "
            f"{f['compared']} values both hold"
            + (f" ({f['lacking']} of ours are not in its answer)." if f["lacking"] else "."),
            "",
        ]
    out += [
        "### Commands",
        "",
        "Each load run above is one `python -m benchmarks.loadgen --plan plan-RUN.json --out "
        "result-RUN.json`, RUN one of "
        + ", ".join(f"`{label}`" for label in r["loadgen_runs"])
        + f" (plans, raw results and server logs stay in {r['scratch']}/).",
    ]
    if r["server_log_problems"]:
        out += ["", "Server log lines with ERROR or Traceback: " + r["server_log_problems"] + "."]
    return out
