"""The one settings object: where things live, from ANTICIPATE_* variables and an optional .env.

Only the composition roots (`anticipate/cli.py`, `serving/app.py`) call `get_settings()`; every
other module takes plain arguments. What a training run does is configured elsewhere (TrainConfig).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Locations and service parameters; every field can be set as ANTICIPATE_<FIELD>."""

    model_config = SettingsConfigDict(
        env_prefix="ANTICIPATE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default=Path("data"), description="Where datasets are built and read.")
    demo_dir: Path = Field(default=Path("data/demo"), description="Where the demo data goes.")
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
    country: str = Field(default="DE", description="Country whose public holidays are features.")
    max_horizon: int = Field(default=90, ge=1, le=1000)
    n_jobs: int = Field(default=-1, description="Parallel fits (joblib); -1 uses every core.")
    dask_scheduler: str | None = Field(
        default=None, description="Address of a Dask scheduler to fan fits out to, if any."
    )
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")
    log_level: str = "INFO"
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Dashboards allowed to call the API from a browser, e.g. ["https://bi.shop"].',
    )
    max_body_bytes: int = Field(
        default=2_000_000, ge=1_000, description="Largest request body the API accepts."
    )
    max_series_per_request: int = Field(default=1000, ge=1)
    adhoc_max_points: int = Field(
        default=5000, ge=10, description="Longest history /v1/forecasts/adhoc accepts."
    )
    model_poll_seconds: float = Field(
        default=30.0, ge=0.0, description="How often the API checks the champion alias; 0: never."
    )
    retrain_config: Path | None = Field(
        default=None, description="TrainConfig TOML for retraining from the API; defaults if unset."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
