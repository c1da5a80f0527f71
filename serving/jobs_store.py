"""Background jobs (retrains) in the database, so their progress survives a page reload and a
restart tells the truth about jobs it cut short."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Engine, insert, select, update

from serving.db import STATUSES, Job, utcnow, write_transaction

__all__ = ["STATUSES", "create_job", "get_job", "list_jobs", "mark_interrupted", "update_job"]

#: Fields `update_job` may set.
FIELDS = ("status", "stage", "progress", "started_at", "finished_at", "result", "error")
FINISHED = ("succeeded", "failed")
INTERRUPTED = "server stopped"


def create_job(engine: Engine, kind: str) -> str:
    """Queue a job of `kind` (e.g. 'retrain'); returns its id (uuid4 hex)."""
    if not kind:
        raise ValueError("a job needs a kind, e.g. 'retrain'")
    job_id = uuid.uuid4().hex
    with write_transaction(engine) as connection:
        connection.execute(
            insert(Job).values(
                id=job_id, kind=kind, status="queued", stage="", progress=0.0, created_at=utcnow()
            )
        )
    return job_id


def update_job(engine: Engine, job_id: str, **fields: Any) -> None:
    """Set `fields` of a job; entering 'running' or a final status stamps the time if not given.

    `result` is any JSON-serialisable value. Unknown fields or statuses raise ValueError, an
    unknown job KeyError.
    """
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"jobs have no field(s) {unknown}; settable: {list(FIELDS)}")
    status = fields.get("status")
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown job status {status!r}; statuses are {list(STATUSES)}")
    if "progress" in fields and not 0.0 <= float(fields["progress"]) <= 1.0:
        raise ValueError(f"progress must lie in [0, 1], got {fields['progress']}")
    values = dict(fields)
    if status == "running":
        values.setdefault("started_at", utcnow())
    if status in FINISHED:
        values.setdefault("finished_at", utcnow())
    if "result" in values and values["result"] is not None:
        values["result"] = json.dumps(values["result"])
    with write_transaction(engine) as connection:
        result = connection.execute(update(Job).where(Job.id == job_id).values(**values))
    if result.rowcount != 1:
        raise KeyError(job_id)


def _decoded(row: Any) -> dict[str, Any]:
    job = dict(row)
    job["result"] = None if job["result"] is None else json.loads(job["result"])
    return job


def get_job(engine: Engine, job_id: str) -> dict[str, Any] | None:
    """The job as a dict (result decoded from JSON), or None if there is no such job."""
    with engine.connect() as connection:
        row = connection.execute(select(Job).where(Job.id == job_id)).mappings().first()
    return None if row is None else _decoded(row)


def list_jobs(
    engine: Engine, *, limit: int = 50, kind: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """The newest `limit` jobs (of `kind`, in `status` when given), newest first, as `get_job`."""
    if not 1 <= int(limit) <= 1000:
        raise ValueError(f"limit must lie between 1 and 1000, got {limit}")
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown job status {status!r}; statuses are {list(STATUSES)}")
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(int(limit))
    if kind is not None:
        query = query.where(Job.kind == kind)
    if status is not None:
        query = query.where(Job.status == status)
    with engine.connect() as connection:
        return [_decoded(row) for row in connection.execute(query).mappings()]


def mark_interrupted(engine: Engine) -> int:
    """At start-up: jobs a dead server left queued or running become failed ("server stopped").

    Returns how many were marked. Jobs run in the server process, so none can still be alive.
    """
    with write_transaction(engine) as connection:
        result = connection.execute(
            update(Job)
            .where(Job.status.in_(("queued", "running")))
            .values(status="failed", error=INTERRUPTED, finished_at=utcnow())
        )
    return result.rowcount
