"""Background jobs in the database: their life cycle, and what a restart does to them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from serving.db import make_engine, migrate
from serving.jobs_store import create_job, get_job, list_jobs, mark_interrupted, update_job


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_a_job_round_trips(engine: Engine) -> None:
    """Queued, running with progress, succeeded with a JSON result; times are stamped."""
    job_id = create_job(engine, "retrain")
    job = get_job(engine, job_id)
    assert job is not None
    assert (job["id"], job["kind"], job["status"], job["progress"]) == (
        job_id, "retrain", "queued", 0.0,
    )  # fmt: skip
    assert job["started_at"] is None and job["result"] is None
    update_job(engine, job_id, status="running", stage="Backtesting", progress=0.5)
    running = get_job(engine, job_id)
    assert running is not None and running["started_at"] is not None
    assert (running["stage"], running["progress"]) == ("Backtesting", 0.5)
    update_job(engine, job_id, status="succeeded", progress=1.0, result={"version": "4"})
    done = get_job(engine, job_id)
    assert done is not None
    assert done["result"] == {"version": "4"}
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]
    assert get_job(engine, "nope") is None


def test_bad_updates_are_refused(engine: Engine) -> None:
    """Unknown fields, statuses, progress out of [0, 1], unknown jobs."""
    job_id = create_job(engine, "retrain")
    with pytest.raises(ValueError, match=r"no field\(s\) \['colour'\]"):
        update_job(engine, job_id, colour="red")
    with pytest.raises(ValueError, match="unknown job status 'done'"):
        update_job(engine, job_id, status="done")
    with pytest.raises(ValueError, match="progress must lie in"):
        update_job(engine, job_id, progress=1.5)
    with pytest.raises(KeyError):
        update_job(engine, "nope", stage="x")
    with pytest.raises(ValueError, match="needs a kind"):
        create_job(engine, "")


def test_mark_interrupted_fails_what_a_dead_server_left_unfinished(engine: Engine) -> None:
    """Running and queued jobs become failed "server stopped"; finished ones are untouched."""
    running, queued, finished = (create_job(engine, "retrain") for _ in range(3))
    update_job(engine, running, status="running")
    update_job(engine, finished, status="succeeded", result={"ok": True})
    assert mark_interrupted(engine) == 2
    for job_id in (running, queued):
        job = get_job(engine, job_id)
        assert job is not None
        assert (job["status"], job["error"]) == ("failed", "server stopped")
        assert job["finished_at"] is not None
    kept = get_job(engine, finished)
    assert kept is not None and (kept["status"], kept["error"]) == ("succeeded", None)
    assert mark_interrupted(engine) == 0


def test_list_jobs_newest_first_filtered_by_kind_and_status(engine: Engine) -> None:
    """Newest first, at most `limit`; kind and status narrow it; bad arguments are named."""
    made = [create_job(engine, kind) for kind in ("retrain", "refresh", "refresh", "retrain")]
    update_job(engine, made[1], status="succeeded")
    assert [job["id"] for job in list_jobs(engine)] == made[::-1]
    assert [job["id"] for job in list_jobs(engine, limit=2)] == made[:1:-1]
    assert [job["id"] for job in list_jobs(engine, kind="refresh")] == [made[2], made[1]]
    done = list_jobs(engine, kind="refresh", status="succeeded")
    assert [(job["id"], job["result"]) for job in done] == [(made[1], None)]
    assert list_jobs(engine, kind="nothing") == []
    with pytest.raises(ValueError, match="unknown job status 'done'"):
        list_jobs(engine, status="done")
    with pytest.raises(ValueError, match="limit must lie between 1 and 1000, got 0"):
        list_jobs(engine, limit=0)
