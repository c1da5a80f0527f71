"""GET /v1/jobs and /v1/jobs/{id}: background retrains and refits, their progress and result."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from serving import jobs_store
from serving.deps import ServiceDep, ViewerKey
from serving.errors import ERROR_RESPONSES, NotFound
from serving.schemas import Job, JobPage

router = APIRouter(prefix="/v1", tags=["jobs"], responses=ERROR_RESPONSES)


@router.get("/jobs", response_model=JobPage)
def list_jobs(
    service: ServiceDep,
    _: ViewerKey,
    kind: Annotated[Literal["retrain", "refresh", "import"] | None, Query()] = None,
    status: Annotated[Literal["queued", "running", "succeeded", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobPage:
    """Jobs, newest first: retrains (`POST /v1/retrain`), refits after actuals, import builds."""
    found = jobs_store.list_jobs(service.engine, limit=limit, kind=kind, status=status)
    return JobPage(items=[Job(**job) for job in found])


@router.get("/jobs/{job_id}", response_model=Job)
def get_job(job_id: str, service: ServiceDep, _: ViewerKey) -> Job:
    """A background job's progress and result."""
    found = jobs_store.get_job(service.engine, job_id)
    if found is None:
        raise NotFound(f"unknown job {job_id!r}", "path.job_id")
    return Job(**found)
