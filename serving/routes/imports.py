"""/v1/imports: upload a sales export, see how it reads, check a mapping, build the datasets."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.formparsers import MultiPartException

from serving import imports
from serving.deps import AdminKey, ServiceDep, WriterKey
from serving.errors import ERROR_RESPONSES, Busy, InvalidRequest
from serving.import_job import ImportBusy, running_import, start_import_build
from serving.import_schemas import CheckReport, ImportBuildResponse, ImportDescription, Mapping

router = APIRouter(prefix="/v1", tags=["imports"], responses=ERROR_RESPONSES)

#: Paths whose bodies are uploads: `max_upload_bytes` bounds them, not `max_body_bytes`.
UPLOAD_PATHS = ("/v1/imports",)


#: The upload's form, documented by hand: the route parses it only after the key is checked.
_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["sales"],
                    "properties": {
                        "sales": {
                            "type": "string",
                            "format": "binary",
                            "description": "Sales export, CSV (any delimiter) or Parquet.",
                        },
                        "attributes": {
                            "type": "string",
                            "format": "binary",
                            "description": "Optional table of series -> category, store, ...",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/imports", response_model=ImportDescription, status_code=201, openapi_extra=_UPLOAD_FORM
)
async def upload(request: Request, service: ServiceDep, _: WriterKey) -> ImportDescription:
    """Store a sales export; answer how it reads, its columns, first rows and a mapping.

    The form is read after the key is checked, so no one without a writer key can make the
    server take in a large file.
    """
    try:
        form = await request.form(max_files=2, max_fields=2)
    except MultiPartException as err:
        raise InvalidRequest(f"the upload is not a readable form: {err.message}", "body") from None
    try:
        sales, attributes = form.get("sales"), form.get("attributes")
        if not isinstance(sales, StarletteUpload):
            raise InvalidRequest("upload the sales export as the file field 'sales'", "body.sales")
        if attributes is not None and not isinstance(attributes, StarletteUpload):
            raise InvalidRequest("'attributes' must be a file", "body.attributes")
        return await run_in_threadpool(
            imports.create_import,
            service.settings.import_dir,
            sales.file,
            sales.filename,
            attributes.file if attributes is not None else None,
            attributes.filename if attributes is not None else None,
            keep_running=[i for i in (running_import(),) if i],
        )
    finally:
        await form.close()


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
