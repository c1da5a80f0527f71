"""POST /v1/retrain: one retraining at a time in a background thread, progress in the jobs table.

The job reads the datasets folder (`ANTICIPATE_DATA_DIR`), trains, logs the run and registers a
version behind the promotion gate (training.retrain), then loads the new champion if the gate
promoted it. Its stage and progress are written to the jobs table as it goes, so any worker can
answer GET /v1/jobs/{id}.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from serving import jobs_store

if TYPE_CHECKING:
    from serving.service import Service

log = logging.getLogger("anticipate.serving")


class RetrainBusy(RuntimeError):
    """A retraining is already running in this process."""


class _Running:
    """The one retraining this process may run, and its job id."""

    lock = threading.Lock()
    job_id: str | None = None


def wait_for_retrain(seconds: float) -> bool:
    """Wait until no retraining runs in this process; False if one still runs after `seconds`."""
    if not _Running.lock.acquire(timeout=seconds):
        return False
    _Running.lock.release()
    return True


def start_retrain(service: Service) -> str:
    """Create the job and start its thread; refuse when one is already running."""
    if not _Running.lock.acquire(blocking=False):
        raise RetrainBusy(
            f"a retraining is already running; follow it at /v1/jobs/{_Running.job_id}"
        )
    try:
        job_id = jobs_store.create_job(service.engine, "retrain")
        _Running.job_id = job_id
    except BaseException:
        _Running.lock.release()
        raise
    thread = threading.Thread(
        target=_run, args=(service, job_id), name=f"retrain-{job_id}", daemon=True
    )
    thread.start()
    return job_id


def _run(service: Service, job_id: str) -> None:
    from features.storage import read_demand_dataset, read_trend_dataset
    from training.config import TrainConfig
    from training.retrain import STAGES, train_and_register

    settings = service.settings
    engine = service.engine
    stages = ["Reading datasets", *STAGES]

    def progress(stage: str) -> None:
        done = stages.index(stage) if stage in stages else 0
        jobs_store.update_job(engine, job_id, stage=stage, progress=done / (len(stages) + 1))

    try:
        jobs_store.update_job(engine, job_id, status="running")
        progress(stages[0])
        folder = settings.data_dir
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
            service.holder.client,
            model_name=settings.model_name,
            artifact_location=str(settings.mlflow_artifact_root.resolve()),
            tags={"trigger": "api"},
            progress=progress,
            n_jobs=settings.n_jobs,
            dask_scheduler=settings.dask_scheduler,
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
            service.load(decision.version)
        jobs_store.update_job(
            engine, job_id, status="succeeded", stage="done", progress=1.0, result=result
        )
    except Exception as err:
        log.exception("retrain job %s failed", job_id)
        jobs_store.update_job(engine, job_id, status="failed", error=f"{type(err).__name__}: {err}")
    finally:
        _Running.job_id = None
        _Running.lock.release()
