"""The API benchmark's setup: its own MLflow store and demo model, environment, keys, versions.

The benchmark keeps a store of its own in benchmarks/.work/api/ (git-ignored): the demo data and
one `anticipate train` on it the first time (about 7 minutes on 2 cores), reused afterwards, so a
user's own store and ledger are never touched. `--tracking-uri` points it at another store.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
WORK = ROOT / ".work" / "api"
BIN = Path(sys.executable).parent
MODEL = "anticipate-demand"
#: Packages whose versions the results name.
VERSIONED = (
    "mlflow",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "sqlalchemy",
)


def default_store() -> str:
    """The benchmark's own MLflow store (SQLite, artifacts next to it)."""
    return f"sqlite:///{WORK / 'mlruns' / 'mlflow.db'}"


def base_env(tracking_uri: str, model_name: str, scratch: Path) -> dict[str, str]:
    """Environment of every `anticipate` and `mlflow` process the benchmark starts."""
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        MLFLOW_TRACKING_URI=tracking_uri,
        ANTICIPATE_MLFLOW_ARTIFACT_ROOT=str(WORK / "mlruns"),
        ANTICIPATE_MODEL_NAME=model_name,
        ANTICIPATE_DATA_DIR=str(WORK / "data"),
        ANTICIPATE_DEMO_DIR=str(WORK / "demo"),
        ANTICIPATE_DATABASE_URL=f"sqlite:///{scratch / 'setup.db'}",
        ANTICIPATE_MODEL_POLL_SECONDS="0",
        # The model moved forward to posted actuals is kept here: per run, never the repo's.
        ANTICIPATE_SNAPSHOT_DIR=str(scratch / "snapshots"),
    )
    return env


def cli(env: dict[str, str], *args: str) -> str:
    """Run `anticipate ...` in the repository with `env`; its stdout."""
    done = subprocess.run(
        [str(BIN / "anticipate"), *args], env=env, cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"anticipate {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def champion_version(tracking_uri: str, name: str) -> str | None:
    """The version behind `name@champion` in the store, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        return str(client.get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        return None


def ensure_champion(env: dict[str, str], retrain: bool) -> tuple[str, bool]:
    """The champion version, after building the demo data and training when there is none."""
    tracking_uri, name = env["MLFLOW_TRACKING_URI"], env["ANTICIPATE_MODEL_NAME"]
    found = None if retrain else champion_version(tracking_uri, name)
    if found is not None:
        return found, False
    print(f"training {name} in {tracking_uri} on the demo data (minutes)", flush=True)
    (WORK / "mlruns").mkdir(parents=True, exist_ok=True)
    demo = Path(env["ANTICIPATE_DEMO_DIR"])
    if not (demo / "datasets").exists():
        cli(env, "data", "demo", "--out", str(demo))
        sales, attributes = str(demo / "sales.csv"), str(demo / "attributes.csv")
        cli(
            env,
            "data",
            "build",
            "--sales",
            sales,
            "--attributes",
            attributes,
            "--out",
            str(demo / "datasets"),
        )
    cli(env, "train", "--data", str(demo / "datasets"))
    found = champion_version(tracking_uri, name)
    if found is None:
        raise RuntimeError("training registered no champion (see `anticipate models list`)")
    return found, True


def create_key(env: dict[str, str], role: str) -> str:
    """A new API key of `role` in the ledger `env` points at."""
    out = cli(env, "keys", "create", "--role", role, "--name", f"bench-{role}", "--quiet")
    return out.strip().splitlines()[-1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def git_commit() -> str:
    """The checked-out commit, read from .git without running git."""
    git = REPO / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return "unknown"


def changed_files() -> list[str] | None:
    """Tracked files that differ from the commit (`git status`), None if git is missing."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return [line[3:] for line in done.stdout.splitlines() if line.strip()]


def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (`git status`), None if git is missing."""
    changed = changed_files()
    return None if changed is None else bool(changed)


def versions() -> str:
    """The versions that matter to the results, in one line."""
    found = []
    for package in VERSIONED:
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return ", ".join(found) + f", Python {platform.python_version()}"
