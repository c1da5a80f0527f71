"""`mlflow models serve` on the registered champion answers forecasts over HTTP.

The served forecast must equal the fitted model's own; an unknown series is the client's error
(4xx), not a server failure. The server runs in its own session so the whole process group (the
`mlflow` CLI, `bash -c exec uvicorn ...`, its workers) is killed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import ID, TIME
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.registry import CHAMPION, MODEL_NAME
from training.retrain import train_and_register

STARTUP_TIMEOUT = 90.0
HORIZON = 5
BAND = ("yhat", "yhat_lo_80", "yhat_hi_80")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mlflow_cli() -> list[str]:
    script = Path(sys.executable).parent / "mlflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlflow"]


def _request(url: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    """GET (or POST `body` as JSON); the status and body, also for 4xx/5xx answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def _server_output(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-6000:]


def _wait_until_up(server: subprocess.Popen[bytes], url: str, log: Path) -> float:
    """Poll /ping until 200; the seconds it took. Fails with the server's output otherwise."""
    start = time.monotonic()
    while time.monotonic() - start < STARTUP_TIMEOUT:
        if server.poll() is not None:
            pytest.fail(f"server exited with {server.returncode}:\n{_server_output(log)}")
        try:
            status, _ = _request(f"{url}/ping")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status = 0
        if status == 200:
            return time.monotonic() - start
        time.sleep(0.5)
    pytest.fail(f"server not up after {STARTUP_TIMEOUT:.0f}s:\n{_server_output(log)}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, give it time to exit, then SIGKILL what is left.

    The CLI process dies first; its uvicorn child (and any workers) must go too, so the wait is
    for the whole group, not only for the process we started.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        server.poll()  # reap our own child, or its zombie keeps the group alive
        if not _group_alive(server.pid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=15)


@pytest.mark.slow
def test_served_champion_forecasts_over_http(tmp_path: Path) -> None:
    """Register a champion, serve it with the MLflow scoring server, forecast over HTTP."""
    demo = make_demo_sales(seed=4, n_stores=2, n_bakery_items=5, n_web_items=2, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    trend = build_trend_dataset(demand)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking_uri)
    config = TrainConfig.model_validate(
        {
            "model": {"horizon": 7, "members": ["dynamic_theta", "seasonal_naive"]},
            "run": {"n_jobs": 1},
        }
    )
    outcome = train_and_register(
        config,
        demand,
        trend,
        client,
        model_name=MODEL_NAME,
        artifact_location=str(tmp_path / "artifacts"),
    )
    result, decision = outcome.result, outcome.decision
    assert decision.promoted
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == decision.version

    series = next(u for u in result.levels[ID].astype("str") if u != "total")
    wanted = [series, "total"]
    expected = result.model.predict(HORIZON, levels=[80])
    expected = expected[expected[ID].isin(wanted)].sort_values([ID, TIME]).reset_index(drop=True)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        # explicit, so a registry URI set in the developer's shell cannot point elsewhere
        "MLFLOW_REGISTRY_URI": tracking_uri,
        # the local env manager runs `bash -c "exec uvicorn ..."`: uvicorn must be on PATH
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    command = [
        *_mlflow_cli(),
        *("models", "serve", "-m", f"models:/{MODEL_NAME}@{CHAMPION}"),
        *("--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"),
    ]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(server, url, log)
        status, body = _request(
            f"{url}/invocations",
            {
                "dataframe_split": {"columns": [ID], "data": [[u] for u in wanted]},
                "params": {"horizon": HORIZON, "levels": [80]},
            },
        )
        assert status == 200, f"{status}: {body[:2000]!r}\n{_server_output(log)}"
        served = pd.DataFrame(json.loads(body)["predictions"])
        assert set(BAND) <= set(served.columns)
        assert sorted(served[ID].unique()) == sorted(wanted)
        assert served.groupby(ID).size().to_dict() == dict.fromkeys(wanted, HORIZON)
        served[TIME] = pd.to_datetime(served[TIME])
        served = served.sort_values([ID, TIME]).reset_index(drop=True)
        assert served[ID].tolist() == expected[ID].astype("str").tolist()
        assert (served[TIME].to_numpy() == pd.to_datetime(expected[TIME]).to_numpy()).all()
        for column in BAND:
            np.testing.assert_allclose(
                served[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-9
            )

        # An unknown series is the caller's mistake: our pyfunc raises it as an MlflowException
        # with INVALID_PARAMETER_VALUE, which the scoring server answers 400 with our message.
        status, body = _request(
            f"{url}/invocations",
            {"dataframe_split": {"columns": [ID], "data": [["no-such-series"]]}},
        )
        assert status == 400, f"{status}: {body[:2000]!r}"
        error = json.loads(body)
        assert error["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "unknown series" in error["message"]
    finally:
        _stop(server)
