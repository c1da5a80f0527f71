"""Scenario f: the same model version served by `mlflow models serve`, for the ratio ours/mlflow.

Single-series requests only: the sequential median (one connection, back to back) and the
closed-loop throughput with the same number of clients as ours; the two servers' answers for one
series are compared value by value first, so both serve the same forecasts.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from benchmarks.api_scenarios import HORIZON, LEVELS, Bench, sequential
from benchmarks.api_servers import mlflow_command, start, workload


def invocation(unique_id: str) -> str:
    """The /invocations body of a single-series forecast (horizon and levels as params)."""
    return json.dumps(
        {
            "dataframe_split": {"columns": ["unique_id"], "data": [[unique_id]]},
            "params": {"horizon": HORIZON, "levels": LEVELS},
        }
    )


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Largest |difference| over the (series, date, column) values both answers hold, and how
    many of ours mlflow's answer lacks (yhat and interval bounds only)."""
    mine = {
        (f["unique_id"], p["ds"][:10], k): v
        for f in ours["forecasts"]
        for p in f["points"]
        for k, v in p.items()
        if k.startswith("yhat") and v is not None
    }
    diffs = [
        abs(mine[key] - v)
        for row in theirs["predictions"]
        for k, v in row.items()
        if (key := (row["unique_id"], str(row["ds"])[:10], k)) in mine and v is not None
    ]
    if not diffs:
        raise RuntimeError("our answer and mlflow's share no forecast value: not the same model?")
    return {"max_abs_diff": max(diffs), "compared": len(diffs), "lacking": len(mine) - len(diffs)}


def scenario_f(bench: Bench, env: dict[str, str], model_uri: str, ours_answer: dict) -> dict:
    """Start `mlflow models serve`, compare one answer, measure sequential and closed loop."""
    a = bench.args
    server = start("mlflow", mlflow_command(model_uri), env, "/ping", bench.scratch / "logs")
    try:
        ids = [f.unique_id for f in bench.bottom]
        bodies = [invocation(uid) for uid in ids]
        with httpx.Client(timeout=120) as http:
            response = http.post(
                server.base + "/invocations",
                content=invocation(ours_answer["forecasts"][0]["unique_id"]),
                headers={"Content-Type": "application/json"},
            )
            response.raise_for_status()
            (bench.scratch / "mlflow-answer.json").write_text(response.text)
            (bench.scratch / "our-answer.json").write_text(json.dumps(ours_answer))
            agreement = compare(ours_answer, response.json())
        seq = sequential(bench, server, "/invocations", bodies, {})
        closed = bench.run(
            server,
            f"f-mlflow-closed-{a.clients}",
            workload(
                "invocations",
                "/invocations",
                bodies,
                {},
                connections=a.clients,
                duration=a.closed_duration,
                warmup=a.closed_warmup,
                timeout=max(a.timeout, 60),
            ),
        )
        return {"ready_s": server.ready_s, **agreement, "sequential": seq, "closed": closed}
    finally:
        server.stop()
