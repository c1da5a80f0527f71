"""Test fixtures of the API: a registered champion in a temp MLflow store, a SQLite ledger, keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from anticipate.settings import Settings
from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.storage import write_demand_dataset, write_trend_dataset
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from serving.app import create_app
from serving.db import make_engine, migrate
from serving.keys import create_key
from training.config import TrainConfig
from training.retrain import train_and_register

MODEL = "anticipate-demand-test"
HORIZON = 7
CONFIG = {
    "model": {"horizon": HORIZON, "members": ["dynamic_theta", "seasonal_naive"]},
}


@dataclass
class Store:
    """Where the trained champion lives and the datasets it came from."""

    root: Path
    tracking_uri: str
    datasets: Path
    version: str


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Train a small model once and register it as the champion of MODEL."""
    return train_store(tmp_path_factory.mktemp("serving-store"))


def train_store(root: Path, config: dict | None = None) -> Store:
    """A small model trained in `root` and registered as the champion of MODEL (about 8 s with
    the default CONFIG; `config` trains another recipe, e.g. with the global model).

    Tests that retrain or promote (and so change the champion) use a store of their own.
    """
    config = CONFIG if config is None else config
    demo = make_demo_sales(seed=11, n_stores=2, n_bakery_items=4, n_web_items=2, n_days=150)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    trend = build_trend_dataset(demand)
    datasets = root / "demo" / "datasets"
    write_demand_dataset(demand, datasets)
    write_trend_dataset(trend, datasets)
    model = config["model"]
    (root / "train.toml").write_text(  # the same recipe for retrains
        f"[model]\nhorizon = {model['horizon']}\nmembers = {json.dumps(model['members'])}\n"
    )
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    (root / "mlruns").mkdir()
    outcome = train_and_register(
        TrainConfig.model_validate(config),
        demand,
        trend,
        MlflowClient(tracking_uri=uri),
        model_name=MODEL,
        artifact_location=str(root / "mlruns"),
    )
    assert outcome.decision.promoted
    return Store(root, uri, datasets, outcome.decision.version)


def settings_for(store: Store, database: Path, **overrides: object) -> Settings:
    """Settings pointing at the test store and a ledger file, polling off unless asked."""
    values: dict[str, object] = {
        "MLFLOW_TRACKING_URI": store.tracking_uri,
        "mlflow_artifact_root": store.root / "mlruns",
        "database_url": f"sqlite:///{database}",
        "model_name": MODEL,
        "demo_dir": store.root / "demo",
        "data_dir": store.datasets,
        "snapshot_dir": database.parent / "snapshots",
        "import_dir": database.parent / "imports",
        "model_poll_seconds": 0,
        "retrain_config": store.root / "train.toml",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Api:
    """A TestClient on a fresh ledger and one key per role."""

    client: TestClient
    keys: dict[str, str]
    database: Path

    def headers(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}


@pytest.fixture
def api(store: Store, tmp_path: Path) -> Iterator[Api]:
    """The app on a new SQLite ledger, started (lifespan) and with keys of every role."""
    database = tmp_path / "ledger.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    made = {
        role: create_key(engine, role, f"test {role}")[1] for role in ("viewer", "writer", "admin")
    }
    engine.dispose()
    app = create_app(settings_for(store, database))
    with TestClient(app) as client:
        yield Api(client, made, database)
