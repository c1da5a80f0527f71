"""Request and response bodies of the forecast API (pydantic), with the examples the docs show."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.scenario_schemas import Scenario, ScenarioForecasts
from serving.schema_types import (
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_QUANTITY,
    IntervalLevel,
    PlausibleDate,
    Point,
    Quantity,
    Strict,
    UtcDatetime,
    _check_levels,
)
from training.base import central_interval_of, level_name
from training.errors import TrainingError

__all__ = [
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_QUANTITY",
    "IntervalLevel",
    "PlausibleDate",
    "Point",
    "Quantity",
    "Scenario",
    "ScenarioForecasts",
    "Strict",
    "UtcDatetime",
]


#: A probability level in percent, strictly between 0 and 100 (2.5, 50, 97.5, 99.9 ...).
Percent = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False, strict=True)]


def checked_quantiles(quantiles: list[float]) -> list[float]:
    """Sorted unique quantile levels whose central interval exists (not 0 or 100 once rounded)."""
    try:
        for q in quantiles:
            central_interval_of(q)
    except TrainingError as err:
        raise ValueError(str(err)) from None
    return sorted({float(level_name(q)) for q in quantiles})


class ForecastRequest(Strict):
    """Which series, how far ahead and which prediction intervals."""

    unique_ids: list[str] = Field(min_length=1, description="Series ids, any hierarchy level.")
    horizon: int | None = Field(
        default=None,
        ge=1,
        strict=True,
        description="Periods ahead, at most the model's (its horizon if left out).",
    )
    levels: list[IntervalLevel] = Field(default_factory=lambda: [80, 95], max_length=10)
    scenario: Scenario | None = Field(
        default=None,
        description="A what-if plan of future price/promotion; its forecast comes next to the "
        "base one under `scenario` and is not scored.",
    )
    quantiles: list[Percent] = Field(
        default_factory=list,
        max_length=20,
        description="Quantile levels in percent, answered per point as `quantiles` "
        '{"2.5": value, ...}: q > 50 is the upper bound of the central interval at 2q - 100, '
        "q < 50 the lower bound at 100 - 2q, q = 50 the point forecast (yhat).",
    )

    _levels = field_validator("levels")(_check_levels)
    _quantiles = field_validator("quantiles")(checked_quantiles)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"unique_ids": ["bakery-1@croissant", "total"], "horizon": 14, "levels": [80, 95]},
                {
                    "unique_ids": ["shop-1@sourdough", "shop-1"],
                    "horizon": 7,
                    "scenario": {
                        "name": "sourdough at 3.20",
                        "rows": [
                            {"unique_id": "shop-1@sourdough", "ds": "2026-01-05", "price": 3.2}
                        ],
                    },
                },
            ]
        },
    )


class Accuracy(BaseModel):
    """Accuracy measures under their names everywhere (README: metrics); null when undefined."""

    mase: float | None = None
    wape: float | None = None
    bias: float | None = None
    coverage_80: float | None = None
    coverage_95: float | None = None
    direction_hit_rate: float | None = None
    n_points: int | None = Field(default=None, description="Scored points (realized).")
    n_forecasts: int | None = Field(default=None, description="Forecasts (origins) behind it.")
    n_windows: int | None = Field(default=None, description="Backtest windows (expected).")


class Drift(BaseModel):
    """Whether realized accuracy left what the backtest promised, and the numbers behind it."""

    drift: bool = False
    reason: str | None = None
    realized_mase: float | None = None
    mase_threshold: float | None = None
    realized_bias: float | None = None
    bias_band: float | None = None
    n_points: int = 0


class Anticipation(BaseModel):
    """How far this forecast can be trusted: promised by the backtest, and measured since."""

    expected: Accuracy
    realized: Accuracy | None = Field(
        default=None, description="From forecasts we served and their actuals; null before any."
    )
    drift: Drift


class SeriesForecast(BaseModel):
    """The forecast of one series with its anticipation metric."""

    unique_id: str
    level: str = Field(description="Hierarchy level: series, item, category, store, total, ...")
    model: str
    model_version: str
    origin: dt.date = Field(description="Last period with known sales; the forecast starts after.")
    points: list[Point]
    anticipation: Anticipation
    method: str | None = Field(
        default=None,
        description='"new_product": a new series, forecast from its launch profile (absent '
        "for series the model knows).",
    )
    n_observed: int | None = Field(default=None, description="New series: periods with sales.")
    profile_group: str | None = Field(
        default=None, description="New series: the group whose profile it follows."
    )


class ForecastResponse(BaseModel):
    """Forecasts for the requested series; `request_id` finds them again in the audit history."""

    request_id: str
    model_name: str
    model_version: str
    served_at: UtcDatetime
    drift_rule: str = Field(description="The rule behind every `drift` flag of this answer.")
    forecasts: list[SeriesForecast]
    scenario: ScenarioForecasts | None = Field(
        default=None, description="The what-if forecasts, when the request posted a scenario."
    )


class HistoryPoint(Strict):
    """One observed period of an ad-hoc history."""

    ds: PlausibleDate
    y: Quantity


class AdhocRequest(Strict):
    """A history posted with the request, forecast by a fast automatic model, nothing stored."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "history": [{"ds": f"2026-10-{d:02d}", "y": 10 + d % 7} for d in range(1, 29)],
                    "freq": "D",
                    "horizon": 7,
                    "levels": [80, 95],
                }
            ]
        },
    )

    history: list[HistoryPoint] = Field(min_length=1)
    freq: Literal["D", "W", "M", "Q", "Y"] = "D"
    horizon: int = Field(default=14, ge=1, le=366, strict=True)
    levels: list[IntervalLevel] = Field(default_factory=lambda: [80, 95], max_length=10)

    _levels = field_validator("levels")(_check_levels)


class AdhocResponse(BaseModel):
    """The ad-hoc forecast and the accuracy its own backtest on the posted history showed."""

    model: str
    freq: str
    points: list[Point]
    expected: Accuracy


class ActualRow(Strict):
    """One observed quantity: series, period, units sold."""

    unique_id: str = Field(min_length=1)
    ds: PlausibleDate
    y: Quantity


class ActualsRequest(Strict):
    """Sales that became known; posting the same rows again changes nothing."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "rows": [
                        {"unique_id": "bakery-1@croissant", "ds": "2026-11-28", "y": 38},
                        {"unique_id": "bakery-1@croissant", "ds": "2026-11-29", "y": 45},
                    ]
                }
            ]
        },
    )

    rows: list[ActualRow] = Field(min_length=1)
    attributes: dict[str, dict[str, str]] | None = Field(
        default=None,
        description="Attributes of new series (id -> {category: ..., store: ...}): rows of an "
        "id the model does not know are accepted with them, and the series is forecast as a "
        "new product from then on.",
    )


class ActualsResponse(BaseModel):
    """What the post changed: rows and newly scored forecast points; the refit follows."""

    inserted: int
    updated: int
    unchanged: int
    scored_points: int
    refresh_href: str = Field(
        description="Where to follow the background refit that moves these series forward."
    )


class AccuracyGroup(BaseModel):
    """Realized next to expected accuracy for one group, with its drift flag."""

    key: dict[str, Any] = Field(description='The group, e.g. {"level": "store"} or {"step": 3}.')
    realized: Accuracy
    expected: Accuracy | None = None
    drift: Drift | None = None


class AccuracyResponse(BaseModel):
    """Realized accuracy of served forecasts by series, level, model version and horizon step."""

    filters: dict[str, Any]
    rule: str
    overall: AccuracyGroup | None
    by_series: list[AccuracyGroup]
    by_level: list[AccuracyGroup]
    by_model_version: list[AccuracyGroup]
    by_step: list[AccuracyGroup]


class ServedForecast(BaseModel):
    """One forecast exactly as it was served."""

    request_id: str
    served_at: UtcDatetime
    model_version: str
    origin: dt.date
    points: list[Point]


class ForecastHistoryResponse(BaseModel):
    """Every forecast served for a series up to `as_of`, newest first (audit)."""

    unique_id: str
    as_of: dt.date
    forecasts: list[ServedForecast]


class SeriesInfo(BaseModel):
    """A series the model forecasts, its level, attributes and observed span."""

    unique_id: str
    level: str
    attributes: dict[str, str] = Field(default_factory=dict)
    first_ds: dt.date | None = None
    last_ds: dt.date | None = None
    n_observations: int = 0
    members: int | None = Field(default=None, description="Bottom series inside an aggregate.")
    method: str | None = Field(
        default=None, description='"new_product" for a new series the model does not know yet.'
    )


class SeriesPage(BaseModel):
    """One page of series."""

    items: list[SeriesInfo]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class RetrainResponse(BaseModel):
    """The background job that retrains; follow it at `GET /v1/jobs/{id}`."""

    job_id: str
    status: str
    href: str


class Job(BaseModel):
    """A background job's state and, when done, its result or error."""

    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    stage: str | None = None
    progress: float = 0.0
    created_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class JobPage(BaseModel):
    """Jobs, newest first."""

    items: list[Job]


class ReloadResponse(BaseModel):
    """Which model is served after a reload and whether it changed."""

    model_name: str
    model_version: str | None
    changed: bool
    error: str | None = None


class Health(BaseModel):
    """Liveness or readiness, with the reasons when not ready."""

    #: "degraded": serving, but not the champion (it does not load; `checks.champion` says why).
    status: Literal["ok", "degraded", "not ready"]
    model_version: str | None = None
    checks: dict[str, str] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """Every error: a code, a readable message, and the fields at fault when there are any."""

    error: str
    message: str
    fields: list[dict[str, Any]] = Field(default_factory=list)
    request_id: str | None = None
