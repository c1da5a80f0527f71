"""POST /v1/admin/reload and POST /v1/retrain: for operators (admin keys)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import AdminKey, ServiceDep
from serving.errors import ERROR_RESPONSES, Busy
from serving.retrain_job import RetrainBusy, start_retrain
from serving.schemas import ReloadResponse, RetrainResponse

router = APIRouter(prefix="/v1", tags=["admin"], responses=ERROR_RESPONSES)


@router.post("/admin/reload", response_model=ReloadResponse)
def reload(service: ServiceDep, _: AdminKey) -> ReloadResponse:
    """Load the current champion now; the previous model stays if the new one fails."""
    changed = service.load(None)
    live = service.holder.current
    return ReloadResponse(
        model_name=service.holder.name,
        model_version=live.version if live else None,
        changed=changed,
        error=service.holder.last_error,
    )


@router.post("/retrain", response_model=RetrainResponse, status_code=202)
def retrain(service: ServiceDep, _: AdminKey) -> RetrainResponse:
    """Start a retraining in the background; follow it at /v1/jobs/{id}."""
    try:
        job_id = start_retrain(service)
    except RetrainBusy as err:
        raise Busy(str(err)) from None
    return RetrainResponse(job_id=job_id, status="queued", href=f"/v1/jobs/{job_id}")
