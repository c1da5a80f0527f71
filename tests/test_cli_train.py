"""`anticipate train` and `anticipate models ...` as a data scientist runs them, on a real store.

Each command runs in its own process with the store chosen through the environment, as in a shell:
the first training becomes champion, a deliberately worse one stays challenger, Ctrl-C in the
middle of a training leaves the registry exactly as it was.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.storage import write_demand_dataset, write_trend_dataset
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.registry import CHALLENGER, CHAMPION

MODEL = "anticipate-demand-cli-test"
GOOD = """
[model]
horizon = 7
members = ["dynamic_theta", "seasonal_naive"]
"""
WORSE = """
[model]
horizon = 7
members = ["drift"]
intermittent = "croston"
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small demand and trend datasets on disk and two training configs."""
    root = tmp_path_factory.mktemp("cli-train")
    demo = make_demo_sales(seed=5, n_stores=2, n_bakery_items=5, n_web_items=2, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    write_demand_dataset(demand, root / "datasets")
    write_trend_dataset(build_trend_dataset(demand), root / "datasets")
    (root / "good.toml").write_text(GOOD)
    (root / "worse.toml").write_text(WORSE)
    return root


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'store' / 'mlflow.db'}",
        ANTICIPATE_MLFLOW_ARTIFACT_ROOT=str(root / "store"),
        ANTICIPATE_MODEL_NAME=MODEL,
        ANTICIPATE_N_JOBS="1",
        ANTICIPATE_DATA_DIR=str(root / "datasets"),
        COLUMNS="200",
    )
    return env


def _anticipate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anticipate.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(root),
        cwd=root,
    )


def _client(root: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{root / 'store' / 'mlflow.db'}")


def _versions(root: Path) -> list[str]:
    found = _client(root).search_model_versions(f"name='{MODEL}'")
    return sorted((str(v.version) for v in found), key=int)


@pytest.mark.slow
def test_train_registers_champion_then_challenger_and_models_commands(workspace: Path) -> None:
    """First run: champion; worse config: challenger; list and compare show both; promote."""
    data = str(workspace / "datasets")
    first = _anticipate(
        workspace, "train", "--config", str(workspace / "good.toml"), "--data", data
    )
    assert first.returncode == 0, first.stderr + first.stdout
    for stage in ("Reading datasets", "Backtesting and fitting", "Logging the run to MLflow"):
        assert stage in first.stdout
    assert "version 1 is the new champion" in first.stdout

    # without --data, training reads the settings' data_dir (ANTICIPATE_DATA_DIR)
    second = _anticipate(workspace, "train", "--config", str(workspace / "worse.toml"))
    assert second.returncode == 0, second.stderr + second.stdout
    assert "version 2 is a challenger" in second.stdout
    client = _client(workspace)
    assert str(client.get_model_version_by_alias(MODEL, CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias(MODEL, CHALLENGER).version) == "2"

    listed = _anticipate(workspace, "models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "champion" in listed.stdout and "challenger" in listed.stdout

    compared = _anticipate(workspace, "models", "compare")
    assert compared.returncode == 0, compared.stderr
    for text in ("v1 (champion)", "v2 (challenger)", "mase", "coverage_80", "level.total.mase"):
        assert text in compared.stdout
    assert "kept champion" in compared.stdout

    unknown = _anticipate(workspace, "models", "compare", "1", "9")
    assert unknown.returncode == 2
    assert "no version 9" in unknown.stderr

    refused = _anticipate(workspace, "models", "promote", "2")
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert str(client.get_model_version_by_alias(MODEL, CHAMPION).version) == "1"
    forced = _anticipate(workspace, "models", "promote", "2", "--force")
    assert forced.returncode == 0, forced.stderr
    assert str(client.get_model_version_by_alias(MODEL, CHAMPION).version) == "2"
    _anticipate(workspace, "models", "promote", "1")


@pytest.mark.slow
def test_interrupted_training_leaves_the_registry_unchanged(workspace: Path) -> None:
    """Ctrl-C while the run is being logged: the run is failed, no version, no alias moved."""
    data = str(workspace / "datasets")
    if not _versions(workspace):
        done = _anticipate(
            workspace, "train", "--config", str(workspace / "good.toml"), "--data", data
        )
        assert done.returncode == 0, done.stderr
    client = _client(workspace)
    before_versions = _versions(workspace)
    before_champion = str(client.get_model_version_by_alias(MODEL, CHAMPION).version)
    before_runs = {r.info.run_id for r in client.search_runs(_experiments(client))}

    log = (workspace / "interrupted.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "anticipate.cli",
            "train",
            "--config",
            str(workspace / "good.toml"),
            "--data",
            data,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_env(workspace),
        cwd=workspace,
    )
    try:
        deadline = time.monotonic() + 300
        new_runs: set[str] = set()
        while not new_runs and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            runs = client.search_runs(_experiments(client))
            new_runs = {r.info.run_id for r in runs} - before_runs
        assert new_runs, "the training never started logging a run"
        # Press Ctrl-C like an impatient user until it stops (repeats must not spoil clean-up).
        code = None
        while code is None and time.monotonic() < deadline:
            process.send_signal(signal.SIGINT)
            try:
                code = process.wait(timeout=0.3)
            except subprocess.TimeoutExpired:
                code = None
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    output = (workspace / "interrupted.log").read_text()
    assert code == 130, output
    assert "registry is unchanged" in output and "Traceback" not in output
    assert _versions(workspace) == before_versions
    assert str(client.get_model_version_by_alias(MODEL, CHAMPION).version) == before_champion
    (run_id,) = new_runs
    assert client.get_run(run_id).info.status in {"FAILED", "KILLED"}


def _experiments(client: MlflowClient) -> list[str]:
    return [e.experiment_id for e in client.search_experiments()]
