"""Scenario d: large actuals posts answer at once; the refits they start run in the background.

The refit jobs are followed through the API: the job each answer names (`refresh_href`), else
the jobs `GET /v1/jobs` lists that were not there before the posts. A server without `/v1/jobs`
(404) is measured without them.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from benchmarks.api_scenarios import ACTUALS, Bench, big_posts
from benchmarks.api_servers import Server

#: Job states after which a job no longer changes.
FINISHED = ("succeeded", "failed")
POLL_S = 0.25


def _job_list(http: httpx.Client, server: Server, headers: dict[str, str]) -> list[dict] | None:
    """The server's jobs (GET /v1/jobs), or None when it has no such endpoint."""
    response = http.get(server.base + "/v1/jobs", params={"limit": 500}, headers=headers)
    if response.status_code in (404, 405):
        return None
    response.raise_for_status()
    body = response.json()
    return body if isinstance(body, list) else list(body.get("items", body.get("data", [])))


def _wait(
    http: httpx.Client, server: Server, headers: dict[str, str], ids: set[str], limit: float
) -> tuple[list[dict], float]:
    """Poll GET /v1/jobs/{id} until every job of `ids` is finished (or `limit` s passed)."""
    started = time.perf_counter()
    jobs: list[dict] = []
    while True:
        jobs = []
        for job_id in sorted(ids):
            response = http.get(f"{server.base}/v1/jobs/{job_id}", headers=headers)
            response.raise_for_status()
            jobs.append(response.json())
        waited = time.perf_counter() - started
        if all(j["status"] in FINISHED for j in jobs) or waited > limit:
            return jobs, waited
        time.sleep(POLL_S)


def _unfinished(listed: list[dict]) -> set[str]:
    return {j["id"] for j in listed if j.get("status") not in FINISHED}


def scenario_d(bench: Bench, server: Server) -> dict[str, Any]:
    """Sequential posts of `actuals_rows` rows each; then until the refits they started finish."""
    a = bench.args
    bodies = big_posts(bench.bottom, a.actuals_rows, a.actuals_posts)
    headers = {"Content-Type": "application/json", **bench.writer}
    times, answers = [], []
    with httpx.Client(timeout=120) as http:
        before = _job_list(http, server, bench.viewer)
        result: dict[str, Any] = {"jobs_endpoint": before is not None}
        if before is not None:  # earlier scenarios' refits first, so they are not counted here
            _, result["earlier_jobs_wait_s"] = _wait(
                http, server, bench.viewer, _unfinished(before), a.jobs_limit
            )
            before = _job_list(http, server, bench.viewer) or []
        for body in bodies:
            started = time.perf_counter()
            response = http.post(server.base + ACTUALS, content=body, headers=headers)
            times.append(time.perf_counter() - started)
            response.raise_for_status()
            answers.append(response.json())
        result.update(
            posts=len(bodies),
            rows=a.actuals_rows,
            median_s=statistics.median(times),
            max_s=max(times),
            times_s=times,
            scored_points=[r.get("scored_points") for r in answers],
        )
        print(f"d: {len(bodies)} posts of {a.actuals_rows} rows: {times}", flush=True)
        if before is None:
            return result
        ids = {
            str(r["refresh_href"]).rstrip("/").rsplit("/", 1)[-1]
            for r in answers
            if r.get("refresh_href")
        }
        if not ids:
            known = {j["id"] for j in before}
            ids = {
                j["id"] for j in _job_list(http, server, bench.viewer) or [] if j["id"] not in known
            }
        server.check_alive("the actuals posts")
        jobs, waited = _wait(http, server, bench.viewer, ids, a.jobs_limit)
        server.check_alive("the refit jobs")
    result.update(
        jobs=[
            {
                k: j.get(k)
                for k in (
                    "id",
                    "kind",
                    "status",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "result",
                    "error",
                )
            }
            for j in jobs
        ],
        jobs_done=bool(jobs) and all(j["status"] in FINISHED for j in jobs),
        jobs_wait_s=waited,
    )
    print(f"d: {len(jobs)} refit jobs, done {result['jobs_done']} after {waited:.1f} s", flush=True)
    return result
