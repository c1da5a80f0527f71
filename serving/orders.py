"""POST /v1/orders: suggested order quantities from the served forecasts (training.orders).

The spread of demand over a protection period comes from the backtest of the served model's
version: its errors of k-period totals, scaled and pooled per hierarchy level, computed once per
version and kept with the snapshot.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.errors import InvalidRequest, UnknownSeries
from serving.schemas import MAX_QUANTITY, Quantity
from serving.state import LiveModel
from training.errors import TrainingError
from training.orders import Order, OrderPolicy, demand_over, suggest_order, total_errors

Positive = Annotated[float, Field(gt=0, le=MAX_QUANTITY, allow_inf_nan=False, strict=True)]
Probability = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False, strict=True)]


class OrderItem(BaseModel):
    """One series to order for: its stock, how it is replenished, and what a shortage costs."""

    model_config = ConfigDict(extra="forbid")

    unique_id: str
    on_hand: Quantity = Field(description="Units in stock now.")
    on_order: Quantity = Field(default=0.0, description="Units ordered, not yet arrived.")
    lead_time: int = Field(ge=0, le=365, strict=True, description="Periods until an order arrives.")
    review_period: int = Field(
        default=1, ge=1, le=365, strict=True, description="Periods until the next order."
    )
    service_level: Probability | None = Field(
        default=None,
        description="Probability of no stock-out before the next order arrives (default 0.95, "
        "unless unit_cost and unit_price are given: then the newsvendor ratio).",
    )
    unit_cost: Positive | None = None
    unit_price: Positive | None = None
    salvage_value: Quantity = Field(default=0.0, description="What an unsold unit still brings.")
    pack_size: Positive = Field(default=1.0, description="Orders are multiples of this.")
    min_order: Quantity = Field(default=0.0, description="Smallest order the supplier takes.")

    @model_validator(mode="after")
    def _prices_together(self) -> OrderItem:
        if (self.unit_cost is None) != (self.unit_price is None):
            raise ValueError("give unit_cost and unit_price together (the newsvendor ratio)")
        if self.unit_cost is not None and self.unit_price is not None:
            if self.unit_price <= self.unit_cost:
                raise ValueError("unit_price must be above unit_cost")
            if self.salvage_value >= self.unit_cost:
                raise ValueError("salvage_value must be below unit_cost")
        return self

    def policy(self) -> OrderPolicy:
        newsvendor = self.unit_cost is not None
        return OrderPolicy(
            lead_time=self.lead_time,
            review_period=self.review_period,
            service_level=None if newsvendor else (self.service_level or 0.95),
            unit_cost=self.unit_cost,
            unit_price=self.unit_price,
            salvage_value=self.salvage_value,
            pack_size=self.pack_size,
            min_order=self.min_order,
        )


class OrdersRequest(BaseModel):
    """The series to order for; the demand distribution to use."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"unique_id": "bakery-1@croissant", "on_hand": 40, "lead_time": 1},
                        {
                            "unique_id": "bakery-1@sourdough",
                            "on_hand": 5,
                            "lead_time": 0,
                            "unit_cost": 1.2,
                            "unit_price": 3.5,
                        },
                    ]
                }
            ]
        },
    )

    items: list[OrderItem] = Field(min_length=1, max_length=5000)
    distribution: Literal["empirical", "normal"] = "empirical"


class OrderLine(BaseModel):
    """The suggestion for one series and what it should lead to."""

    unique_id: str
    order_quantity: float
    inventory_position: float
    protection_periods: int
    demand_mean: float
    demand_quantile: float
    target_probability: float
    rule: Literal["service_level", "newsvendor"]
    stockout_risk: float
    expected_leftover: float
    expected_shortage: float


class OrdersResponse(BaseModel):
    model_name: str
    model_version: str
    distribution: str
    orders: list[OrderLine]
    method: str


METHOD = (
    "order = the demand quantile at the target probability over lead_time + review_period "
    "periods, minus on_hand + on_order (at least min_order, rounded up to pack_size; 0 when "
    "the stock covers it). Demand = the sum of the served forecasts over those periods plus "
    "the backtest's errors of such sums, scaled to the series and pooled by hierarchy level."
)


def total_errors_of(live: LiveModel) -> dict[str, np.ndarray]:
    """The backtest's scaled errors of k-period totals per level (cached on the snapshot)."""
    cached = live.__dict__.get("_total_errors")
    if cached is None:
        model = live.model
        scale = live.hierarchy_levels.index.to_series()
        scale = scale.map(dict(zip(model.unique_ids_, model.scale_, strict=True)))
        cached = total_errors(
            model.backtest_, model.alias_name, scale, live.hierarchy_levels, live.bundle.horizon
        )
        live.__dict__["_total_errors"] = cached
    return cached


def suggest_orders(live: LiveModel, body: OrdersRequest) -> OrdersResponse:
    """One order line per item, from the snapshot's forecasts."""
    unknown = [item.unique_id for item in body.items if item.unique_id not in live.level_of]
    if unknown:
        index = [item.unique_id for item in body.items].index(unknown[0])
        raise UnknownSeries(
            unknown, f"body.items.{index}.unique_id", ": the model does not know them"
        )
    errors = total_errors_of(live)
    scale = dict(zip(live.model.unique_ids_, live.model.scale_, strict=True))
    horizon = live.bundle.horizon
    lines = []
    for index, item in enumerate(body.items):
        policy = item.policy()
        periods = policy.protection_periods
        if periods > horizon:
            raise InvalidRequest(
                f"lead_time + review_period is {periods} periods, beyond the model's horizon "
                f"of {horizon}",
                f"body.items.{index}.lead_time",
            )
        forecast = live.forecast([item.unique_id], periods, list(live.bundle.interval_levels))
        try:
            mean, samples = demand_over(
                forecast["yhat"],
                float(scale[item.unique_id]),
                errors[live.level_of[item.unique_id]],
                periods,
            )
            order: Order = suggest_order(
                mean, samples, item.on_hand + item.on_order, policy, body.distribution
            )
        except TrainingError as err:
            raise InvalidRequest(str(err), f"body.items.{index}") from None
        lines.append(OrderLine(unique_id=item.unique_id, **order.__dict__))
    return OrdersResponse(
        model_name=live.name,
        model_version=live.version,
        distribution=body.distribution,
        orders=lines,
        method=METHOD,
    )
