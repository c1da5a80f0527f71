"""GET /v1/series/{unique_id}/plan: the future price and promotion the forecast assumes.

A what-if changes this plan for some bottom series and days (`POST /v1/forecasts` with a
`scenario`). For an aggregate the answer lists its bottom members, so a client can post, say,
"10 % off every item of this store on Saturday" as one scenario row per member and day.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from features.schema import BOTTOM_LEVEL, ID, TIME
from serving.deps import LiveModelDep, ViewerKey
from serving.errors import ERROR_RESPONSES, NotFound
from serving.routes.series import SeriesId  # noqa: F401  (registers the series_id path)
from serving.state import LiveModel
from serving.what_if import future_dates_of, known_future_columns

router = APIRouter(prefix="/v1", tags=["series"], responses=ERROR_RESPONSES)


class MemberPlan(BaseModel):
    """One bottom series' assumed value of each variable on each forecast date."""

    unique_id: str
    values: dict[str, list[float | None]]


class PlanResponse(BaseModel):
    """The assumed plan of a series' bottom members over the horizon."""

    unique_id: str
    level: str
    variables: list[str] = Field(description="Known-future variables the model reads.")
    dates: list[dt.date]
    members: list[MemberPlan]
    assumption: str


def members_of(live: LiveModel, unique_id: str) -> list[str]:
    """The bottom series inside `unique_id` (itself when it is one)."""
    if live.level_of[unique_id] == BOTTOM_LEVEL:
        return [unique_id]
    membership = live.bundle.membership
    if membership is None or membership.empty:
        return []
    columns = [c for c in membership.columns if c != ID]
    inside = np.zeros(len(membership), dtype=bool)
    for column in columns:
        inside |= membership[column].astype("str").to_numpy() == unique_id
    return sorted(membership.loc[inside, ID].astype("str").unique().tolist())


@router.get("/series/{unique_id:series_id}/plan", response_model=PlanResponse)
def series_plan(
    unique_id: str,
    live: LiveModelDep,
    _: ViewerKey,
    horizon: Annotated[int | None, Query(ge=1, le=366, description="Days; the model's")] = None,
) -> PlanResponse:
    """The price and promotion the base forecast assumes for the series' bottom members."""
    if unique_id not in live.level_of:
        raise NotFound(f"unknown series {unique_id!r}", "path.unique_id")
    horizon = horizon or int(live.model.h)
    variables = known_future_columns(live)
    members = members_of(live, unique_id)
    plan = live.model.default_future(horizon) if variables else None
    dates: list[dt.date] = []
    answered = []
    if plan is not None and members:
        # the served dates follow the live origin (moved forward by posted actuals); the
        # assumed values are the model's plan step by step (last price carried forward)
        served_dates = future_dates_of(live, set(members), horizon)
        dates = [d.date() for d in served_dates[members[0]]]
        plan = plan[plan[ID].isin(set(members))].sort_values([ID, TIME])
        for uid, part in plan.groupby(ID, sort=True):
            values = {
                v: [None if np.isnan(x) else float(x) for x in part[v].to_numpy("float64")]
                for v in variables
            }
            answered.append(MemberPlan(unique_id=str(uid), values=values))
    return PlanResponse(
        unique_id=unique_id,
        level=str(live.level_of[unique_id]),
        variables=variables,
        dates=dates,
        members=answered,
        assumption="each series' last known price carried forward, no promotion",
    )
