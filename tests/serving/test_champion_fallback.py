"""A champion that does not load: the newest earlier champion serves, /ready says `degraded`.

Each test registers versions of its own model name in a store trained for this module: copies of
the trained version's files, one of them damaged the way a failed copy or disk damages them.
"""

from __future__ import annotations

import itertools
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from live_store import CONFIG, Store, settings_for
from mlflow import MlflowClient

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from serving.app import create_app
from serving.db import make_engine, migrate
from serving.keys import create_key
from training.config import TrainConfig
from training.registry import CHAMPION
from training.retrain import train_and_register

TRAINED = "fallback-trained"
BUNDLE_FILE = "artifacts/bundle.joblib"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path]:
    """A small trained version: the store and the folder of its files."""
    root = tmp_path_factory.mktemp("fallback-store")
    (root / "mlruns").mkdir()
    demo = make_demo_sales(seed=5, n_stores=1, n_bakery_items=3, n_web_items=1, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    outcome = train_and_register(
        TrainConfig.model_validate(CONFIG),
        demand,
        build_trend_dataset(demand),
        client,
        model_name=TRAINED,
        artifact_location=str(root / "mlruns"),
    )
    source = client.get_model_version(TRAINED, outcome.decision.version).source
    return Store(root, uri, root / "datasets", outcome.decision.version), Path(source)


class Registry:
    """Registers copies of the trained files as versions of one model name."""

    def __init__(self, store: Store, files: Path, name: str, scratch: Path) -> None:
        self.client = MlflowClient(tracking_uri=store.tracking_uri)
        self.files = files
        self.name = name
        self.scratch = scratch
        self.client.create_registered_model(name)

    def add(self, damage: str | None = None, *, champion: bool = True) -> str:
        """A new promoted version (damaged as `damage` says), made champion."""
        folder = self.scratch / f"{self.name}-{len(list(self.scratch.iterdir()))}"
        shutil.copytree(self.files, folder)
        bundle = folder / BUNDLE_FILE
        if damage == "truncated":
            bundle.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
        elif damage == "garbage":
            bundle.write_bytes(bytes(range(256)) * 64)
        elif damage == "no bundle":
            bundle.unlink()
        version = str(self.client.create_model_version(self.name, str(folder)).version)
        self.client.set_model_version_tag(self.name, version, "gate.decision", "promoted")
        if champion:
            self.client.set_registered_model_alias(self.name, CHAMPION, version)
        return version


NAMES = itertools.count(1)


@pytest.fixture
def registry(trained: tuple[Store, Path], tmp_path: Path) -> Registry:
    store, files = trained
    (tmp_path / "versions").mkdir()
    return Registry(store, files, f"fallback-{next(NAMES)}", tmp_path / "versions")


@pytest.fixture
def serve(trained: tuple[Store, Path], registry: Registry, tmp_path: Path) -> Iterator[callable]:
    """Start the app on the registry's model name; yields a function returning (client, key)."""
    store, _ = trained
    started: list[TestClient] = []

    def start() -> tuple[TestClient, dict[str, str]]:
        database = tmp_path / "ledger.db"
        engine = make_engine(f"sqlite:///{database}")
        migrate(engine)
        _, key = create_key(engine, "admin", "fallback admin")
        engine.dispose()
        app = create_app(settings_for(store, database, model_name=registry.name))
        client = TestClient(app)
        client.__enter__()
        started.append(client)
        return client, {"X-API-Key": key}

    yield start
    for client in started:
        client.__exit__(None, None, None)


def _forecast_version(client: TestClient, headers: dict[str, str]) -> str:
    answer = client.post("/v1/forecasts", json={"unique_ids": ["total"]}, headers=headers)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["model_version"])


@pytest.mark.parametrize(
    ("damage", "fault"),
    [
        ("truncated", f"{BUNDLE_FILE} is truncated: it ends after"),
        ("garbage", f"{BUNDLE_FILE} is corrupted ("),
        ("no bundle", f"{BUNDLE_FILE} is missing"),
    ],
)
def test_a_damaged_champion_at_start_serves_the_previous_version(
    registry: Registry,
    serve: callable,
    caplog: pytest.LogCaptureFixture,
    damage: str,
    fault: str,
) -> None:
    good = registry.add()
    broken = registry.add(damage)
    with caplog.at_level(logging.INFO, logger="anticipate.serving"):
        client, headers = serve()
        service = client.app.state.service
        for _ in range(3):  # polls follow the alias but do not retry the broken version
            service.poll()

    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["model_version"] == good
    champion = body["checks"]["champion"]
    assert f"{registry.name} version {broken}: {fault}" in champion
    assert f"serving version {good}" in champion
    assert _forecast_version(client, headers) == good
    failures = [r for r in caplog.records if "does not load" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].exc_info is None  # one line, not a traceback per poll


def test_a_damaged_new_champion_keeps_the_served_one_and_a_good_one_ends_degraded(
    registry: Registry, serve: callable
) -> None:
    first = registry.add()
    client, headers = serve()
    assert client.get("/ready").json()["status"] == "ok"

    broken = registry.add("truncated")
    reload = client.post("/v1/admin/reload", headers=headers).json()
    assert reload["changed"] is False
    assert reload["model_version"] == first
    assert f"version {broken}: {BUNDLE_FILE} is truncated" in reload["error"]
    ready = client.get("/ready").json()
    assert ready["status"] == "degraded"
    assert f"still serving version {first}" in ready["checks"]["champion"]
    assert _forecast_version(client, headers) == first

    fixed = registry.add()
    reload = client.post("/v1/admin/reload", headers=headers).json()
    assert reload["changed"] is True and reload["error"] is None
    ready = client.get("/ready").json()
    assert ready["status"] == "ok" and "champion" not in ready["checks"]
    assert _forecast_version(client, headers) == fixed


def test_a_version_the_gate_turned_down_is_never_a_fallback(
    registry: Registry, serve: callable
) -> None:
    registry.add()
    turned_down = registry.add(champion=False)
    registry.client.set_model_version_tag(
        registry.name, turned_down, "gate.decision", "kept champion"
    )
    older_broken = registry.add("garbage")  # the champion before the broken one, also broken
    broken = registry.add("truncated")

    client, _ = serve()
    body = client.get("/ready").json()
    # versions 1 (good), 2 (turned down), 3 and 4 (broken): only 1 may serve
    assert body["status"] == "degraded"
    assert body["model_version"] == "1"
    assert f"version {broken}:" in body["checks"]["champion"]
    assert (turned_down, older_broken) == ("2", "3")


def test_with_no_version_that_loads_ready_names_the_fault(
    registry: Registry, serve: callable
) -> None:
    broken = registry.add("garbage")
    client, headers = serve()
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert f"version {broken}: {BUNDLE_FILE} is corrupted" in ready.json()["checks"]["model"]
    answer = client.post("/v1/forecasts", json={"unique_ids": ["total"]}, headers=headers)
    assert answer.status_code == 503
    assert f"version {broken}: {BUNDLE_FILE}" in answer.json()["message"]
