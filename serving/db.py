"""The server's database: typed ORM tables, the engine factory, migrations and a readiness probe.

One `MetaData` holds every table; Alembic revision `0001` (serving/migrations) creates exactly
these. Timestamps are naive UTC; `ds`/`origin` are calendar dates stored as midnight DateTimes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    create_engine,
    event,
    make_url,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ROLE_NAMES",
    "STATUSES",
    "Actual",
    "ApiKey",
    "Base",
    "ForecastRequest",
    "Job",
    "ServedPoint",
    "ServedSeries",
    "check",
    "make_engine",
    "migrate",
    "utcnow",
]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: SQLite waits this long for another writer's lock before failing with "database is locked".
BUSY_TIMEOUT_MS = 30_000
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

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    served_at: Mapped[datetime] = mapped_column(DateTime)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    horizon: Mapped[int] = mapped_column(Integer)
    levels: Mapped[str] = mapped_column(Text)  # JSON list, e.g. "[80, 95]"
    n_series: Mapped[int] = mapped_column(Integer)


class ServedSeries(Base):
    """One series of a served request, with the last observed date it was forecast from."""

    __tablename__ = "served_series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("forecast_requests.id"), index=True)
    unique_id: Mapped[str] = mapped_column(String(200), index=True)
    level: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(64), index=True)
    origin: Mapped[datetime] = mapped_column(DateTime)
    horizon: Mapped[int] = mapped_column(Integer)
    served_at: Mapped[datetime] = mapped_column(DateTime)


class ServedPoint(Base):
    """One served step of a series; `y`/`scored_at` are filled in once the actual is known."""

    __tablename__ = "served_points"
    # "Points of series X at date D" (scoring) is one lookup in this index; it also serves the FK.
    # No index on ds alone: SQLite (without statistics) would then score by scanning every
    # series' points at each date, 100 times slower on a ledger of a few thousand series.
    __table_args__ = (Index("ix_served_points_series_ds", "served_series_id", "ds"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    served_series_id: Mapped[int] = mapped_column(ForeignKey("served_series.id"))
    step: Mapped[int] = mapped_column(Integer)
    ds: Mapped[datetime] = mapped_column(DateTime)
    yhat: Mapped[float] = mapped_column(Float)
    yhat_lo_80: Mapped[float | None] = mapped_column(Float)
    yhat_hi_80: Mapped[float | None] = mapped_column(Float)
    yhat_lo_95: Mapped[float | None] = mapped_column(Float)
    yhat_hi_95: Mapped[float | None] = mapped_column(Float)
    bounds: Mapped[str] = mapped_column(Text)  # JSON {"80": [lo, hi], ...} of every level served
    y: Mapped[float | None] = mapped_column(Float)
    scored_at: Mapped[datetime | None] = mapped_column(DateTime)


class Actual(Base):
    """The observed demand of a series on a date; `received_at` marks the post that set it."""

    __tablename__ = "actuals"

    unique_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    ds: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    y: Mapped[float] = mapped_column(Float)
    # Indexed: upsert_actuals finds the rows it just changed by their received_at.
    received_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Job(Base):
    """A background job (a retrain) and how far it got."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(_in("status", STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    result: Mapped[str | None] = mapped_column(Text)  # JSON
    error: Mapped[str | None] = mapped_column(Text)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL (readers never block the writer), enforced foreign keys, and a patient lock wait."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL is still safe against application crashes and much faster per commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")  # BUSY_TIMEOUT_MS; PRAGMA takes no parameters
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url` (SQLite file or PostgreSQL); a SQLite file's folder is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


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
