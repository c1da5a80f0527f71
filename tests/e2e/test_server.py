"""End to end as an operator runs it: train, make a key, `anticipate serve` on a free port.

A real uvicorn process on loopback, a real SQLite ledger file and MLflow store in a temp folder;
the test talks HTTP to it like a dashboard would, then stops the whole process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.storage import write_demand_dataset, write_trend_dataset
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.registry import CHAMPION, MODEL_NAME

pytestmark = pytest.mark.slow
CONFIG = """
[model]
horizon = 7
members = ["dynamic_theta", "seasonal_naive"]
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "anticipate.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], str]]:
    """A trained champion served by `anticipate serve`: the base URL, keys by role, MLflow URI."""
    root = tmp_path_factory.mktemp("e2e")
    demo = make_demo_sales(seed=21, n_stores=2, n_bakery_items=4, n_web_items=2, n_days=150)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    write_demand_dataset(demand, root / "datasets")
    write_trend_dataset(build_trend_dataset(demand), root / "datasets")
    (root / "train.toml").write_text(CONFIG)
    port = _free_port()
    env = dict(os.environ)
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        ANTICIPATE_MLFLOW_ARTIFACT_ROOT=str(root / "mlruns"),
        ANTICIPATE_DATABASE_URL=f"sqlite:///{root / 'ledger.db'}",
        ANTICIPATE_DATA_DIR=str(root / "datasets"),
        ANTICIPATE_PORT=str(port),
        ANTICIPATE_MODEL_POLL_SECONDS="1",
        ANTICIPATE_N_JOBS="1",
    )
    _run(env, root, "train", "--config", str(root / "train.toml"), "--data", str(root / "datasets"))
    keys = {
        role: _run(env, root, "keys", "create", "--role", role, "--quiet").strip()
        for role in ("viewer", "writer", "admin")
    }
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "anticipate.cli", "serve"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail("the server exited:\n" + (root / "server.log").read_text()[-3000:])
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server never got ready:\n" + (root / "server.log").read_text())
            time.sleep(0.2)
        yield base, keys, env["MLFLOW_TRACKING_URI"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _finished(http: httpx.Client, href: str, headers: dict[str, str]) -> dict:
    """Poll a job until it ends (at most 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        job = http.get(href, headers=headers).json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_serve_forecast_post_actuals_and_read_accuracy(server: tuple[str, dict, str]) -> None:
    """The whole loop over HTTP: forecast, actuals, realized accuracy, audit, metrics."""
    base, keys, _ = server
    with httpx.Client(base_url=base, timeout=30) as http:
        viewer = {"X-API-Key": keys["viewer"]}
        writer = {"X-API-Key": keys["writer"]}
        assert http.get("/health").json()["status"] == "ok"
        uid = http.get("/v1/series?level=series&limit=1", headers=viewer).json()["items"][0][
            "unique_id"
        ]
        served = http.post(
            "/v1/forecasts", json={"unique_ids": [uid, "total"], "horizon": 7}, headers=viewer
        )
        assert served.status_code == 200, served.text
        forecast = served.json()["forecasts"][0]
        rows = [
            {"unique_id": uid, "ds": p["ds"], "y": round(p["yhat"] * 1.1)}
            for p in forecast["points"]
        ]
        posted = http.post("/v1/actuals", json={"rows": rows}, headers=writer)
        assert posted.status_code == 200, posted.text
        assert posted.json()["scored_points"] == 7
        accuracy = http.get(f"/v1/accuracy?unique_id={uid}", headers=viewer).json()
        realized = accuracy["by_series"][0]["realized"]
        assert realized["n_points"] == 7
        assert realized["bias"] == pytest.approx(
            sum(p["yhat"] - r["y"] for p, r in zip(forecast["points"], rows, strict=True))
            / sum(r["y"] for r in rows),
            rel=1e-6,
        )
        refit = _finished(http, posted.json()["refresh_href"], viewer)
        assert refit["kind"] == "refresh" and refit["status"] == "succeeded", refit
        assert refit["result"]["moved_series"] >= 1
        nxt = http.post("/v1/forecasts", json={"unique_ids": [uid]}, headers=viewer).json()
        assert nxt["forecasts"][0]["origin"] == rows[-1]["ds"]
        audit = http.get(f"/v1/forecasts/history?unique_id={uid}", headers=viewer).json()
        assert len(audit["forecasts"]) == 2
        denied = http.post("/v1/actuals", json={"rows": rows}, headers=viewer)
        assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
        assert "anticipate_actuals_ingested_total 7.0" in http.get("/metrics").text


def test_a_new_champion_is_picked_up_without_dropping_requests(
    server: tuple[str, dict, str],
) -> None:
    """Move the alias while clients keep asking: every answer is 200, then the new one serves."""
    base, keys, tracking_uri = server
    client = MlflowClient(tracking_uri=tracking_uri)
    first = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    second = client.create_model_version(
        MODEL_NAME, first.source, run_id=first.run_id, model_id=first.model_id
    )
    statuses: list[int] = []
    versions: list[str] = []
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                answer = http.post(
                    "/v1/forecasts",
                    json={"unique_ids": ["total"], "horizon": 3},
                    headers={"X-API-Key": keys["viewer"]},
                )
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    versions.append(answer.json()["model_version"])

    clients = [threading.Thread(target=ask) for _ in range(3)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(1.0)
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, str(second.version))
        deadline = time.monotonic() + 60
        while str(second.version) not in versions[-3:] and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
    assert statuses and set(statuses) == {200}
    assert versions[0] == str(first.version) and versions[-1] == str(second.version)
    ready = httpx.get(f"{base}/ready").json()
    assert ready["model_version"] == str(second.version)
