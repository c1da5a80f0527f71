"""The forecast API: forecasts with the anticipation metric, the forecast ledger, actuals, jobs.

    uvicorn --factory serving.app:create_app      (or: anticipate serve)

`create_app(settings)` builds the app from the settings object (tests and notebooks pass their
own): one `Service` (model, ledger, workers), the routers of `serving.routes`, the middleware
and the offline docs. Every client mistake is a 4xx with a JSON body naming the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from starlette.concurrency import run_in_threadpool

from anticipate.settings import Settings, get_settings
from serving import ledger
from serving.docs import install_docs
from serving.errors import install_error_handlers
from serving.middleware import AdmissionControl, BodyLimit, RequestContext
from serving.routes import ROUTERS
from serving.routes.imports import UPLOAD_PATHS
from serving.schemas import ErrorBody
from serving.service import Service
from serving.web import install_web

log = logging.getLogger("anticipate.serving")

DESCRIPTION = (
    "Every forecast comes with its anticipation metric: the accuracy the backtest promised "
    "(expected) and the accuracy the served forecasts turned out to have once actual sales "
    "arrived (realized), with a drift flag. Authenticate with an API key in the `X-API-Key` "
    "header or as a bearer token (`anticipate keys create --role viewer|writer|admin`)."
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API wired to the settings' MLflow registry and ledger database."""
    settings = settings or get_settings()
    service = Service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)
        tasks = []
        if settings.model_poll_seconds > 0:
            tasks.append(asyncio.create_task(_every(settings.model_poll_seconds, service.poll)))
        if settings.ledger_retention_days is not None:
            tasks.append(asyncio.create_task(_every(3600.0, lambda: _prune(service))))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await run_in_threadpool(service.stop)

    app = FastAPI(
        title="Anticipate",
        version="1",
        summary="Demand forecasts for small businesses, and how far to trust them.",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={500: {"model": ErrorBody}},
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "Accept"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        upload_paths=UPLOAD_PATHS,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_min_bytes)
    app.add_middleware(AdmissionControl, limit=settings.max_in_flight, metrics=service.metrics)
    app.add_middleware(RequestContext, metrics=service.metrics)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_docs(app)
    install_web(app)
    return app


async def _every(seconds: float, work) -> None:  # type: ignore[no-untyped-def]
    """Run `work` in a worker thread every `seconds`, whatever it raises."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await run_in_threadpool(work)
        except Exception:  # keep going: the next round may succeed
            log.exception("background task %s failed", getattr(work, "__name__", work))


def _prune(service: Service) -> int:
    """Drop served points older than the retention; aggregated accuracy is kept."""
    days = service.settings.ledger_retention_days
    assert days is not None
    cutoff = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)
    removed = service.writes.run(ledger.prune_served, older_than=cutoff)
    if removed:
        log.info("ledger retention: removed %d served points before %s", removed, cutoff.date())
    return removed
