"""POST /v1/actuals: store sales that became known; scoring is immediate, refits follow."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi import APIRouter

from features.schema import ID, TARGET, TIME
from serving import ledger
from serving.deps import LiveModelDep, ServiceDep, WriterKey
from serving.errors import ERROR_RESPONSES, DuplicateRows, InvalidRequest, Overloaded
from serving.new_products import new_series_of_post
from serving.schemas import ActualsRequest, ActualsResponse
from serving.write_process import WriterLost

router = APIRouter(prefix="/v1", tags=["actuals"], responses=ERROR_RESPONSES)


@router.post("/actuals", response_model=ActualsResponse)
def post_actuals(
    body: ActualsRequest, service: ServiceDep, live: LiveModelDep, _: WriterKey
) -> ActualsResponse:
    """Upsert actual sales and score the served forecasts they complete.

    The answer comes as soon as the rows are stored and scored; the series they extend are
    refitted after it, in a background `refresh` job (`GET /v1/jobs?kind=refresh`). Rows of
    a new series are accepted with its `attributes`; it is then forecast as a new product.
    """
    rows = pd.DataFrame(
        {
            ID: [r.unique_id for r in body.rows],
            TIME: pd.to_datetime([r.ds for r in body.rows]),
            TARGET: [float(r.y) for r in body.rows],
        }
    )
    registered = set()
    if not set(rows[ID]) <= set(live.level_of):
        registered = service.new_products.book(service.engine).ids
    new_series = new_series_of_post(live, rows, body.attributes, registered)
    duplicated = rows.duplicated([ID, TIME], keep="first")
    if duplicated.any():
        index = int(np.flatnonzero(duplicated)[0])
        raise DuplicateRows(
            f"row {index} repeats ({rows[ID].iloc[index]}, {rows[TIME].iloc[index].date()})",
            f"body.rows.{index}",
        )
    try:
        result = service.writes.run(ledger.upsert_actuals, rows, new_series)
    except ValueError as err:
        raise InvalidRequest(str(err), "body.rows") from None
    except WriterLost as err:  # the post is idempotent: sending it again is safe
        raise Overloaded(str(err)) from None
    service.metrics.actuals_ingested(len(rows))
    job_id = None
    if result.changed_ids:
        job_id = service.actuals_posted(result.changed_ids)
    return ActualsResponse(
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        scored_points=result.scored_points,
        refresh_href="/v1/jobs?kind=refresh" if job_id is None else f"/v1/jobs/{job_id}",
    )
