"""POST /v1/imports/{id}/build: one import build at a time in a background thread.

The job validates the import, builds the demand and trend datasets and swaps them in for the
datasets folder (`ANTICIPATE_DATA_DIR`, what `POST /v1/retrain` trains on). Stage and progress
go to the jobs table; an invalid export fails the job with the located problems in `result`,
and the previous datasets stay as they were.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from features.errors import DataError
from features.storage import replace_datasets
from serving import imports, jobs_store
from serving.import_schemas import Mapping

if TYPE_CHECKING:
    from serving.service import Service

log = logging.getLogger("anticipate.serving")

KIND = "import"


class ImportBusy(RuntimeError):
    """An import build is already running in this process."""


class _Running:
    """The one import build this process may run, its job and its import."""

    lock = threading.Lock()
    job_id: str | None = None
    import_id: str | None = None


def running_import() -> str | None:
    """The import a build is reading now (spared by the clean-up), if any."""
    return _Running.import_id


def wait_for_import_build(seconds: float) -> bool:
    """Wait until no import build runs in this process; False if one still runs after `seconds`."""
    if not _Running.lock.acquire(timeout=seconds):
        return False
    _Running.lock.release()
    return True


def start_import_build(service: Service, import_id: str, mapping: Mapping) -> str:
    """Check the import and mapping, create the job and start its thread.

    Raises:
        NotFound, InvalidRequest: unknown import, or a mapping naming columns it lacks.
        ImportBusy: a build is already running.
    """
    import_dir = service.settings.import_dir
    description = imports.get_import(import_dir, import_id)
    imports.read_options(description, mapping)  # a wrong column is a 422 now, not a failed job
    if not _Running.lock.acquire(blocking=False):
        raise ImportBusy(
            f"an import build is already running; follow it at /v1/jobs/{_Running.job_id}"
        )
    try:
        job_id = jobs_store.create_job(service.engine, KIND)
        _Running.job_id, _Running.import_id = job_id, import_id
        thread = threading.Thread(
            target=_run,
            args=(service, job_id, import_id, mapping),
            name=f"import-{job_id}",
            daemon=True,
        )
        thread.start()
    except BaseException:
        _Running.job_id = _Running.import_id = None
        _Running.lock.release()
        raise
    return job_id


def _run(service: Service, job_id: str, import_id: str, mapping: Mapping) -> None:
    engine = service.engine
    settings = service.settings
    stages = imports.STAGES

    def progress(stage: str) -> None:
        done = stages.index(stage)
        jobs_store.update_job(engine, job_id, stage=stage, progress=done / len(stages))

    folder = settings.import_dir / import_id
    try:
        jobs_store.update_job(engine, job_id, status="running")
        description = imports.get_import(settings.import_dir, import_id)
        try:
            demand, trend = imports.build_datasets(folder, description, mapping, progress)
        except DataError as err:
            problems = imports.problems_of(err, folder, description)
            jobs_store.update_job(
                engine,
                job_id,
                status="failed",
                result={
                    "import_id": import_id,
                    "ok": False,
                    "problems": [p.model_dump() for p in problems],
                },
                error="\n".join(p.text for p in problems),
            )
            return
        progress(stages[3])
        replace_datasets(settings.data_dir, demand, trend)
        result = {
            "import_id": import_id,
            "ok": True,
            "data_dir": str(settings.data_dir),
            "summary": imports.summary_of(demand, trend).model_dump(),
            "notes": imports.notes_of(demand, trend),
        }
        jobs_store.update_job(
            engine, job_id, status="succeeded", stage="done", progress=1.0, result=result
        )
    except Exception as err:
        log.exception("import build %s failed", job_id)
        jobs_store.update_job(engine, job_id, status="failed", error=f"{type(err).__name__}: {err}")
    finally:
        _Running.job_id = _Running.import_id = None
        _Running.lock.release()
