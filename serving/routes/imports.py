"""/v1/imports: upload a sales export, see how it reads, check a mapping, build the datasets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from serving import imports
from serving.deps import AdminKey, ServiceDep, WriterKey
from serving.errors import ERROR_RESPONSES, Busy
from serving.import_job import ImportBusy, running_import, start_import_build
from serving.import_schemas import CheckReport, ImportBuildResponse, ImportDescription, Mapping

router = APIRouter(prefix="/v1", tags=["imports"], responses=ERROR_RESPONSES)

#: Paths whose bodies are uploads: `max_upload_bytes` bounds them, not `max_body_bytes`.
UPLOAD_PATHS = ("/v1/imports",)


@router.post("/imports", response_model=ImportDescription, status_code=201)
def upload(
    service: ServiceDep,
    _: WriterKey,
    sales: Annotated[UploadFile, File(description="Sales export, CSV (any delimiter) or Parquet.")],
    attributes: Annotated[
        UploadFile | None, File(description="Optional table of series -> category, store, ...")
    ] = None,
) -> ImportDescription:
    """Store a sales export; answer how it reads, its columns, first rows and a mapping."""
    return imports.create_import(
        service.settings.import_dir,
        sales.file,
        sales.filename,
        attributes.file if attributes is not None else None,
        attributes.filename if attributes is not None else None,
        keep_running=[i for i in (running_import(),) if i],
    )


@router.get("/imports/{import_id}", response_model=ImportDescription)
def describe(import_id: str, service: ServiceDep, _: WriterKey) -> ImportDescription:
    """The description of an upload, as answered when it was made."""
    return imports.get_import(service.settings.import_dir, import_id)


@router.post("/imports/{import_id}/check", response_model=CheckReport)
def check(import_id: str, mapping: Mapping, service: ServiceDep, _: WriterKey) -> CheckReport:
    """Validate the export under a mapping, as `anticipate data build` would; writes nothing.

    A broken export is a 200 with `ok: false` and its located problems.
    """
    return imports.check_import(service.settings.import_dir, import_id, mapping)


@router.post("/imports/{import_id}/build", response_model=ImportBuildResponse, status_code=202)
def build(
    import_id: str, mapping: Mapping, service: ServiceDep, _: AdminKey
) -> ImportBuildResponse:
    """Build the datasets retraining reads, in the background; follow it at /v1/jobs/{id}.

    The previous datasets stay until the new ones are complete; invalid data fails the job.
    """
    try:
        job_id = start_import_build(service, import_id, mapping)
    except ImportBusy as err:
        raise Busy(str(err)) from None
    return ImportBuildResponse(job_id=job_id, status="queued", href=f"/v1/jobs/{job_id}")
