"""Types the API's bodies share: dates, quantities, interval levels, a forecast point."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

#: Largest quantity accepted for one period: far above any real sale, far below float overflow.
MAX_QUANTITY = 1e12


def _as_utc(value: dt.datetime) -> dt.datetime:
    """The ledger stores naive UTC; the API always answers with an explicit offset."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_as_utc)]
#: An interval level in percent (a number: "80" or true are refused, not converted).
IntervalLevel = Annotated[int, Field(ge=1, le=99, strict=True)]
#: The dates the API accepts: sales and forecasts of this world, and far enough from the ends of
#: the calendar that a forecast from them never passes what dates can hold.
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)


def _iso_date(value: Any) -> Any:
    """Dates come as ISO strings (YYYY-MM-DD): a number is not read as seconds since 1970."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return value
    raise ValueError("a date is written YYYY-MM-DD")


def _plausible(value: dt.date) -> dt.date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"{value} is outside the dates accepted, {EARLIEST_DATE} to {LATEST_DATE}")
    return value


PlausibleDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    AfterValidator(_plausible),
    Field(description=f"A date YYYY-MM-DD from {EARLIEST_DATE} to {LATEST_DATE}."),
]
#: A quantity sold: a JSON number, 0 or more (false or "5" are refused, not converted).
Quantity = Annotated[float, Field(ge=0, le=MAX_QUANTITY, allow_inf_nan=False, strict=True)]


def _check_levels(interval_levels: list[int]) -> list[int]:
    bad = [level for level in interval_levels if not 0 < level < 100]
    if bad:
        raise ValueError(f"interval levels are percentages between 1 and 99, got {bad}")
    return sorted(set(interval_levels))


class Strict(BaseModel):
    """Bodies reject unknown fields, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Point(BaseModel):
    """One forecast period: the date, the point forecast and one bound pair per level."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "ds": "2026-11-28",
                    "yhat": 41.2,
                    "yhat_lo_80": 33.0,
                    "yhat_hi_80": 49.8,
                    "yhat_lo_95": 28.9,
                    "yhat_hi_95": 54.1,
                }
            ]
        },
    )

    ds: dt.date
    yhat: float
