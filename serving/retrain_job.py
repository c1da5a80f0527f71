"""POST /v1/retrain: one retraining at a time in a background thread, progress in the jobs table.

The job reads the datasets folder, trains, logs the run and registers a version behind the
promotion gate (training.retrain), then reloads the champion if the gate promoted it. Its stage
and progress are written to the jobs table as it goes, so any worker can answer GET /v1/jobs/{id}.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from fastapi import FastAPI

from serving import jobs_store

log = logging.getLogger("anticipate.serving")
_running = threading.Lock()


class RetrainBusy(RuntimeError):
    """A retraining is already running in this process."""


def start_retrain(app: FastAPI) -> str:
    """Create the job and start its thread; refuse when one is already running."""
    if not _running.acquire(blocking=False):
        raise RetrainBusy("a retraining is already running; follow it at /v1/jobs")
    engine = app.state.engine
    try:
        job_id = jobs_store.create_job(engine, "retrain")
    except BaseException:
        _running.release()
        raise
    thread = threading.Thread(
        target=_run, args=(app, job_id), name=f"retrain-{job_id}", daemon=True
    )
    thread.start()
    return job_id


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _run(app: FastAPI, job_id: str) -> None:
    from mlflow import MlflowClient

    from features.storage import read_demand_dataset, read_trend_dataset
    from training.config import TrainConfig
    from training.retrain import STAGES, train_and_register

    settings = app.state.settings
    engine = app.state.engine
    stages = ["Reading datasets", *STAGES]

    def progress(stage: str) -> None:
        done = stages.index(stage) if stage in stages else 0
        jobs_store.update_job(engine, job_id, stage=stage, progress=done / (len(stages) + 1))

    try:
        jobs_store.update_job(engine, job_id, status="running", started_at=_now())
        progress(stages[0])
        folder = settings.demo_dir / "datasets"
        demand = read_demand_dataset(folder)
        trend = read_trend_dataset(folder)
        config = (
            TrainConfig.from_toml(settings.retrain_config)
            if settings.retrain_config
            else TrainConfig()
        )
        settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
        outcome = train_and_register(
            config,
            demand,
            trend,
            MlflowClient(tracking_uri=settings.mlflow_tracking_uri),
            model_name=settings.model_name,
            artifact_location=str(settings.mlflow_artifact_root.resolve()),
            tags={"trigger": "api"},
            progress=progress,
        )
        decision = outcome.decision
        result: dict[str, Any] = {
            "run_id": outcome.run_id,
            "version": decision.version,
            "promoted": decision.promoted,
            "candidate_mase": decision.candidate_score,
            "champion_mase": decision.champion_score,
            "rule": decision.rule,
        }
        if decision.promoted:
            progress("Loading the new champion")
            from serving.app import _load

            _load(app, decision.version)
        jobs_store.update_job(
            engine,
            job_id,
            status="succeeded",
            stage="done",
            progress=1.0,
            finished_at=_now(),
            result=result,
        )
    except Exception as err:
        log.exception("retrain job %s failed", job_id)
        jobs_store.update_job(
            engine,
            job_id,
            status="failed",
            finished_at=_now(),
            error=f"{type(err).__name__}: {err}",
        )
    finally:
        _running.release()
