"""Response bodies of the planner's overview, a series' history and the accuracy trend."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class OverviewRow(BaseModel):
    """One series: its place in the drill-down tree, next against last days, trust, flags."""

    unique_id: str
    level: str = Field(description="Hierarchy level: total, store, category, ..., series.")
    label: str = Field(description="Short display name (the store, the category, the item).")
    parent: str | None = Field(description="The node above it in the drill-down tree.")
    next_total: float | None = Field(description="Sum of the next `days` forecast periods.")
    next_low80: float | None = Field(description="80 % interval of that sum (conformal).")
    next_high80: float | None
    last_total: float | None = Field(description="Sum of the last `days` observed periods.")
    change: float | None = Field(description="(next - last) / last; null when last is 0.")
    direction: Literal["up", "flat", "down"]
    expected_mase: float | None = Field(description="What the backtest promised.")
    realized_mase: float | None = Field(description="Served forecasts scored so far.")
    realized_bias: float | None = Field(description="Sum of errors / sum of actuals.")
    n_scored_points: int
    biased: bool = Field(description="Realized bias beyond the drift rule's bias band.")
    bias_reason: str | None
    drift: bool
    drift_reason: str | None
    mase_threshold: float | None = Field(description="Realized MASE above this is drift.")
    stockout_risk: bool
    stockout_reason: str | None


class AttentionItem(BaseModel):
    """A series to look at, with every reason it is here."""

    unique_id: str
    level: str
    label: str
    kind: Literal["drift", "bias", "stockout"] = Field(description="What ranked it.")
    reasons: list[str]


class OverviewRules(BaseModel):
    """The rules behind the flags, in words."""

    direction: str
    drift: str
    bias: str
    stockout: str
    attention: str


class OverviewResponse(BaseModel):
    """Every series of the live model, and those needing attention first."""

    model_name: str
    model_version: str
    days: int
    last_observed: dt.date | None = Field(description="Newest observed period of any series.")
    origin: dt.date | None = Field(description="The same: the last day with known sales.")
    rows: list[OverviewRow]
    attention: list[AttentionItem]
    rules: OverviewRules


class HistoryPoint(BaseModel):
    """One observed period."""

    ds: dt.date
    y: float


class SeriesHistory(BaseModel):
    """Observed sales of one series, as the live model holds them (actuals included)."""

    unique_id: str
    level: str
    unit: str = Field(description='What y counts: the attributes\' `unit`, else "units".')
    freq: str = Field(description="The model's period (D: days).")
    calendar: bool = Field(description="Whether the model has an opening calendar.")
    points: list[HistoryPoint]
    closed: list[dt.date] = Field(description="Days of `points` the opening calendar has closed.")


class TrendRow(BaseModel):
    """Realized accuracy of one group in one period, next to the group's expected accuracy."""

    group: str
    label: str
    period_start: dt.date
    n_points: int
    n_series: int
    mase: float | None
    wape: float | None
    bias: float | None
    expected_mase: float | None
    expected_wape: float | None
    expected_bias: float | None


class TrendPoint(BaseModel):
    """One period of a group."""

    period_start: dt.date
    n_points: int
    n_series: int
    mase: float | None
    wape: float | None
    bias: float | None


class TrendGroup(BaseModel):
    """The rows of one group, for a chart: its periods as points."""

    group: str
    name: str
    expected_mase: float | None
    expected_wape: float | None
    expected_bias: float | None
    realized_mase: float | None = Field(description="Points-weighted mean of the periods' MASE.")
    n_points: int
    points: list[TrendPoint]


class TrendResponse(BaseModel):
    """Rows by group and period (flat, and nested per group); empty before anything is scored."""

    by: str
    period: Literal["D", "W", "M"]
    since: dt.date | None
    rows: list[TrendRow]
    groups: list[TrendGroup]
    rule: str = Field(description="The drift rule.")
    note: str = Field(description="How the numbers are computed.")
