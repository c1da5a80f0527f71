"""The one settings object: where things live, from ANTICIPATE_* variables and an optional .env.

Only the composition roots (`anticipate/cli/`, `serving/app.py`) call `get_settings()`; every
other module takes plain arguments. What a training run does (models, horizon, holiday country)
is the recipe, `training.config.TrainConfig`; how it uses the machine (n_jobs, a Dask cluster)
is set here and passed to the training functions.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Locations and service parameters; every field can be set as ANTICIPATE_<FIELD>."""

    model_config = SettingsConfigDict(
        env_prefix="ANTICIPATE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        default=Path("data/demo/datasets"),
        description="Datasets folder (demand/, trend/): `data build` writes it, training reads it.",
    )
    demo_dir: Path = Field(
        default=Path("data/demo"), description="Where `data demo` writes the demo sales files."
    )
    mlflow_tracking_uri: str = Field(
        default="sqlite:///mlruns/mlflow.db",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "ANTICIPATE_MLFLOW_TRACKING_URI"),
        description="MLflow tracking store; the default needs nothing running.",
    )
    mlflow_artifact_root: Path = Field(
        default=Path("mlruns"), description="Artifacts of the default local MLflow store."
    )
    database_url: str = Field(
        default="sqlite:///data/anticipate.db",
        description="Forecast ledger and actuals (SQLite file, or a PostgreSQL URL).",
    )
    model_name: str = Field(default="anticipate-demand", description="Registered model name.")
    n_jobs: int = Field(
        default=-1,
        description="Parallel fits in training; -1 uses every core (or every Dask worker).",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Dask scheduler address (tcp://host:8786): training fans its fits out there.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0.0,
        description="A request's line and headers must arrive within this many seconds of the "
        "connection opening (or of its first byte on a kept-alive one); else 408 and close.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0.0,
        description="A request's body must arrive within this many seconds of its headers; "
        "else 408 and close.",
    )
    log_level: str = "INFO"
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Dashboards allowed to call the API from a browser, e.g. ["https://bi.shop"].',
    )
    session_hours: float = Field(
        default=8.0, gt=0, le=24 * 30, description="How long a web page login lasts."
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Optional pepper for the web session cookies' signatures (same on every "
        "worker); without it they are keyed by the API key's stored hash alone.",
    )
    ui_locale: str = Field(
        default="",
        description="Locale of numbers and dates on the web page (e.g. de-DE); empty: the "
        "browser's. Each planner can change it on the page.",
    )
    max_body_bytes: int = Field(
        default=2_000_000, ge=1_000, description="Largest request body the API accepts."
    )
    import_dir: Path = Field(
        default=Path("data/imports"),
        description="Where sales exports uploaded to /v1/imports are kept (one folder each).",
    )
    max_upload_bytes: int = Field(
        default=200_000_000,
        ge=1_000,
        description="Largest upload POST /v1/imports accepts (max_body_bytes does not apply).",
    )
    max_series_per_request: int = Field(default=1000, ge=1)
    adhoc_max_points: int = Field(
        default=5000, ge=10, description="Longest history /v1/forecasts/adhoc accepts."
    )
    model_poll_seconds: float = Field(
        default=30.0, ge=0.0, description="How often the API checks the champion alias; 0: never."
    )
    max_in_flight: int = Field(
        default=64,
        ge=1,
        description="Requests answered at once; more get 503 with Retry-After (back-pressure).",
    )
    child_processes: bool = Field(
        default=True,
        description="Make ledger writes and refits in two child processes of each worker, so "
        "scoring actuals and refitting do not share the forecasts' interpreter lock "
        "(False: threads of the worker).",
    )
    gzip_min_bytes: int = Field(
        default=16_000, ge=0, description="Answers at least this large are gzipped if asked."
    )
    ledger_retention_days: int | None = Field(
        default=400,
        ge=1,
        description="Served forecast points older than this are pruned (accuracy is kept); "
        "unset: keep forever.",
    )
    snapshot_dir: Path = Field(
        default=Path("data/serving-snapshots"),
        description="Where the server keeps the served model moved forward to posted actuals, "
        "so a restart does not refit every series again.",
    )
    retrain_config: Path | None = Field(
        default=None, description="TrainConfig TOML for retraining from the API; defaults if unset."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
