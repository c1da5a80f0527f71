"""GET /health, /ready and /metrics: for load balancers, orchestrators and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from serving.db import check as check_database
from serving.deps import ServiceDep
from serving.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health)
async def health(service: ServiceDep) -> Health:
    """Liveness: the process answers (and which model version it serves, if any)."""
    live = service.holder.current
    return Health(status="ok", model_version=live.version if live else None)


@router.get("/ready", response_model=Health, responses={503: {"model": Health}})
async def ready(service: ServiceDep) -> Response:
    """Readiness: a model is loaded and the ledger database answers.

    200 "degraded" when the served model is not the champion because the champion does not
    load (an earlier one serves; `checks.champion` names the version, the file and the fault).
    """
    checks = {}
    live = service.holder.current
    checks["model"] = (
        f"{live.name} version {live.version}" if live else service.holder.last_error or "none"
    )
    try:
        await run_in_threadpool(check_database, service.engine)
        checks["database"] = "ok"
    except Exception as err:  # report, do not crash
        checks["database"] = f"{type(err).__name__}: {err}"
    checks["ledger_queue"] = str(service.writer.depth)
    if live is not None:
        info = service.holder.load_info
        checks["snapshot"] = "used" if info.get("snapshot") else "none"
        checks["refitted_at_load"] = str(info.get("moved_at_load", 0))
    ok = live is not None and checks["database"] == "ok"
    degraded = service.holder.degraded
    if degraded:
        checks["champion"] = degraded
    body = Health(
        status=("degraded" if degraded else "ok") if ok else "not ready",
        model_version=live.version if live else None,
        checks=checks,
    )
    return JSONResponse(jsonable_encoder(body), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
async def prometheus(service: ServiceDep) -> Response:
    """Prometheus metrics: request latency, forecasts served, actuals ingested, model, shed."""
    body, content_type = service.metrics.render()
    return Response(body, media_type=content_type)
