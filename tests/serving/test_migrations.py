"""The Alembic migration builds exactly the ORM's schema and re-runs, on a real SQLite file (and
on a throwaway PostgreSQL cluster when the server is installed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pg_cluster import empty_engine, postgres_url
from sqlalchemy import Engine, inspect, text

import serving.db
from serving.db import Base, alembic_config, check, make_engine, migrate

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
    """After `upgrade head` the database has the ORM's tables, at revision 0001."""
    migrate(engine)
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    assert {ix["name"] for ix in inspector.get_indexes("served_points")} == {
        "ix_served_points_series_ds",
    }
    with engine.connect() as connection:
        assert (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
        )


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
    assert scripts.get_heads() == ["0001"]


def test_check_reports_an_unreachable_database(tmp_path: Path) -> None:
    """/ready says no (instead of raising) when the database cannot be opened."""
    (tmp_path / "a_folder.db").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'a_folder.db'}")
    try:
        assert check(engine) is False
    finally:
        engine.dispose()
