"""Bodies of the sales-import API (`/v1/imports`): an upload's description, a mapping, a report."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from serving.schema_types import Strict

ColumnName = str


class UploadedFile(BaseModel):
    """A file of an import: the name the client gave it (shown only) and its size."""

    name: str
    bytes: int


class Reading(BaseModel):
    """How the sales file was read; `null` fields for Parquet, whose cells are typed."""

    format: Literal["csv", "parquet"]
    delimiter: str | None = None
    decimal: str | None = Field(default=None, description='"." or ","')
    encoding: str | None = Field(
        default=None, description="utf-8 when it decodes as UTF-8, else cp1252."
    )


class Column(BaseModel):
    """One column of the sales file, the kind its values look like and a few of them."""

    name: str
    kind: Literal["date", "number", "text", "time-of-day"]
    filled: float = Field(description="Share of the sampled rows with a value.")
    samples: list[str]


class Mapping(Strict):
    """Which column plays which role, and how strictly the export is checked.

    Columns not named here are not read. Policies as for `anticipate data build`.
    """

    item_cols: list[ColumnName] = Field(min_length=1, max_length=5)
    store_col: ColumnName | None = None
    date_col: ColumnName
    quantity_col: ColumnName
    time_of_day_col: ColumnName | None = None
    status_col: ColumnName | None = None
    order_col: ColumnName | None = None
    keep_cols: list[ColumnName] = Field(default_factory=list, max_length=200)
    date_format: str | None = Field(default=None, max_length=64, examples=["%d.%m.%Y"])
    duplicates: Literal["error", "sum"] = "error"
    negative: Literal["error", "clip"] = "error"
    short_series: Literal["error", "drop"] = "error"
    freq: Literal["D", "W", "M", "Q", "Y"] | None = Field(
        default=None, description="Dataset frequency; inferred when left out."
    )


class SuggestedMapping(BaseModel):
    """The mapping the columns' names and values suggest; show it, let the planner correct it."""

    item_cols: list[ColumnName]
    store_col: ColumnName | None
    date_col: ColumnName | None
    quantity_col: ColumnName | None
    time_of_day_col: ColumnName | None
    status_col: ColumnName | None
    order_col: ColumnName | None
    keep_cols: list[ColumnName]
    duplicates: Literal["error", "sum"]


class ImportDescription(BaseModel):
    """An uploaded export: its files, how it reads, its columns, first rows and a mapping."""

    import_id: str
    created_at: dt.datetime
    sales: UploadedFile
    attributes: UploadedFile | None = None
    attribute_columns: list[str] = Field(default_factory=list)
    reading: Reading
    rows: int
    columns: list[Column]
    preview: list[dict[str, str | None]] = Field(description="The first 10 rows, as read.")
    suggested: SuggestedMapping


class Problem(BaseModel):
    """A located problem of the export (file, column, spreadsheet rows, series) and its fix."""

    code: str
    message: str
    file: str | None = None
    column: str | None = None
    rows: list[int] = Field(default_factory=list, description="Header is row 1.")
    series: list[str] = Field(default_factory=list)
    hint: str | None = None
    count: int = 0
    text: str = Field(description="The whole problem as one readable sentence.")


class DatasetSummary(BaseModel):
    """What the datasets built from the export hold."""

    series: int
    rows: int
    first_date: str
    last_date: str
    frequency: str
    stores: list[str]
    levels: dict[str, int] = Field(description="Hierarchy level -> number of series in it.")
    exogenous: list[str]


class CheckReport(BaseModel):
    """The validation report: ok, or the located problems; repairs made as notes."""

    ok: bool
    problems: list[Problem]
    notes: list[str]
    summary: DatasetSummary | None = None


class ImportBuildResponse(BaseModel):
    """The background job that builds the datasets; follow it at `GET /v1/jobs/{id}`."""

    job_id: str
    status: str
    href: str
