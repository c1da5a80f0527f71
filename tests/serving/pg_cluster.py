"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl on a free port, socket only.

Skips (with the reason) when the server binaries or the psycopg driver are missing. PostgreSQL
refuses to run as root, so under root the cluster runs as the `postgres` user via runuser.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from serving.db import make_engine

USER = "anticipate"


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    candidates = [found] if found else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    for candidate in candidates:
        folder = Path(candidate).resolve().parent
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLAlchemy URL (postgresql+psycopg) of a fresh cluster, stopped after the session."""
    folder = _bin_dir()
    if folder is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed")
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("the psycopg (v3) driver is not installed")
    prefix: list[str] = []
    owned: Path | None = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server")
        if shutil.which("runuser") is None:
            pytest.skip("running as root and `runuser` is missing")
        prefix = ["runuser", "-u", "postgres", "--"]
        # pytest's tmp folders are private to root, so the cluster lives in its own temp folder.
        owned = base = Path(tempfile.mkdtemp(prefix="anticipate-pg-"))
        os.chown(base, account.pw_uid, account.pw_gid)
    else:
        base = tmp_path_factory.mktemp("postgres")
    data, sockets, logfile = base / "data", base / "sock", base / "server.log"
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    run("mkdir", "-p", str(sockets))
    run(
        str(folder / "initdb"),
        "-D",
        str(data),
        "-U",
        USER,
        "-A",
        "trust",
        "--no-sync",
        "-E",
        "UTF8",
    )
    options = f"-p {port} -k {sockets} -c listen_addresses='' -c fsync=off"
    run(str(folder / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-o", options, "-w", "start")
    try:
        yield f"postgresql+psycopg://{USER}@/postgres?host={sockets}&port={port}"
    finally:
        run(str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)


def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    """An empty database for `request.param`: a new SQLite file, or the cluster, schema reset."""
    if request.param == "sqlite":
        return make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    engine = make_engine(request.getfixturevalue("postgres_url"))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    return engine
