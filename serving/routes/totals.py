"""POST /v1/forecasts/totals: forecast totals over periods, with intervals and quantiles."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import LiveModelDep, ServiceDep, ViewerKey
from serving.errors import ERROR_RESPONSES
from serving.totals import TotalsRequest, TotalsResponse, forecast_totals

router = APIRouter(prefix="/v1", tags=["forecasts"], responses=ERROR_RESPONSES)


@router.post("/forecasts/totals", response_model=TotalsResponse)
def totals(
    body: TotalsRequest, service: ServiceDep, live: LiveModelDep, _: ViewerKey
) -> TotalsResponse:
    """Forecast totals over date ranges or named periods (next 7 days, week, month, ...).

    The total is the sum of the served daily forecasts; its bounds and quantiles come from the
    backtest errors of such sums (conformal), not from adding up daily bounds.
    """
    return forecast_totals(live, body, service.settings.max_series_per_request)
