"""A real `anticipate serve` started on a damaged champion, then sent the hostile requests of
issue 10 over one kept-alive connection.

The champion (version 2) is a copy of version 1 whose model file was cut in half, as a failed
copy leaves it: the server must serve version 1, say `degraded` in /ready naming the version, the
file and the fault, log one line about it, and answer every hostile request with a JSON 4xx
without dropping the connection.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from benchmarks.api_servers import Server, ours_command, start
from benchmarks.api_setup import create_key
from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.storage import write_demand_dataset, write_trend_dataset
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.registry import CHAMPION, MODEL_NAME

pytestmark = pytest.mark.slow
CONFIG = '[model]\nhorizon = 7\nmembers = ["dynamic_theta", "seasonal_naive"]\n'
BUNDLE_FILE = "artifacts/bundle.joblib"


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """The server on a store whose champion is damaged; with a viewer key."""
    from benchmarks.api_setup import cli

    root = tmp_path_factory.mktemp("hostile")
    demo = make_demo_sales(seed=8, n_stores=1, n_bakery_items=3, n_web_items=1, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    write_demand_dataset(demand, root / "datasets")
    write_trend_dataset(build_trend_dataset(demand), root / "datasets")
    (root / "train.toml").write_text(CONFIG)
    tracking_uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    env = dict(os.environ)
    env.update(
        MLFLOW_TRACKING_URI=tracking_uri,
        ANTICIPATE_MLFLOW_ARTIFACT_ROOT=str(root / "mlruns"),
        ANTICIPATE_DATABASE_URL=f"sqlite:///{root / 'ledger.db'}",
        ANTICIPATE_DATA_DIR=str(root / "datasets"),
        ANTICIPATE_SNAPSHOT_DIR=str(root / "snapshots"),
        ANTICIPATE_MODEL_POLL_SECONDS="1",
        ANTICIPATE_N_JOBS="1",
    )
    cli(env, "train", "--config", str(root / "train.toml"), "--data", str(root / "datasets"))
    client = MlflowClient(tracking_uri=tracking_uri)
    source = Path(client.get_model_version(MODEL_NAME, "1").source)
    copy = root / "version-2"
    shutil.copytree(source, copy)
    bundle = copy / BUNDLE_FILE
    bundle.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    version = str(client.create_model_version(MODEL_NAME, str(copy)).version)
    client.set_model_version_tag(MODEL_NAME, version, "gate.decision", "promoted")
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    viewer = create_key(env, "viewer")
    server = start("hostile", ours_command(), env, "/ready", root / "logs")
    try:
        yield server, viewer
    finally:
        server.stop()


def test_a_damaged_champion_at_start_serves_the_previous_version(
    damaged: tuple[Server, str],
) -> None:
    server, viewer = damaged
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    status, ready = _call(connection, "GET", "/ready")
    assert status == 200 and ready["status"] == "degraded", ready
    assert ready["model_version"] == "1"
    assert f"{MODEL_NAME} version 2: {BUNDLE_FILE} is truncated" in ready["checks"]["champion"]
    status, answer = _call(
        connection, "POST", "/v1/forecasts", {"unique_ids": ["total"]}, key=viewer
    )
    assert status == 200 and answer["model_version"] == "1"
    _call(connection, "GET", "/ready")  # a few polls of the alias have passed by now
    connection.close()
    log = server.log.read_text(errors="replace")
    assert log.count("does not load") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


HOSTILE = [
    ("GET", "/v1/forecasts/history?unique_id=total&as_of=9999-12-31", None, "as_of"),
    (
        "POST",
        "/v1/forecasts/adhoc",
        {
            "history": [
                {"ds": str(dt.date(9999, 12, 1) + dt.timedelta(days=d)), "y": 5.0}
                for d in range(28)
            ],
            "freq": "D",
            "horizon": 7,
        },
        "ds",
    ),
    (
        "POST",
        "/v1/forecasts/adhoc",
        {
            "history": [{"ds": f"{year}-01-01", "y": 5.0} for year in range(9970, 10000)],
            "freq": "Y",
            "horizon": 1,
        },
        "ds",
    ),
    ("POST", "/v1/forecasts", {"unique_ids": ["total"], "horizon": True}, "horizon"),
    ("POST", "/v1/forecasts", {"unique_ids": ["total"], "levels": ["80"]}, "levels"),
    ("GET", "/v1/accuracy?since=0", None, "since"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), HOSTILE)
def test_hostile_requests_get_a_json_4xx_and_the_connection_stays_open(
    damaged: tuple[Server, str], method: str, path: str, body: dict | None, field: str
) -> None:
    server, viewer = damaged
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    status, answer = _call(connection, method, path, body, key=viewer)
    socket = connection.sock
    assert status == 422, answer
    assert answer["error"] and answer["message"], answer
    assert any(field in str(f.get("field", "")) for f in answer["fields"]), answer
    status, health = _call(connection, "GET", "/health")
    assert status == 200 and health["status"] == "ok"
    assert connection.sock is socket is not None  # the same connection answered again
    connection.close()


def _call(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: dict | None = None,
    key: str | None = None,
) -> tuple[int, dict]:
    """One request on `connection` (kept alive); the status and the JSON answer."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["X-API-Key"] = key
    connection.request(
        method, path, body=None if body is None else json.dumps(body), headers=headers
    )
    response = connection.getresponse()
    payload = response.read()
    assert response.getheader("Content-Type", "").startswith("application/json"), payload[:200]
    return response.status, json.loads(payload)
