"""log_training: one MLflow run per training, through an explicit client (no global state).

Params are the config and each member model's hyper-parameters; metrics are the backtest scores
overall (`mase`), per hierarchy level (`level.store.mase`) and per horizon bucket
(`steps.1-7.mase`); the datasets are logged as run inputs with their content hashes; artifacts are
the per-series backtest metrics, the per-level and per-bucket tables, fan charts for a sample of
series, and the environment (package versions, git commit). The model itself is logged from
code, with our packages as code paths and pinned third-party requirements (`log_forecast_model`).
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import distributions, version
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunStatus

from features.manifest import Manifest
from features.schema import HIERARCHY_LEVEL, ID, TARGET, TIME
from training.pipeline import TrainingResult
from training.pyfunc import BUNDLE, ForecastBundle

EXPERIMENT = "anticipate"
#: MLflow accepts at most this many characters in a param value.
PARAM_LIMIT = 6000
FAN_CHARTS = 6
#: Run tag holding the URI of the logged pyfunc model (what the registry registers).
MODEL_URI_TAG = "anticipate.model_uri"
#: The third-party distributions the logged model imports (features and training, loaded and
#: forecasting); pinned to the versions installed at logging, which constraints.txt fixes.
MODEL_REQUIREMENTS = (
    "holidays",
    "joblib",
    "mlflow",
    "numpy",
    "pandas",
    "pyarrow",
    "pydantic",
    "scikit-learn",
    "scipy",
    "statsmodels",
    "threadpoolctl",
)
#: The file MLflow loads the model from ("models from code": nothing of ours is pickled by it).
MODEL_CODE = '''"""The forecast model as MLflow loads it: our pyfunc over the bundle artifact."""

from mlflow.models import set_model

from training.pyfunc import AnticipateModel

set_model(AnticipateModel())
'''


def experiment_id(client: MlflowClient, name: str, artifact_location: str | None = None) -> str:
    """The id of experiment `name`, created (with its artifact location) when missing."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def run_params(result: TrainingResult) -> dict[str, str]:
    """The config and each member model's hyper-parameters as flat text params."""
    params = result.config.flat_params()
    for route in result.model.routes_:
        for member in route.members:
            for key, value in member.get_params(deep=False).items():
                params[f"member.{member.alias_name}.{key}"] = str(value)[:PARAM_LIMIT]
    params["data.freq"] = result.freq
    params["data.season_length"] = str(result.season_length)
    reconciliation = getattr(result.model, "reconciliation_", None)
    params["reconciliation.method"] = reconciliation.method if reconciliation else "none"
    opening = getattr(result.model, "opening_", None)
    for store, rules in (opening.describe() if opening else {}).items():
        closed = [*rules["closed_weekdays"], *(["holidays"] if rules["closed_on_holidays"] else [])]
        params[f"opening.{store}.closed"] = ", ".join(closed) or "never"
    return params


def run_metrics(result: TrainingResult) -> dict[str, float]:
    """Overall, per-level and per-horizon-bucket backtest scores under their MLflow names."""
    metrics = {name: value for name, value in result.summary.items()}
    tables = (
        (result.per_hierarchy_level, HIERARCHY_LEVEL, "level"),
        (result.per_bucket, "bucket", "steps"),
    )
    for table, key, prefix in tables:
        for row in table.to_dict("records"):
            for name, value in row.items():
                if name != key:
                    metrics[f"{prefix}.{row[key]}.{name}"] = value
    reconciliation = getattr(result.model, "reconciliation_", None)
    for method, score in (reconciliation.scores if reconciliation else {}).items():
        metrics[f"reconciliation.{method}.level_mean_scaled_mae"] = score
    for method, count in (getattr(reconciliation, "harmed", None) or {}).items():
        metrics[f"reconciliation.{method}.levels_less_accurate_than_base"] = count
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


def dataset_input(manifest: Manifest) -> DatasetInput:
    """A run input naming a dataset by its content hash, with where it came from."""
    profile = {
        "series": manifest.n_series,
        "rows": manifest.n_rows,
        "start": manifest.start,
        "end": manifest.end,
        "freq": manifest.freq,
    }
    dataset = Dataset(
        name=f"anticipate-{manifest.kind}",
        digest=manifest.content_hash[:36],
        source_type="local",
        source=json.dumps({"sources": manifest.sources}, default=str),
        schema=json.dumps({"columns": manifest.columns}),
        profile=json.dumps(profile),
    )
    return DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])


def environment_text() -> str:
    """Installed package versions, one `name==version` a line (what the run ran with)."""
    names = sorted({f"{d.metadata['Name']}=={d.version}" for d in distributions()})
    return "\n".join(names) + "\n"


def fan_chart(history: pd.DataFrame, forecast: pd.DataFrame, title: str) -> bytes:
    """A PNG of the recent history and the forecast with its 80 % and 95 % bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.5))
    recent = history.tail(max(4 * len(forecast), 30))
    axis.plot(recent[TIME], recent[TARGET], color="black", linewidth=1, label="sold")
    for level, alpha in ((95, 0.2), (80, 0.35)):
        if f"yhat_lo_{level}" in forecast:
            axis.fill_between(
                forecast[TIME],
                forecast[f"yhat_lo_{level}"],
                forecast[f"yhat_hi_{level}"],
                alpha=alpha,
                color="tab:blue",
                label=f"{level} %",
            )
    axis.plot(forecast[TIME], forecast["yhat"], color="tab:blue", label="forecast")
    axis.set_title(title)
    axis.legend(loc="upper left", fontsize=8)
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def chart_sample(result: TrainingResult, n: int = FAN_CHARTS) -> list[str]:
    """The series to draw: the total, the top level below it, and the best-selling series."""
    hierarchy_levels = result.hierarchy_levels
    volume = result.forecasts.groupby(ID)["yhat"].sum()
    picks: list[str] = []
    for hierarchy_level in pd.unique(hierarchy_levels[HIERARCHY_LEVEL]):
        members = hierarchy_levels.loc[hierarchy_levels[HIERARCHY_LEVEL] == hierarchy_level, ID]
        picks.extend(volume.reindex(members).nlargest(2 if hierarchy_level != "total" else 1).index)
        if len(picks) >= n:
            break
    return list(dict.fromkeys(picks))[:n]


def log_training(
    client: MlflowClient,
    result: TrainingResult,
    manifests: Sequence[Manifest],
    history: pd.DataFrame,
    *,
    experiment: str = EXPERIMENT,
    artifact_location: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    bundle: ForecastBundle | None = None,
) -> str:
    """Log a training result as one finished MLflow run and return its id.

    A failure part way marks the run FAILED, so a broken run is never mistaken for a good one.
    """
    exp = experiment_id(client, experiment, artifact_location)
    run_tags = {"anticipate.dataset_hashes": ",".join(m.content_hash for m in manifests)}
    run_tags.update(tags or {})
    run = client.create_run(exp, run_name=run_name, tags=run_tags)
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        params = [Param(k, v[:PARAM_LIMIT]) for k, v in run_params(result).items()]
        metrics = [Metric(k, v, now, 0) for k, v in run_metrics(result).items()]
        for start in range(0, max(len(params), len(metrics)), 100):
            client.log_batch(
                run_id, metrics=metrics[start : start + 100], params=params[start : start + 100]
            )
        client.log_inputs(run_id, datasets=[dataset_input(m) for m in manifests])
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            result.series_metrics.to_csv(folder / "series_metrics.csv", index=False)
            result.per_hierarchy_level.to_csv(folder / "per_level.csv", index=False)
            result.per_bucket.to_csv(folder / "per_bucket.csv", index=False)
            client.log_artifacts(run_id, str(folder), artifact_path="backtest")
            charts = folder / "fan_charts"
            charts.mkdir()
            for uid in chart_sample(result):
                series = history[history[ID] == uid]
                forecast = result.forecasts[result.forecasts[ID] == uid]
                (charts / f"{_safe(uid)}.png").write_bytes(fan_chart(series, forecast, uid))
            client.log_artifacts(run_id, str(charts), artifact_path="fan_charts")
        client.log_text(run_id, environment_text(), "environment/requirements.txt")
        if bundle is not None:
            model_uri = log_forecast_model(client, run_id, bundle)
            client.set_tag(run_id, MODEL_URI_TAG, model_uri)
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    except BaseException:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    return run_id


@contextmanager
def using_store(client: MlflowClient) -> Iterator[None]:
    """Point MLflow's process-wide tracking URI at `client`'s store for a while.

    The fluent `log_model` and `load_model("models:/...")` read the global URI; this
    keeps them on the same store as the explicit client, and puts the old URIs back afterwards.
    """
    import mlflow

    # Only the tracking URI: the registry URI follows it unless set, and setting it back
    # explicitly would pin every later client's registry to this store.
    tracking = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking)


def model_requirements() -> list[str]:
    """The logged model's pip requirements: each of MODEL_REQUIREMENTS at its installed version."""
    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def model_code_paths() -> list[str]:
    """Our packages the model's code imports, shipped with it so it loads without installing us."""
    import features
    import training

    return [str(Path(package.__file__).parent) for package in (features, training)]


def log_forecast_model(client: MlflowClient, run_id: str, bundle: ForecastBundle) -> str:
    """Log the bundle as the run's pyfunc model (signature, input example); return its URI.

    The model is logged from code (MODEL_CODE) with our packages as code paths and pinned
    third-party requirements, so it loads anywhere they install; the bundle is an artifact.
    """
    import mlflow
    from mlflow.models import infer_signature

    with using_store(client), tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        path = bundle.save(folder / "bundle.joblib")
        code = folder / "anticipate_model.py"
        code.write_text(MODEL_CODE, encoding="utf-8")
        example = pd.DataFrame({ID: bundle.hierarchy_levels[ID].head(2).astype("str")})
        output = bundle.forecast(list(example[ID]), None, None)
        params = {"horizon": bundle.horizon, "levels": list(bundle.interval_levels)}
        signature = infer_signature(example, output, params=params)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(code),
                artifacts={BUNDLE: str(path)},
                code_paths=model_code_paths(),
                pip_requirements=model_requirements(),
                signature=signature,
                input_example=example,
            )
    return info.model_uri


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100]
