"""GET /v1/accuracy: realized accuracy of served forecasts next to what the backtest promised."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serving import anticipation, ledger
from serving.accuracy import backtest_of, groups
from serving.deps import LiveModelDep, ServiceDep, ViewerKey
from serving.errors import ERROR_RESPONSES
from serving.schemas import AccuracyResponse, PlausibleDate

router = APIRouter(prefix="/v1", tags=["actuals"], responses=ERROR_RESPONSES)


@router.get("/accuracy", response_model=AccuracyResponse)
def get_accuracy(
    service: ServiceDep,
    live: LiveModelDep,
    _: ViewerKey,
    unique_id: str | None = None,
    level: Annotated[str | None, Query(description="Hierarchy level, e.g. store")] = None,
    model_version: str | None = None,
    since: Annotated[PlausibleDate | None, Query(description="Target dates from this day")] = None,
) -> AccuracyResponse:
    """Realized accuracy by series, level, model version and step, next to expected.

    Requests for the same report within a second share one computation (at most a second
    older than the ledger).
    """
    filters = {
        "unique_id": unique_id,
        "level": level,
        "model_version": model_version,
        "since": since.isoformat() if since else None,
    }
    # No wait for the ledger writer: a forecast written after the actuals of its dates is scored
    # as it is written, so at most the last moment's answers are missing, and a read that waited
    # for the write queue held a thread behind every actuals post (shedding under load).
    key = (live.version, unique_id, level, model_version, since)
    report = service.reports.get(
        key,
        lambda: ledger.accuracy_report(
            service.engine,
            expected=backtest_of(live),
            unique_id=unique_id,
            hierarchy_level=level,
            model_version=model_version,
            since=since,
        ),
    )
    answer = {"filters": filters, "rule": anticipation.DRIFT_RULE}
    if report.empty:
        return AccuracyResponse(
            **answer, overall=None, by_series=[], by_level=[], by_model_version=[], by_step=[]
        )
    found = {}
    for name, by in report.by.items():
        part = getattr(report, name)
        found[name] = groups(part.realized, by, part.expected, part.drift)
    overall = found.pop("overall")
    return AccuracyResponse(**answer, overall=overall[0] if overall else None, **found)
