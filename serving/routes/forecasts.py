"""POST /v1/forecasts (JSON or CSV), POST /v1/forecasts/adhoc, GET /v1/forecasts/history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from serving import anticipation, ledger, new_products
from serving.accuracy import to_accuracy
from serving.adhoc import forecast_history
from serving.deps import LiveModelDep, ServiceDep, ViewerKey
from serving.errors import ERROR_RESPONSES, InvalidRequest, Overloaded
from serving.forecasting import (
    Served,
    compute,
    csv_body,
    json_body,
    ledger_item,
    points,
    scenario_body,
    series_points,
)
from serving.ledger_writer import LedgerFull
from serving.schemas import (
    AdhocRequest,
    AdhocResponse,
    ForecastHistoryResponse,
    ForecastRequest,
    ForecastResponse,
    PlausibleDate,
    Point,
    ServedForecast,
)
from serving.what_if import PlanRow, checked_plan, what_if

router = APIRouter(prefix="/v1", tags=["forecasts"], responses=ERROR_RESPONSES)

CSV = "text/csv"


@router.post(
    "/forecasts",
    response_model=ForecastResponse,
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}},
)
async def create_forecasts(
    request: Request,
    body: ForecastRequest,
    service: ServiceDep,
    live: LiveModelDep,
    key: ViewerKey,
    accept: Annotated[str | None, Header(description=f"`{CSV}` for CSV rows")] = None,
) -> Response:
    """Forecasts with intervals and the anticipation metric; every answer is logged.

    Runs on the event loop: the forecast is an index into precomputed arrays (a few ms), so
    threads would only add GIL hand-offs. Only a cache miss of the anticipation reads the ledger,
    in a worker thread.
    """
    settings = service.settings
    book = (
        None
        if set(body.unique_ids) <= set(live.level_of)
        else await run_in_threadpool(service.new_products.book, service.engine)
    )
    ids, new, horizon = new_products.checked_ids(
        live, book, body.unique_ids, body.horizon, settings.max_series_per_request
    )
    served = compute(live, ids, horizon, body.levels, body.quantiles)
    answers = [served]
    if new:
        assert book is not None
        if body.scenario is not None:
            raise InvalidRequest(
                f"a scenario plans the trained series; {new[0]!r} is a new product: forecast "
                "it in a request of its own",
                "body.scenario",
            )
        launched, marks = new_products.compute_new(live, book, new, horizon, body.levels)
        answers = [served, launched] if ids else [launched]
    request_id = request.state.request_id
    try:
        for answer in answers:
            service.record_served(ledger_item(live, answer, request_id, key.id))
    except LedgerFull as err:
        raise Overloaded(str(err)) from None
    service.metrics.forecasts_served(len(ids) + len(new))
    scenario = None
    if body.scenario is not None:
        scenario = await run_in_threadpool(
            _scenario, service, live, body, ids, horizon, served, request_id, key.id
        )
    if accept and CSV in accept and "json" not in accept:
        text = csv_body(live, served, scenario) if ids else ""
        if new:  # the new products' rows under the same header
            rows = csv_body(live, launched)
            text += rows if not text else rows.split("\n", 1)[1]
        return Response(text, media_type=CSV)
    found = service.anticipation.cached(live, ids) if ids else {}
    if found is None:
        found = await run_in_threadpool(service.anticipation.get, service.engine, live, ids)
    body_json = json_body(live, served, request_id, found, anticipation.DRIFT_RULE)
    if new:
        extra = await run_in_threadpool(
            new_products.json_forecasts, service.engine, live, launched, marks
        )
        order = {uid: i for i, uid in enumerate(dict.fromkeys(body.unique_ids))}
        both = body_json["forecasts"] + extra if ids else extra
        body_json["forecasts"] = sorted(both, key=lambda f: order[f["unique_id"]])
    if scenario is not None:
        body_json["scenario"] = scenario_body(body.scenario, scenario)
    return JSONResponse(body_json)


def _scenario(
    service: ServiceDep,
    live: LiveModelDep,
    body: ForecastRequest,
    ids: list[str],
    horizon: int,
    base: Served,
    request_id: str,
    api_key_id: int | None,
) -> Served:
    """The what-if forecast of the posted plan, stored in the ledger as a scenario."""
    plan = body.scenario
    rows = [PlanRow(r.unique_id, pd.Timestamp(r.ds), r.values) for r in plan.rows]
    rows = checked_plan(live, rows, horizon, "body.scenario.rows")
    served = what_if(live, ids, horizon, body.levels, rows)
    record = ledger.ScenarioRecord(
        request_id=request_id,
        served_at=base.served_at,
        model_name=live.name,
        model_version=live.version,
        api_key_id=api_key_id,
        name=plan.name,
        plan=[{"unique_id": r.unique_id, "ds": r.ds.date().isoformat(), **r.values} for r in rows],
        forecast=series_points(served),
    )
    service.writes.run(ledger.log_scenario, record)
    return served


@router.post("/forecasts/adhoc", response_model=AdhocResponse)
def adhoc(body: AdhocRequest, service: ServiceDep, _: ViewerKey) -> AdhocResponse:
    """Forecast a posted history with a fast automatic model; nothing is stored."""
    limit = service.settings.adhoc_max_points
    if len(body.history) > limit:
        raise InvalidRequest(
            f"at most {limit} history points, got {len(body.history)}", "body.history"
        )
    try:
        result = forecast_history(
            [(p.ds, p.y) for p in body.history], body.freq, body.horizon, body.levels
        )
    except ValueError as err:
        raise InvalidRequest(str(err), "body.history") from None
    return AdhocResponse(
        model=result.model,
        freq=body.freq,
        points=[Point(**p) for p in points(result.forecast)],
        expected=to_accuracy(result.expected),
    )


@router.get("/forecasts/history", response_model=ForecastHistoryResponse)
def served_history(
    service: ServiceDep,
    _: ViewerKey,
    unique_id: Annotated[str, Query(min_length=1)],
    as_of: Annotated[
        PlausibleDate | None, Query(description="Up to this day (today if left out)")
    ] = None,
) -> ForecastHistoryResponse:
    """Exactly what was served for a series up to `as_of`, with which model version."""
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    service.writer.flush(15.0)  # what was answered is in the audit trail
    served = ledger.served_history(service.engine, unique_id, pd.Timestamp(as_of))
    forecasts = []
    if len(served):
        for request_id, part in served.groupby("request_id", sort=False):
            first = part.iloc[0]
            columns = [c for c in part.columns if c in ("ds", "yhat") or c.startswith("yhat_")]
            kept = part[columns].dropna(axis=1, how="all")
            forecasts.append(
                ServedForecast(
                    request_id=str(request_id),
                    served_at=pd.Timestamp(first["served_at"]).to_pydatetime(),
                    model_version=str(first["model_version"]),
                    origin=pd.Timestamp(first["origin"]).date(),
                    points=[Point(**p) for p in points(kept)],
                )
            )
    return ForecastHistoryResponse(unique_id=unique_id, as_of=as_of, forecasts=forecasts)
