"""GET /v1/overview, /v1/series/{unique_id}/history and /v1/accuracy/trend: the planner's pages.

Included before the series router: its `{unique_id:series_id}` takes any path, `/history` too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from serving import ledger
from serving.accuracy_trend import trend
from serving.deps import LiveModelDep, ServiceDep, ViewerKey
from serving.errors import ERROR_RESPONSES
from serving.overview import checked_days, history_of, overview
from serving.overview_schemas import OverviewResponse, SeriesHistory, TrendResponse
from serving.routes.series import SeriesId  # noqa: F401  (registers the series_id convertor)
from serving.schemas import PlausibleDate

router = APIRouter(prefix="/v1", tags=["overview"], responses=ERROR_RESPONSES)

#: Overview answers kept per snapshot (one per `days` and ledger revision).
KEPT = 4


@router.get("/overview", response_model=OverviewResponse)
async def get_overview(
    service: ServiceDep,
    live: LiveModelDep,
    _: ViewerKey,
    days: Annotated[int, Query(description="Periods ahead and back (at most the horizon)")] = 7,
) -> JSONResponse:
    """Every series: next `days` against the last ones, trust, drift and stock-out flags, the
    series needing attention first, and the rules behind them.

    Computed once per model snapshot, `days` and revision of the actuals (a post of actuals
    scores forecasts); concurrent requests share one computation.
    """
    checked_days(live, days)
    revision = await run_in_threadpool(ledger.actuals_mark, service.engine)
    key = (days, revision)
    kept = live.__dict__.setdefault("_overview", {})
    body = kept.get(key)
    if body is None:
        body = await run_in_threadpool(
            service.reports.get,
            ("overview", live.version, id(live), key),
            lambda: overview(service.engine, live, days),
        )
        if len(kept) >= KEPT:
            kept.clear()
        kept[key] = body
    return JSONResponse(body)


@router.get("/series/{unique_id:series_id}/history", response_model=SeriesHistory)
def get_history(
    unique_id: str,
    live: LiveModelDep,
    _: ViewerKey,
    days: Annotated[int, Query(ge=1, le=3660, description="Last observed periods")] = 120,
) -> JSONResponse:
    """Observed sales of a series (aggregates too), moved forward with posted actuals, and the
    days its opening calendar has closed."""
    return JSONResponse(history_of(live, unique_id, days))


@router.get("/accuracy/trend", response_model=TrendResponse)
def get_trend(
    service: ServiceDep,
    live: LiveModelDep,
    _: ViewerKey,
    by: Annotated[str, Query(description="level, store, category (one-attribute levels)")] = (
        "store"
    ),
    period: Annotated[Literal["D", "W", "M"], Query(description="Day, week, month")] = "W",
    since: Annotated[PlausibleDate | None, Query(description="Target dates from this day")] = None,
) -> JSONResponse:
    """Realized accuracy per group and period from the scored forecasts, next to the
    backtest's promise for the group; an empty list before anything is scored."""
    revision = ledger.actuals_mark(service.engine)
    body = service.reports.get(
        ("trend", live.version, id(live), by, period, since, revision),
        lambda: trend(service.engine, live, by, period, since),
    )
    return JSONResponse(body)
