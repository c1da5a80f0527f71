"""The bodies of a what-if scenario: the plan rows posted and the forecasts answered."""

from __future__ import annotations

import datetime as dt
import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.schema_types import PlausibleDate, Point, Strict

#: Largest magnitude of a planned price or other known-future value.
MAX_PLAN_VALUE = 1e12


class ScenarioRow(BaseModel):
    """A planned future row of one bottom series: its date and the values it changes.

    The fields besides unique_id and ds are the model's known-future variables (price, promo,
    ...; GET /v1/series/{id} does not list them, the error for a wrong one does). A variable
    left out keeps the assumed plan: last price carried forward, no promotion.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"unique_id": "shop-1@sourdough", "ds": "2026-01-05", "price": 3.2}]
        },
    )

    unique_id: str = Field(min_length=1, max_length=200)
    ds: PlausibleDate

    @model_validator(mode="after")
    def _numbers(self) -> ScenarioRow:
        for name, value in (self.model_extra or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or abs(value) > MAX_PLAN_VALUE:
                raise ValueError(f"{name} must be a finite number of at most {MAX_PLAN_VALUE:g}")
        return self

    @property
    def values(self) -> dict[str, float]:
        """The planned variables of this row."""
        return {name: float(value) for name, value in (self.model_extra or {}).items()}


class Scenario(Strict):
    """A what-if plan: future price/promotion rows; the forecast under it is answered next to
    the base one and kept in the ledger as a scenario, never scored as the official forecast."""

    name: str = Field(default="what-if", min_length=1, max_length=200)
    rows: list[ScenarioRow] = Field(min_length=1, max_length=10_000)


class ScenarioSeries(BaseModel):
    """The what-if forecast of one series."""

    unique_id: str
    level: str
    origin: dt.date
    points: list[Point]


class ScenarioForecasts(BaseModel):
    """The forecasts under a posted scenario, kept in the ledger apart from the scored ones."""

    name: str
    n_rows: int = Field(description="Plan rows posted.")
    note: str
    forecasts: list[ScenarioSeries]
