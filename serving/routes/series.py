"""GET /v1/series and /v1/series/{unique_id}: what the model forecasts (ids may contain `/`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request
from starlette.convertors import Convertor, register_url_convertor

from features.schema import HIERARCHY_LEVEL, ID, TIME
from serving import new_products
from serving.deps import LiveModelDep, ServiceDep, ViewerKey
from serving.errors import ERROR_RESPONSES, InvalidRequest, NotFound
from serving.schemas import SeriesInfo, SeriesPage
from serving.service import Service
from serving.state import LiveModel


class SeriesId(Convertor[str]):
    """A path segment that is a whole series id: `/` (aggregates such as `store=a/category=b`)
    and any other character, newlines included, so every id reaches the route (and its key check).
    """

    regex = "(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("series_id", SeriesId())
router = APIRouter(prefix="/v1", tags=["series"], responses=ERROR_RESPONSES)

#: Columns of the series table that are not attributes.
NOT_ATTRIBUTES = {
    ID,
    HIERARCHY_LEVEL,
    "first_ds",
    "last_ds",
    "n_observations",
    "members",
    "method",
}


@router.get("/series", response_model=SeriesPage)
def list_series(
    request: Request,
    service: ServiceDep,
    live: LiveModelDep,
    _: ViewerKey,
    level: Annotated[str | None, Query(description="Hierarchy level, e.g. store")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SeriesPage:
    """Series the model forecasts; filter by level and by attributes (`?store=shop-1`)."""
    table = with_new_series(series_table(live), service, live)
    filters = {
        k: v for k, v in request.query_params.items() if k not in {"level", "limit", "offset"}
    }
    attributes = [c for c in table.columns if c not in NOT_ATTRIBUTES]
    unknown = sorted(set(filters) - set(attributes))
    if unknown:
        raise InvalidRequest(
            f"unknown filter(s) {unknown}; filter by level or by {attributes}",
            f"query.{unknown[0]}",
        )
    known_levels = sorted(table[HIERARCHY_LEVEL].unique())
    if level is not None and level not in known_levels:
        raise InvalidRequest(f"unknown level {level!r}; levels: {known_levels}", "query.level")
    rows = table if level is None else table[table[HIERARCHY_LEVEL] == level]
    for column, value in filters.items():
        rows = rows[rows[column].astype("str") == value]
    total = len(rows)
    page = rows.iloc[offset : offset + limit]
    items = [series_info(row, attributes) for row in page.to_dict("records")]
    next_offset = offset + limit if offset + limit < total else None
    return SeriesPage(items=items, total=total, limit=limit, offset=offset, next_offset=next_offset)


@router.get("/series/{unique_id:series_id}", response_model=SeriesInfo)
def get_series(unique_id: str, service: ServiceDep, live: LiveModelDep, _: ViewerKey) -> SeriesInfo:
    """One series: level, attributes, observed span (aggregate ids such as `a=1/b=2` work)."""
    table = series_table(live)
    if unique_id not in table.index:
        table = with_new_series(table, service, live)
    if unique_id not in table.index:
        raise NotFound(f"unknown series {unique_id!r}", "path.unique_id")
    attributes = [c for c in table.columns if c not in NOT_ATTRIBUTES]
    return series_info(table.loc[unique_id].to_dict() | {ID: unique_id}, attributes)


def series_table(live: LiveModel) -> pd.DataFrame:
    """Per series: level, attributes, observed span and member count; cached on the snapshot."""
    table = live.__dict__.get("_series")
    if table is not None:
        return table
    span = live.history.groupby(ID, sort=False)[TIME].agg(["min", "max", "size"])
    span.columns = ["first_ds", "last_ds", "n_observations"]
    table = (
        live.bundle.hierarchy_levels[[ID, HIERARCHY_LEVEL]]
        .drop_duplicates(ID)
        .set_index(ID, drop=False)
    )
    table = table.join(span)
    attributes = live.bundle.attributes
    if attributes is not None:
        extra = attributes.drop_duplicates(ID).set_index(ID)
        table = table.join(extra[[c for c in extra.columns if c not in table.columns]])
    membership = live.bundle.membership
    if membership is not None:
        counts = pd.concat([membership.groupby(c).size() for c in membership.columns if c != ID])
        counts = counts[~counts.index.duplicated()]
        table["members"] = counts.reindex(table.index)
    live.__dict__["_series"] = table
    return table


def with_new_series(table: pd.DataFrame, service: Service, live: LiveModel) -> pd.DataFrame:
    """The series table with the new series (new products) the model does not know yet."""
    extra = new_products.series_rows(live, service.new_products.book(service.engine))
    if extra.empty:
        return table
    return pd.concat([table, extra[[c for c in extra.columns if c]]], sort=False)


def series_info(row: dict[str, Any], attributes: list[str]) -> SeriesInfo:
    """A SeriesInfo from a row of the series table."""

    def date(value: Any) -> dt.date | None:
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date()

    members = row.get("members")
    return SeriesInfo(
        unique_id=str(row[ID]),
        level=str(row[HIERARCHY_LEVEL]),
        attributes={
            a: str(row[a])
            for a in attributes
            if a in row and row[a] is not None and not pd.isna(row[a])
        },
        first_ds=date(row.get("first_ds")),
        last_ds=date(row.get("last_ds")),
        n_observations=int(row.get("n_observations") or 0),
        members=None if members is None or pd.isna(members) else int(members),
        method=row.get("method") if isinstance(row.get("method"), str) else None,
    )
