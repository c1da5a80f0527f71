"""A training run is logged to a real MLflow store (SQLite in a temp folder) completely.

Its model is logged from code with our packages as code paths: logging warns about nothing (no
pickled model object), the requirements are pinned third-party packages only, and the model
loads and forecasts in a process outside the repository that cannot import our installed package.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import packages_distributions
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import ID, TARGET, TIME
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.pipeline import run_training
from training.pyfunc import ForecastBundle
from training.tracking import MODEL_URI_TAG, log_training

ROOT = Path(__file__).resolve().parents[2]
#: Third-party packages our code imports only for work a loaded model never does.
NOT_FOR_FORECASTING = {"matplotlib": "fan charts, drawn while logging", "distributed": "Dask"}


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    """A small, fast training run and the datasets it used."""
    demo = make_demo_sales(seed=3, n_stores=2, n_bakery_items=5, n_web_items=2, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    trend = build_trend_dataset(demand)
    config = TrainConfig.model_validate(
        {"model": {"horizon": 7, "members": ["dynamic_theta", "seasonal_naive", "global_hgb"]}}
    )
    return run_training(config, demand, trend, n_jobs=1), demand, trend


@pytest.mark.slow
def test_run_records_params_metrics_inputs_and_artifacts(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Data scientists find the config, the scores, the data hash and the charts in the run."""
    result, demand, trend = trained
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    history = trend.frame[[ID, TIME, TARGET]]
    run_id = log_training(
        client,
        result,
        [demand.manifest, trend.manifest],
        history,
        artifact_location=str(tmp_path / "artifacts"),
    )
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.horizon"] == "7"
    assert "member.dynamic_theta.season_length" in run.data.params
    for name in ("mase", "wape", "coverage_80", "level.total.mase", "steps.1-2.mase"):
        assert name in run.data.metrics
    assert run.data.metrics["mase"] == pytest.approx(result.summary["mase"])
    digests = {i.dataset.digest for i in run.inputs.dataset_inputs}
    assert demand.manifest.content_hash[:36] in digests
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"backtest", "fan_charts", "environment"} <= artifacts
    charts = client.list_artifacts(run_id, "fan_charts")
    assert charts and all(c.path.endswith(".png") for c in charts)


class _Records(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def mlflow_warnings() -> Iterator[list[logging.LogRecord]]:
    """The warnings MLflow logs meanwhile (its pickling warning is a log record, not a warning)."""
    handler, logger = _Records(), logging.getLogger("mlflow")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def logged(trained, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A run logged with its model; the store, model URI, local copy and MLflow's warnings."""
    result, demand, trend = trained
    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    bundle = ForecastBundle(result.model, result.hierarchy_levels, 7, (80, 95), result.freq)
    with mlflow_warnings() as records:
        run_id = log_training(
            client,
            result,
            [demand.manifest],
            trend.frame[[ID, TIME, TARGET]],
            artifact_location=str(folder / "artifacts"),
            bundle=bundle,
        )
    model_uri = client.get_run(run_id).data.tags[MODEL_URI_TAG]
    location = client.get_logged_model(model_uri.rsplit("/", 1)[-1]).artifact_location
    local = Path(mlflow.artifacts.download_artifacts(location, dst_path=str(folder / "copy")))
    return {
        "uri": uri,
        "model_uri": model_uri,
        "local": local,
        "records": records,
        "bundle": bundle,
    }


@pytest.mark.slow
def test_logging_the_model_warns_about_nothing_and_pickles_no_model_object(logged) -> None:  # type: ignore[no-untyped-def]
    """No CloudPickle warning (nor any other): MLflow loads the model from code, not a pickle."""
    assert [r.getMessage() for r in logged["records"]] == []
    flavor = (logged["local"] / "MLmodel").read_text(encoding="utf-8")
    assert "model_code_path:" in flavor and "code: code" in flavor
    assert not (logged["local"] / "python_model.pkl").exists()
    assert {p.name for p in (logged["local"] / "code").iterdir()} == {"features", "training"}


def _declared_dependencies() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    return {canonicalize_name(r.name): r for r in requirements}


def _third_party_imports(*packages: str) -> set[str]:
    """Top-level names of the non-standard, non-our modules that `packages` import anywhere."""
    names: set[str] = set()
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in packages}


@pytest.mark.slow
def test_the_model_requires_pinned_third_party_packages_and_not_anticipate(logged) -> None:  # type: ignore[no-untyped-def]
    """Every requirement is a package pyproject.toml bounds, pinned inside those bounds."""
    for name in ("requirements.txt", "conda.yaml", "python_env.yaml"):
        assert "anticipate" not in (logged["local"] / name).read_text(encoding="utf-8")
    lines = (logged["local"] / "requirements.txt").read_text(encoding="utf-8").split()
    pinned = {canonicalize_name(r.name): r for r in map(Requirement, lines)}
    declared = _declared_dependencies()
    for name, requirement in pinned.items():
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{requirement} is not pinned"
        assert name in declared, f"{name} is not a dependency in pyproject.toml"
        assert declared[name].specifier.contains(spec.version), f"{requirement} vs {declared[name]}"
    distributions = packages_distributions()
    for module in _third_party_imports("features", "training") - set(NOT_FOR_FORECASTING):
        provided = {canonicalize_name(d) for d in distributions[module]}
        assert provided & set(pinned), (
            f"our code imports {module}; the model requires none of {provided}"
        )


LOAD_ELSEWHERE = """
import importlib.machinery, json, site, sys

OURS = {"anticipate", "features", "serving", "training"}
INSTALLED = {*site.getsitepackages(), site.getusersitepackages()}


class ShippedCodeOnly:
    # Our packages resolve only from plain folders on sys.path (where MLflow puts the model's
    # code), never from the installed project (an editable install's finder, site-packages).
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name not in OURS:
            return None
        folders = [p for p in sys.path if p and p not in INSTALLED]
        spec = importlib.machinery.PathFinder.find_spec(name, folders)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return spec


sys.meta_path.insert(0, ShippedCodeOnly)
try:
    import training
except ModuleNotFoundError:
    pass
else:
    raise SystemExit(f"our package is importable before the model is loaded: {training.__file__}")

import mlflow
import pandas as pd

mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
ids = pd.read_parquet(sys.argv[3])["unique_id"].drop_duplicates().sort_values()
params = {"horizon": 7, "levels": [80, 95]}
model.predict(pd.DataFrame({"unique_id": ids}), params=params).to_parquet(sys.argv[4])
asked = ids.iloc[-1]
one = model.predict(pd.DataFrame({"unique_id": [asked]}), params=params)
import training
print(json.dumps({"code": training.__file__, "one": one["unique_id"].tolist(), "asked": asked}))
"""


@pytest.mark.slow
def test_the_logged_model_forecasts_in_a_fresh_process_outside_the_repo(
    logged, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Loaded by URI from another folder, without our package: exactly the logged forecasts."""
    expected = logged["bundle"].forecast(None, None, None)
    expected.to_parquet(tmp_path / "expected.parquet")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_ELSEWHERE,
            logged["uri"],
            logged["model_uri"],
            str(tmp_path / "expected.parquet"),
            str(tmp_path / "out.parquet"),
        ],
        cwd=elsewhere,
        env=env,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    code = Path(report["code"]).resolve()
    assert not code.is_relative_to(ROOT), f"training was imported from the repo: {code}"
    assert code.parts[-3:] == ("code", "training", "__init__.py")
    assert report["one"] == [report["asked"]] * 7
    again = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(again, expected, check_dtype=False)
