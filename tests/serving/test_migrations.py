"""The Alembic migration builds exactly the ORM's schema and re-runs, on a real SQLite file (and
on a throwaway PostgreSQL cluster when the server is installed)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pg_cluster import empty_engine, postgres_url
from sqlalchemy import Engine, inspect, text

import serving.db
from serving import ledger
from serving.db import Base, alembic_config, check, make_engine, migrate

#: The newest revision of serving/migrations/versions.
HEAD = "0004"

__all__ = ["postgres_url"]  # the cluster fixture, used through request.getfixturevalue


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database: a new SQLite file, or the PostgreSQL cluster with a fresh schema."""
    engine = empty_engine(request, tmp_path)
    yield engine
    engine.dispose()


def test_make_engine_creates_the_folder_and_sets_the_pragmas(tmp_path: Path) -> None:
    """The SQLite folder appears; every connection has WAL, foreign keys and a busy timeout."""
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'ledger.db'}")
    try:
        assert check(engine)
        assert (tmp_path / "nested").is_dir()
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    finally:
        engine.dispose()


def test_migrate_creates_every_table_and_index(engine: Engine) -> None:
    """After `upgrade head` the database has the ORM's tables, at the newest revision."""
    migrate(engine)
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    indexes = {ix["name"] for ix in inspector.get_indexes("forecasts")}
    assert {name for name in indexes if name.startswith("ix_")} == {
        "ix_forecasts_last_served_at",
        "ix_forecasts_series_last_ds",
    }
    assert inspector.get_indexes("forecast_points") == []  # its key is its only index
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD


def test_migrate_is_idempotent(engine: Engine) -> None:
    """Running it again (or from a URL) is a no-op, as every server start does."""
    migrate(engine)
    migrate(engine)
    migrate(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_migrated_schema_equals_the_orm_metadata(engine: Engine) -> None:
    """Alembic autogenerate finds no difference: revision 0001 and serving.db agree."""
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_and_the_url_path_of_env(engine: Engine) -> None:
    """`downgrade base` drops every table; env.py also migrates from a URL (the alembic CLI)."""
    migrate(engine)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    by_url = alembic_config()
    url = engine.url.render_as_string(hide_password=False)
    by_url.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    command.upgrade(by_url, "head")
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)


def test_the_revision_chain_is_one_fixed_head() -> None:
    """The scripts live in the package (serving/migrations) and have one fixed head."""
    scripts = ScriptDirectory.from_config(alembic_config())
    assert Path(scripts.dir) == Path(serving.db.__file__).parent / "migrations"
    assert (Path(scripts.dir) / "__init__.py").is_file()
    assert scripts.get_heads() == [HEAD]


def test_check_reports_an_unreachable_database(tmp_path: Path) -> None:
    """/ready says no (instead of raising) when the database cannot be opened."""
    (tmp_path / "a_folder.db").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'a_folder.db'}")
    try:
        assert check(engine) is False
    finally:
        engine.dispose()


def _old_table(name: str, **columns: sa.types.TypeEngine) -> sa.TableClause:
    return sa.table(name, *(sa.column(k, v) for k, v in columns.items()))


def _fill_0001(engine: Engine) -> None:
    """Two requests of revision 0001's ledger for one series: 3 points each, one scored."""
    when, day = dt.datetime(2025, 1, 7, 9), dt.datetime(2025, 1, 7)
    requests = _old_table(
        "forecast_requests",
        id=sa.String(),
        served_at=sa.DateTime(),
        model_name=sa.String(),
        model_version=sa.String(),
        api_key_id=sa.Integer(),
        horizon=sa.Integer(),
        levels=sa.Text(),
        n_series=sa.Integer(),
    )
    series = _old_table(
        "served_series",
        id=sa.Integer(),
        request_id=sa.String(),
        unique_id=sa.String(),
        level=sa.String(),
        model_version=sa.String(),
        origin=sa.DateTime(),
        horizon=sa.Integer(),
        served_at=sa.DateTime(),
    )
    points = _old_table(
        "served_points",
        served_series_id=sa.Integer(),
        step=sa.Integer(),
        ds=sa.DateTime(),
        yhat=sa.Float(),
        yhat_lo_80=sa.Float(),
        yhat_hi_80=sa.Float(),
        yhat_lo_95=sa.Float(),
        yhat_hi_95=sa.Float(),
        bounds=sa.Text(),
        y=sa.Float(),
        scored_at=sa.DateTime(),
    )
    actuals = _old_table(
        "actuals", unique_id=sa.String(), ds=sa.DateTime(), y=sa.Float(), received_at=sa.DateTime()
    )
    with engine.begin() as connection:
        for k, (request, levels) in enumerate((("r1", "[80, 95]"), ("r2", "[50, 80]")), start=1):
            connection.execute(
                sa.insert(requests).values(
                    id=request,
                    served_at=when,
                    model_name="m",
                    model_version="3",
                    api_key_id=None,
                    horizon=3,
                    levels=levels,
                    n_series=1,
                )
            )
            connection.execute(
                sa.insert(series).values(
                    id=k,
                    request_id=request,
                    unique_id="a",
                    level="store",
                    model_version="3",
                    origin=day,
                    horizon=3,
                    served_at=when,
                )
            )
            for step in (1, 2, 3):
                yhat = 10.0 * k + step
                connection.execute(
                    sa.insert(points).values(
                        served_series_id=k,
                        step=step,
                        ds=day + dt.timedelta(days=step),
                        yhat=yhat,
                        yhat_lo_80=yhat - 1,
                        yhat_hi_80=yhat + 1,
                        yhat_lo_95=yhat - 2 if k == 1 else None,
                        yhat_hi_95=yhat + 2 if k == 1 else None,
                        bounds=json.dumps({"50": [yhat - 0.5, yhat + 0.5]}) if k == 2 else "{}",
                        y=12.0 if step == 1 else None,
                        scored_at=when if step == 1 else None,
                    )
                )
        connection.execute(
            sa.insert(actuals).values(
                unique_id="a", ds=day + dt.timedelta(days=1), y=12.0, received_at=when
            )
        )


def test_a_0001_ledger_keeps_its_rows_up_to_0002_and_back(engine: Engine) -> None:
    """Requests, points, bounds of other levels and actuals survive both ways; sums appear."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    _fill_0001(engine)
    migrate(engine)
    audit = ledger.served_history(engine, "a", dt.date(2025, 1, 7))
    assert sorted(audit["request_id"].unique()) == ["r1", "r2"]
    assert audit["yhat_lo_50"].notna().sum() == 3 and audit["yhat_lo_95"].notna().sum() == 3
    assert audit["y"].tolist().count(12.0) == 2
    points = ledger.scored_points(engine)
    assert points["yhat"].tolist() == [11.0, 21.0] and points["level"].tolist() == ["store"] * 2
    overall = ledger.accuracy_report(engine, expected=None).overall.realized.iloc[0]
    assert (overall["n_forecasts"], overall["n_points"]) == (2, 2)
    assert overall["wape"] == pytest.approx((1 + 9) / 24) and np.isnan(overall["mase"])
    assert ledger.actuals_mark(engine) == 1
    ledger.upsert_actuals(
        engine, pd.DataFrame({"unique_id": ["a"], "ds": [dt.date(2025, 1, 9)], "y": [20.0]})
    )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    with engine.connect() as connection:
        old = connection.execute(
            text("SELECT step, yhat, y, bounds FROM served_points ORDER BY yhat")
        ).all()
    assert [(step, yhat, y) for step, yhat, y, _ in old] == [
        (1, 11.0, 12.0),
        (2, 12.0, 20.0),
        (3, 13.0, None),
        (1, 21.0, 12.0),
        (2, 22.0, 20.0),
        (3, 23.0, None),
    ]
    assert json.loads(old[3][3]) == {"50": [20.5, 21.5]}
