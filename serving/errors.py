"""The API's named errors and their one mapping to HTTP: every answer is a JSON ErrorBody.

    ApiError                      a client mistake or an unavailable state (status, code, field)
    ├── InvalidRequest    422     a field is wrong; `field` names it (body.x, query.y, path.z)
    ├── UnknownSeries     422     ids the model does not know
    ├── NotFound          404     an unknown job or series in the path
    ├── Unauthorized      401     no key, or an unknown or revoked one
    ├── Forbidden         403     the key's role may not do this
    ├── Busy              409     a retraining (or an import build) already runs
    ├── NoModel           503     nothing loaded yet
    └── Overloaded        503     too many requests in flight (with Retry-After)

Routes and services raise these; `install_error_handlers` turns them, pydantic's validation
errors and Starlette's HTTP errors into ErrorBody answers. A 500 is only ever a server bug.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.schemas import ErrorBody

log = logging.getLogger("anticipate.serving")

#: The error answers each operation documents in the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorBody, "description": "Malformed request (e.g. a body that is not JSON)."},
    401: {"model": ErrorBody, "description": "No API key, or an unknown or revoked one."},
    403: {"model": ErrorBody, "description": "The key's role may not do this."},
    404: {"model": ErrorBody, "description": "Unknown series or job."},
    409: {"model": ErrorBody, "description": "A retraining is already running."},
    413: {"model": ErrorBody, "description": "Request body larger than the server accepts."},
    422: {"model": ErrorBody, "description": "A field is invalid; `fields` names it."},
    503: {"model": ErrorBody, "description": "No model loaded yet, or overloaded (Retry-After)."},
}


class ApiError(Exception):
    """A client mistake or unavailable state, answered with `status` and a JSON ErrorBody."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field
        self.headers: dict[str, str] = {}


class InvalidRequest(ApiError):
    """A field of the request is wrong."""

    status, code = 422, "validation_error"


class UnknownSeries(ApiError):
    """The request names series the model does not know."""

    status, code = 422, "unknown_series"

    def __init__(self, unique_ids: Sequence[str], field: str, hint: str = "") -> None:
        shown = list(unique_ids)[:10]
        more = " ..." if len(unique_ids) > 10 else ""
        super().__init__(f"unknown series {shown}{more}{hint}", field)
        self.unique_ids = list(unique_ids)


class DuplicateRows(ApiError):
    """A batch repeats a (series, date) pair."""

    status, code = 422, "duplicate_rows"


class NotFound(ApiError):
    """The path names something that does not exist."""

    status, code = 404, "not_found"


class Unauthorized(ApiError):
    """No key, or an unknown or revoked one."""

    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    """The key's role is too low."""

    status, code = 403, "forbidden"


class Busy(ApiError):
    """A job of this kind already runs."""

    status, code = 409, "busy"


class NoModel(ApiError):
    """No model is loaded (yet)."""

    status, code = 503, "no_model"


class Overloaded(ApiError):
    """More requests are in flight than the server admits; retry after a moment."""

    status, code = 503, "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str | None,
    fields: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An ErrorBody answer."""
    body = ErrorBody(error=code, message=message, fields=fields or [], request_id=request_id)
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _api_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, ApiError)
    fields = [{"field": err.field, "problem": err.message}] if err.field else []
    return error_response(
        err.status, err.code, err.message, _request_id(request), fields, err.headers
    )


async def _invalid(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    problems = err.errors()
    fields = [
        {
            "field": ".".join(str(part) for part in p.get("loc", ())),
            "problem": p.get("msg", "invalid"),
        }
        for p in problems
    ]
    if any(p.get("type") == "json_invalid" for p in problems):
        message = "the request body is not valid JSON"
        return error_response(400, "invalid_json", message, _request_id(request), fields)
    first = fields[0] if fields else {"field": "request", "problem": "invalid"}
    message = f"{first['field']}: {first['problem']}"
    return error_response(422, "validation_error", message, _request_id(request), fields)


async def _http_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, StarletteHTTPException)
    codes = {
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthorized",
        413: "body_too_large",
    }
    code = codes.get(err.status_code, "http_error")
    fields = []
    if err.status_code == 413:  # an upload that passed its limit while it was read
        fields = [{"field": "body", "problem": "too large"}]
    if err.status_code == 400:  # a body Starlette could not even decode
        code, fields = "invalid_body", [{"field": "body", "problem": str(err.detail)}]
    return error_response(
        err.status_code, code, str(err.detail), _request_id(request), fields, err.headers
    )


async def _crash(request: Request, err: Exception) -> JSONResponse:
    log.exception("unexpected error in %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "the server failed; see its log", None)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as an ErrorBody: ours, pydantic's, Starlette's, and crashes."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _crash)
