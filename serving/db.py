"""The server's database: typed ORM tables, the engine factory, migrations and a readiness probe.

One `MetaData` holds every table; the Alembic revisions in serving/migrations create exactly
these. Timestamps are naive UTC DateTimes; target dates (`ds`) and origins are `Date`s.

The ledger stores each distinct forecast once (`forecasts`, `forecast_points`), however often it
is served; `served_series` links every request to the forecasts it answered with. Accuracy is
kept as running sums (`accuracy_*`), updated whenever a point is scored, so reading it costs the
same whatever the ledger holds, and pruning old requests keeps it.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from serving.engine import begin_now, make_engine, read_transaction, write_transaction

__all__ = [
    "ROLE_NAMES",
    "STATUSES",
    "AccuracyDay",
    "AccuracySeries",
    "AccuracyStep",
    "Actual",
    "ApiKey",
    "Base",
    "Forecast",
    "ForecastBound",
    "ForecastPoint",
    "ForecastRequest",
    "Job",
    "ScenarioForecast",
    "ServedSeries",
    "check",
    "make_engine",
    "migrate",
    "read_transaction",
    "utcnow",
    "write_transaction",
]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: API key roles, weakest first (serving.keys orders them).
ROLE_NAMES = ("viewer", "writer", "admin")
#: Lifecycle of a background job.
STATUSES = ("queued", "running", "succeeded", "failed")

#: Constraint names fixed by convention, so Alembic (and batch mode on SQLite) can address them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
#: Tables whose rows live in their primary key's b-tree on SQLite (no rowid, no second index).
NO_ROWID = {"sqlite_with_rowid": False}


def utcnow() -> datetime:
    """The current time as naive UTC, the form every timestamp column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def _in(column: str, values: tuple[str, ...]) -> str:
    """CHECK text `column IN ('a', 'b')` over our own constants (never user input)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base owning the one MetaData of the server's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiKey(Base):
    """An API key: only its prefix (for lookup) and its sha256 hash are stored."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in("role", ROLE_NAMES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(12), unique=True, index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class ForecastRequest(Base):
    """One served forecast call: who asked, which model answered, with what horizon and levels."""

    __tablename__ = "forecast_requests"
    __table_args__ = (NO_ROWID,)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    served_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # retention walks it
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    horizon: Mapped[int] = mapped_column(Integer)
    interval_levels: Mapped[str] = mapped_column(Text)  # JSON list, e.g. "[80, 95]"
    n_series: Mapped[int] = mapped_column(Integer)


class Forecast(Base):
    """One distinct forecast of a series, stored once however many requests served it.

    `n_served` counts every request that served it (pruned ones included: their scores stay in
    the accuracy sums). The origin statistics come from the history up to `origin`; n_scored,
    sum_abs_error and sum_y are the running totals of its points that have actuals.
    """

    __tablename__ = "forecasts"
    __table_args__ = (Index("ix_forecasts_series_last_ds", "unique_id", "last_ds"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # blake2b of everything served (series, model, origin, dates, values); NULL when migrated
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary(16), unique=True)
    unique_id: Mapped[str] = mapped_column(String(200))
    hierarchy_level: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(64))
    origin: Mapped[date] = mapped_column(Date)
    horizon: Mapped[int] = mapped_column(Integer)
    last_ds: Mapped[date] = mapped_column(Date)
    n_served: Mapped[int] = mapped_column(Integer)
    last_served_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    mase_scale: Mapped[float | None] = mapped_column(Float)
    recent_mean: Mapped[float | None] = mapped_column(Float)
    change_scale: Mapped[float | None] = mapped_column(Float)
    said: Mapped[int] = mapped_column(SmallInteger)  # direction label code, -1 when unknown
    n_scored: Mapped[int] = mapped_column(Integer)
    sum_abs_error: Mapped[float] = mapped_column(Float)
    sum_y: Mapped[float] = mapped_column(Float)


class ForecastPoint(Base):
    """One step of a distinct forecast, with the 80 % and 95 % bounds when they were served."""

    __tablename__ = "forecast_points"
    __table_args__ = (NO_ROWID,)

    forecast_id: Mapped[int] = mapped_column(ForeignKey("forecasts.id"), primary_key=True)
    step: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    ds: Mapped[date] = mapped_column(Date)
    yhat: Mapped[float] = mapped_column(Float)
    yhat_lo_80: Mapped[float | None] = mapped_column(Float)
    yhat_hi_80: Mapped[float | None] = mapped_column(Float)
    yhat_lo_95: Mapped[float | None] = mapped_column(Float)
    yhat_hi_95: Mapped[float | None] = mapped_column(Float)


class ForecastBound(Base):
    """Bounds of the interval levels other than 80 and 95 (rarely asked for)."""

    __tablename__ = "forecast_bounds"
    __table_args__ = (NO_ROWID,)

    forecast_id: Mapped[int] = mapped_column(ForeignKey("forecasts.id"), primary_key=True)
    step: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    interval_level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    lo: Mapped[float | None] = mapped_column(Float)
    hi: Mapped[float | None] = mapped_column(Float)


class ServedSeries(Base):
    """One series of a served request: the forecast it was answered with."""

    __tablename__ = "served_series"
    __table_args__ = (NO_ROWID,)

    request_id: Mapped[str] = mapped_column(ForeignKey("forecast_requests.id"), primary_key=True)
    forecast_id: Mapped[int] = mapped_column(
        ForeignKey("forecasts.id"), primary_key=True, index=True
    )


class Actual(Base):
    """The observed demand of a series on a date; `revision` numbers the post that set it."""

    __tablename__ = "actuals"
    __table_args__ = (NO_ROWID,)

    unique_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    ds: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    y: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    revision: Mapped[int] = mapped_column(Integer, index=True)  # actuals_since walks it


class NewSeries(Base):
    """A series the served model does not know, posted with its attributes (a new product):
    forecast from launch profiles until a retrain includes it."""

    __tablename__ = "new_series"

    unique_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    attributes: Mapped[str] = mapped_column(Text)  # JSON object: attribute -> value
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class _PointSums:
    """Sums over scored points kept per series (and per step, and per target date)."""

    n_points: Mapped[int] = mapped_column(Integer)
    n_scaled: Mapped[int] = mapped_column(Integer)  # points with a defined MASE scale
    sum_scaled_error: Mapped[float] = mapped_column(Float)  # sum |e| / scale
    sum_error: Mapped[float] = mapped_column(Float)
    sum_y: Mapped[float] = mapped_column(Float)
    n_nonzero_y: Mapped[int] = mapped_column(Integer)  # tells a true 0 sum of y from rounding


class _CoverageSums(_PointSums):
    """The point sums of WAPE and coverage as well."""

    sum_abs_error: Mapped[float] = mapped_column(Float)
    sum_abs_y: Mapped[float] = mapped_column(Float)
    in_80: Mapped[int] = mapped_column(Integer)
    n_80: Mapped[int] = mapped_column(Integer)
    in_95: Mapped[int] = mapped_column(Integer)
    n_95: Mapped[int] = mapped_column(Integer)


class AccuracySeries(_CoverageSums, Base):
    """Per series, level and version: the per-forecast sums (MASE, direction, counts), the
    point sums and the longest step scored (the drift window's length)."""

    __tablename__ = "accuracy_series"
    __table_args__ = (NO_ROWID,)

    unique_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hierarchy_level: Mapped[str] = mapped_column(String(100), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    n_forecasts: Mapped[int] = mapped_column(Integer)
    n_mase: Mapped[int] = mapped_column(Integer)
    sum_mase: Mapped[float] = mapped_column(Float)
    n_direction: Mapped[int] = mapped_column(Integer)
    direction_hits: Mapped[int] = mapped_column(Integer)
    max_step: Mapped[int] = mapped_column(SmallInteger)


class AccuracyStep(_CoverageSums, Base):
    """Per series, level, version and horizon step: sums over its scored points."""

    __tablename__ = "accuracy_steps"
    __table_args__ = (NO_ROWID,)

    unique_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hierarchy_level: Mapped[str] = mapped_column(String(100), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class AccuracyDay(_PointSums, Base):
    """Per target date, series, level and version: what the drift rule's recent window needs.

    Keyed date first, so the newest dates of every series are one range of the key.
    """

    __tablename__ = "accuracy_days"
    __table_args__ = (Index("ix_accuracy_days_series_ds", "unique_id", "ds"), NO_ROWID)

    ds: Mapped[date] = mapped_column(Date, primary_key=True)
    unique_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hierarchy_level: Mapped[str] = mapped_column(String(100), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)


class ScenarioForecast(Base):
    """A what-if forecast served next to the official one: the posted plan and its forecast.

    Kept for the audit trail only: scenarios are never scored, so they do not touch the
    anticipation metric. `plan` and `forecast` are JSON (the posted rows; per series the points).
    """

    __tablename__ = "scenario_forecasts"
    __table_args__ = (NO_ROWID,)

    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    served_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # retention walks it
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(Text)
    forecast: Mapped[str] = mapped_column(Text)


class Job(Base):
    """A background job (a retrain, a refresh) and how far it got."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(_in("status", STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # list_jobs, newest first
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    result: Mapped[str | None] = mapped_column(Text)  # JSON
    error: Mapped[str | None] = mapped_column(Text)


def alembic_config() -> Config:
    """An Alembic config built in code: the scripts ship inside the package, no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine | str) -> None:
    """Bring the database to the newest schema (`alembic upgrade head`); safe to run repeatedly."""
    if isinstance(engine, str):
        owned = make_engine(engine)
        try:
            migrate(owned)
        finally:
            owned.dispose()
        return
    config = alembic_config()
    with engine.begin() as connection:
        begin_now(connection, "BEGIN IMMEDIATE")  # one transaction: all of a revision or none
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def check(engine: Engine) -> bool:
    """Whether the database answers a trivial query (the /ready probe)."""
    try:
        with engine.connect() as connection:
            connection.execute(select(1))
    except SQLAlchemyError as error:
        log.warning("database not ready: %s", error)
        return False
    return True
