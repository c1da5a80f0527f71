"""The forecast API: forecasts with the anticipation metric, the forecast ledger, actuals, jobs.

    uvicorn --factory serving.app:create_app      (or: anticipate serve)

Built from the settings object at start; `create_app(settings)` lets tests and notebooks pass
their own. Every client mistake is answered 4xx with a JSON body naming the field; never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from anticipate.settings import Settings, get_settings
from features.schema import ID, LEVEL, TARGET, TIME
from serving import anticipation, jobs_store, keys, ledger
from serving.db import check as check_database
from serving.db import make_engine, migrate
from serving.metrics import ApiMetrics
from serving.schemas import (
    Accuracy,
    AccuracyGroup,
    AccuracyResponse,
    ActualsRequest,
    ActualsResponse,
    AdhocRequest,
    AdhocResponse,
    Anticipation,
    Drift,
    ErrorBody,
    ForecastHistoryResponse,
    ForecastRequest,
    ForecastResponse,
    Health,
    Job,
    Point,
    ReloadResponse,
    RetrainResponse,
    SeriesInfo,
    SeriesPage,
    ServedForecast,
)
from serving.state import LiveModel, ModelHolder, finite_or_none

log = logging.getLogger("anticipate.serving")

ERRORS = {
    400: {"model": ErrorBody, "description": "Malformed request (e.g. a body that is not JSON)."},
    401: {"model": ErrorBody, "description": "No API key, or an unknown or revoked one."},
    403: {"model": ErrorBody, "description": "The key's role may not do this."},
    404: {"model": ErrorBody, "description": "Unknown series or job."},
    409: {"model": ErrorBody, "description": "A retraining is already running."},
    413: {"model": ErrorBody, "description": "Request body larger than the server accepts."},
    422: {"model": ErrorBody, "description": "A field is invalid; `fields` names it."},
    503: {"model": ErrorBody, "description": "No model loaded yet."},
}
ACCURACY_KEYS = tuple(Accuracy.model_fields)
DRIFT_KEYS = tuple(k for k in Drift.model_fields if k != "rule")


class ApiError(Exception):
    """A client mistake or unavailable state, answered with `status` and a JSON ErrorBody."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


# ---------------------------------------------------------------------------- the application


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API wired to the settings' MLflow registry and ledger database."""
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    holder = ModelHolder(settings.mlflow_tracking_uri, settings.model_name)
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(migrate, engine)
        await run_in_threadpool(jobs_store.mark_interrupted, engine)
        await run_in_threadpool(_load, app, None)
        poller = None
        if settings.model_poll_seconds > 0:
            poller = asyncio.create_task(_poll(app, settings.model_poll_seconds))
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            engine.dispose()
            gc.unfreeze()

    app = FastAPI(
        title="Anticipate",
        version="1",
        summary="Demand forecasts for small businesses, and how far to trust them.",
        description=(
            "Every forecast comes with its anticipation metric: the accuracy the backtest "
            "promised (expected) and the accuracy the served forecasts turned out to have once "
            "actual sales arrived (realized), with a drift flag. Authenticate with an API key in "
            "the `X-API-Key` header (`anticipate keys create --role viewer|writer|admin`)."
        ),
        lifespan=lifespan,
        responses={500: {"model": ErrorBody}},
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.realized_cache = {}
    app.state.actuals_mark = None
    app.state.cache_lock = threading.Lock()
    app.state.key_cache = {}
    # One forecast request computed at a time per process. The work is CPU-bound Python that
    # holds the GIL, so request threads running side by side gain nothing and lose about a third
    # of the throughput to GIL hand-offs; and SQLite takes one writer at a time: a ledger write
    # that finds the database locked sleeps in SQLite's busy handler (1, 2, 5, ... ms per try).
    app.state.forecast_lock = threading.Lock()

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    _install_error_handlers(app)

    app.add_middleware(RequestContext, metrics=metrics)

    _routes(app)
    return app


def _load(app: FastAPI, version: str | None) -> bool:
    """Load the champion (or `version`), moved forward to the actuals already posted."""
    holder: ModelHolder = app.state.holder
    changed = holder.load(version, actuals=ledger.actuals_frame(app.state.engine))
    if changed:
        app.state.realized_cache = {}
        app.state.metrics.model_loaded(holder.name, holder.current.version)  # type: ignore[union-attr]
        _freeze_heap()
    return changed


def _freeze_heap() -> None:
    """Exempt what is alive now (imported modules, the loaded model) from full collections.

    Python's full garbage collection scans every tracked object: about 380k once the model is
    loaded, 160 ms on a 2-core machine, and it ran every ~55 requests of 100 series (their p99
    at 10 requests/s: 220 ms instead of 60). Frozen objects are still freed by reference
    counting; unfreezing first lets a replaced model's reference cycles be collected.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


async def _poll(app: FastAPI, every: float) -> None:
    """Follow the champion alias and actuals posted to other workers, every `every` seconds."""
    holder: ModelHolder = app.state.holder
    while True:
        await asyncio.sleep(every)
        try:
            version = await run_in_threadpool(holder.champion_version)
            current = holder.current
            if version is not None and (current is None or current.version != version):
                await run_in_threadpool(_load, app, version)
            await run_in_threadpool(_sync_actuals, app)
        except Exception:  # keep polling whatever happened
            log.exception("polling the registry failed")


def _sync_actuals(app: FastAPI) -> None:
    """Apply actuals that arrived through another worker since the last look."""
    mark = ledger.actuals_mark(app.state.engine)
    if mark == app.state.actuals_mark:
        return
    app.state.actuals_mark = mark
    moved = app.state.holder.move_forward(ledger.actuals_frame(app.state.engine))
    if moved:
        app.state.realized_cache = {}


# ---------------------------------------------------------------------------- errors and limits


class RequestContext:
    """Give each request a fresh id (X-Request-ID, the ledger's key) and time it for /metrics.

    A plain ASGI middleware: Starlette's `@app.middleware("http")` costs a task and a stream per
    request, which showed in the latency of the forecast endpoint.
    """

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413 before the app reads them."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict, receive: Any, send: Any) -> None:
        response = JSONResponse(
            {
                "error": "body_too_large",
                "message": f"request body is larger than {self.max_bytes} bytes; "
                "send fewer rows per request",
                "fields": [{"field": "body", "problem": "too large"}],
            },
            status_code=413,
        )
        await response(scope, receive, send)


def _error(status: int, code: str, message: str, request: Request, fields: list | None = None):  # type: ignore[no-untyped-def]
    body = ErrorBody(
        error=code,
        message=message,
        fields=fields or [],
        request_id=getattr(request.state, "request_id", None),
    )
    return JSONResponse(jsonable_encoder(body), status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):  # type: ignore[no-untyped-def]
        fields = [{"field": err.field, "problem": err.message}] if err.field else []
        return _error(err.status, err.code, err.message, request, fields)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):  # type: ignore[no-untyped-def]
        fields = []
        for problem in err.errors():
            where = ".".join(str(part) for part in problem.get("loc", ()))
            fields.append({"field": where, "problem": problem.get("msg", "invalid")})
        if any(p.get("type") == "json_invalid" for p in err.errors()):
            return _error(
                400, "invalid_json", "the request body is not valid JSON", request, fields
            )
        first = fields[0] if fields else {"field": "request", "problem": "invalid"}
        message = f"{first['field']}: {first['problem']}"
        return _error(422, "validation_error", message, request, fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):  # type: ignore[no-untyped-def]
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        code = codes.get(err.status_code, "http_error")
        fields = []
        if err.status_code == 400:  # a body Starlette could not even decode
            code, fields = "invalid_body", [{"field": "body", "problem": str(err.detail)}]
        response = _error(err.status_code, code, str(err.detail), request, fields)
        for name, value in (err.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def crash(request: Request, err: Exception):  # type: ignore[no-untyped-def]
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "the server failed; see its log", request)


# ---------------------------------------------------------------------------- security


def _api_key(request: Request) -> str | None:
    given = request.headers.get("X-API-Key")
    if given:
        return given.strip()
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def require(role: str):  # type: ignore[no-untyped-def]
    """A dependency: the caller's key must exist, be active and have at least `role`."""

    def check(request: Request) -> keys.ApiKey:
        plaintext = _api_key(request)
        if not plaintext:
            raise ApiError(401, "unauthorized", "an API key is required in the X-API-Key header")
        key = _verified(request.app, plaintext)
        if key is None:
            raise ApiError(401, "unauthorized", "the API key is unknown or revoked")
        if not keys.allows(key.role, role):
            raise ApiError(
                403, "forbidden", f"this needs the {role} role; the key has the {key.role} role"
            )
        return key

    return check


#: A verified key is trusted this long without asking the database again (so a revoked key
#: stops working within this many seconds).
KEY_CACHE_SECONDS = 5.0


def _verified(app: FastAPI, plaintext: str) -> keys.ApiKey | None:
    """The active key for `plaintext`, from a short-lived cache of successful checks."""
    digest = hashlib.sha256(plaintext.encode()).hexdigest()
    cache: dict[str, tuple[keys.ApiKey, float]] = app.state.key_cache
    hit = cache.get(digest)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    key = keys.verify_key(app.state.engine, plaintext)
    if key is None:
        cache.pop(digest, None)
        return None
    if len(cache) > 10_000:
        cache.clear()
    cache[digest] = (key, now + KEY_CACHE_SECONDS)
    return key


Viewer = Annotated["keys.ApiKey", Depends(require("viewer"))]
Writer = Annotated["keys.ApiKey", Depends(require("writer"))]
Admin = Annotated["keys.ApiKey", Depends(require("admin"))]


def _live(request: Request) -> LiveModel:
    live = request.app.state.holder.current
    if live is None:
        error = request.app.state.holder.last_error or "no model loaded"
        raise ApiError(503, "no_model", f"no model is loaded yet: {error}")
    return live


# ---------------------------------------------------------------------------- anticipation


def _accuracy(row: Any) -> Accuracy:
    values = {}
    for name in ACCURACY_KEYS:
        if name in row:
            value = row[name]
            values[name] = (
                None
                if value is None or pd.isna(value)
                else int(value)
                if name.startswith("n_")
                else finite_or_none(value)
            )
    return Accuracy(**values)


def _drift(row: Any | None) -> Drift:
    if row is None:
        return Drift(rule=anticipation.DRIFT_RULE, reason=anticipation.TOO_FEW)
    values: dict[str, Any] = {}
    for name in DRIFT_KEYS:
        if name in row:
            value = row[name]
            if name == "drift":
                values[name] = bool(value)
            elif name == "reason":
                values[name] = (
                    None if value is None or pd.isna(value) or value == "" else str(value)
                )
            elif name == "n_points":
                values[name] = 0 if pd.isna(value) else int(value)
            else:
                values[name] = finite_or_none(value)
    return Drift(rule=anticipation.DRIFT_RULE, **values)


def _expected_table(live: LiveModel) -> dict[str, Accuracy]:
    cache = live.__dict__.get("_expected")
    if cache is None:
        expected = live.bundle.expected
        cache = {}
        if expected is not None and len(expected):
            summary = anticipation.expected_summary(expected, by=(ID,))
            for row in summary.to_dict("records"):
                cache[str(row[ID])] = _accuracy(row)
        live.__dict__["_expected"] = cache
    return cache


def _series_anticipation(app: FastAPI, live: LiveModel, ids: list[str]) -> dict[str, Anticipation]:
    """Expected, realized and drift of each series (realized cached until new actuals)."""
    expected = _expected_table(live)
    cache: dict[str, tuple[Accuracy | None, Drift]] = app.state.realized_cache
    missing = [uid for uid in ids if uid not in cache]
    if missing:
        points = ledger.scored_points(app.state.engine, unique_ids=missing)
        realized_rows: dict[str, Any] = {}
        drift_rows: dict[str, Any] = {}
        if len(points):
            history = _history(app, live, missing)
            season = live.bundle.season_length or 1
            for row in anticipation.realized(points, history, season, by=(ID,)).to_dict("records"):
                realized_rows[str(row[ID])] = row
            if live.bundle.expected is not None:
                found = anticipation.drift(points, history, live.bundle.expected, season, by=(ID,))
                for row in found.to_dict("records"):
                    drift_rows[str(row[ID])] = row
        with app.state.cache_lock:
            for uid in missing:
                row = realized_rows.get(uid)
                cache[uid] = (_accuracy(row) if row else None, _drift(drift_rows.get(uid)))
    out = {}
    for uid in ids:
        realized, drift = cache.get(uid, (None, _drift(None)))
        out[uid] = Anticipation(
            expected=expected.get(uid, Accuracy()), realized=realized, drift=drift
        )
    return out


def _history(app: FastAPI, live: LiveModel, ids: list[str] | None) -> pd.DataFrame:
    """Training history plus every posted actual of these series (all series when None)."""
    base = live.bundle.history
    posted = ledger.actuals_frame(app.state.engine, unique_ids=ids)
    if ids is not None:
        base = base[base[ID].isin(set(ids))]
    frame = pd.concat([base[[ID, TIME, TARGET]], posted[[ID, TIME, TARGET]]], ignore_index=True)
    return frame.drop_duplicates([ID, TIME], keep="last").sort_values([ID, TIME])


# ---------------------------------------------------------------------------- routes


def _points(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts: `ds` a date, every other column (but unique_id) a float rounded."""
    names = [c for c in frame.columns if c not in (TIME, ID)]
    # Column arrays converted once (per-row or per-series pandas calls dominate large answers).
    days = frame[TIME].to_numpy(dtype="datetime64[D]").tolist()
    values = [
        np.round(frame[c].to_numpy(dtype="float64", na_value=np.nan), 6).tolist() for c in names
    ]
    keys = ("ds", *names)
    return [dict(zip(keys, row, strict=True)) for row in zip(days, *values, strict=True)]


def _forecast_response(
    app: FastAPI,
    live: LiveModel,
    ids: list[str],
    horizon: int,
    levels: list[int],
    request_id: str,
    api_key_id: int | None,
) -> JSONResponse:
    """Forecasts of `ids` from the snapshot, logged to the ledger, with their anticipation.

    The hot path of the API: it builds the JSON body from arrays directly (the response model
    documents it; tests and the schemathesis run check the body against it).
    """
    frame = live.forecast(ids, horizon, levels)  # long, the series in `ids` order
    served_at = dt.datetime.now(dt.UTC)
    origins = [live.origin_of[uid] for uid in ids]
    level_names = [str(live.level_of[uid]) for uid in ids]
    days = frame[TIME].to_numpy(dtype="datetime64[us]")
    yhat = frame["yhat"].to_numpy(dtype="float64")
    bounds = {
        lv: (
            frame[f"yhat_lo_{lv}"].to_numpy(dtype="float64"),
            frame[f"yhat_hi_{lv}"].to_numpy(dtype="float64"),
        )
        for lv in levels
    }
    ledger.log_served(
        app.state.engine,
        request_id,
        live.name,
        live.version,
        ledger.ServedRows(
            ids,
            level_names,
            [o.to_pydatetime() for o in origins],
            horizon,
            days.tolist(),
            yhat,
            bounds,
        ),
        api_key_id=api_key_id,
    )
    app.state.metrics.forecasts_served(len(ids))
    anticipations = _anticipation_json(app, live, ids)
    model_name = live.model.alias_name
    names = ["yhat", *(c for lv in levels for c in (f"yhat_lo_{lv}", f"yhat_hi_{lv}"))]
    columns = [np.round(yhat, 6).tolist()]
    for lv in levels:
        columns += [np.round(bounds[lv][0], 6).tolist(), np.round(bounds[lv][1], 6).tolist()]
    dates = days.astype("datetime64[D]").astype("str").tolist()
    forecasts = []
    for i, uid in enumerate(ids):
        rows = range(i * horizon, (i + 1) * horizon)
        points = [
            {"ds": dates[r], **{n: col[r] for n, col in zip(names, columns, strict=True)}}
            for r in rows
        ]
        forecasts.append(
            {
                "unique_id": uid,
                "level": level_names[i],
                "model": model_name,
                "model_version": live.version,
                "origin": origins[i].date().isoformat(),
                "points": points,
                "anticipation": anticipations[uid],
            }
        )
    body = {
        "request_id": request_id,
        "model_name": live.name,
        "model_version": live.version,
        "served_at": served_at.isoformat(),
        "forecasts": forecasts,
    }
    return JSONResponse(body)


def _anticipation_json(app: FastAPI, live: LiveModel, ids: list[str]) -> dict[str, Any]:
    """Each series' anticipation as JSON-ready dicts, memoised until new actuals or a new model."""
    key = (live.version, live.loaded_at)
    cache = app.state.realized_cache.get("__json__")
    if cache is None or cache[0] != key:
        cache = (key, {})
        app.state.realized_cache["__json__"] = cache
    found = cache[1]
    missing = [uid for uid in ids if uid not in found]
    if missing:
        for uid, anticipation in _series_anticipation(app, live, missing).items():
            found[uid] = anticipation.model_dump(mode="json")
    return {uid: found[uid] for uid in ids}


def _routes(app: FastAPI) -> None:
    settings: Settings = app.state.settings

    @app.get("/health", response_model=Health, tags=["operations"])
    def health() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @app.get(
        "/ready", response_model=Health, tags=["operations"], responses={503: {"model": Health}}
    )
    def ready(request: Request) -> Response:
        """Readiness: a model is loaded and the ledger database answers."""
        checks = {}
        live = app.state.holder.current
        checks["model"] = (
            f"{live.name} version {live.version}" if live else app.state.holder.last_error or "none"
        )
        try:
            check_database(app.state.engine)
            checks["database"] = "ok"
        except Exception as err:  # report, do not crash
            checks["database"] = f"{type(err).__name__}: {err}"
        ok = live is not None and checks["database"] == "ok"
        body = Health(
            status="ok" if ok else "not ready",
            model_version=live.version if live else None,
            checks=checks,
        )
        return JSONResponse(jsonable_encoder(body), status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus() -> Response:
        """Prometheus metrics: request latency, forecasts served, actuals ingested, model."""
        body, content_type = app.state.metrics.render()
        return Response(body, media_type=content_type)

    # ------------------------------------------------------------------ series

    @app.get("/v1/series", response_model=SeriesPage, tags=["series"], responses=ERRORS)
    def list_series(
        request: Request,
        _: Viewer,
        level: Annotated[str | None, Query(description="Hierarchy level, e.g. store")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> SeriesPage:
        """Series the model forecasts; filter by level and by attributes (`?store=shop-1`)."""
        live = _live(request)
        table = _series_table(live)
        filters = {
            k: v for k, v in request.query_params.items() if k not in {"level", "limit", "offset"}
        }
        attributes = [c for c in table.columns if c not in {ID, LEVEL, "first_ds", "last_ds"}]
        attributes = [c for c in attributes if c not in {"n_observations", "members"}]
        unknown = sorted(set(filters) - set(attributes))
        if unknown:
            raise ApiError(
                422,
                "validation_error",
                f"unknown filter(s) {unknown}; filter by level or by {attributes}",
                field=f"query.{unknown[0]}",
            )
        known_levels = sorted(table[LEVEL].unique())
        if level is not None and level not in known_levels:
            raise ApiError(
                422,
                "validation_error",
                f"unknown level {level!r}; levels: {known_levels}",
                field="query.level",
            )
        rows = table if level is None else table[table[LEVEL] == level]
        for column, value in filters.items():
            rows = rows[rows[column].astype("str") == value]
        total = len(rows)
        page = rows.iloc[offset : offset + limit]
        items = [_series_info(row, attributes) for row in page.to_dict("records")]
        next_offset = offset + limit if offset + limit < total else None
        return SeriesPage(
            items=items, total=total, limit=limit, offset=offset, next_offset=next_offset
        )

    @app.get("/v1/series/{unique_id}", response_model=SeriesInfo, tags=["series"], responses=ERRORS)
    def get_series(request: Request, unique_id: str, _: Viewer) -> SeriesInfo:
        """One series: level, attributes, observed span."""
        live = _live(request)
        table = _series_table(live)
        if unique_id not in table.index:
            raise ApiError(404, "not_found", f"unknown series {unique_id!r}", "path.unique_id")
        attributes = [
            c
            for c in table.columns
            if c not in {ID, LEVEL, "first_ds", "last_ds", "n_observations", "members"}
        ]
        return _series_info(table.loc[unique_id].to_dict() | {ID: unique_id}, attributes)

    # ------------------------------------------------------------------ forecasts

    @app.post(
        "/v1/forecasts", response_model=ForecastResponse, tags=["forecasts"], responses=ERRORS
    )
    def forecasts(request: Request, body: ForecastRequest, key: Viewer) -> Response:
        """Forecasts with intervals and the anticipation metric; every answer is logged."""
        live = _live(request)
        ids = list(dict.fromkeys(body.unique_ids))
        if len(ids) > settings.max_series_per_request:
            raise ApiError(
                422,
                "validation_error",
                f"at most {settings.max_series_per_request} series per request, got {len(ids)}",
                "body.unique_ids",
            )
        unknown = [uid for uid in ids if uid not in live.level_of]
        if unknown:
            raise ApiError(
                422,
                "unknown_series",
                f"unknown series {unknown[:10]}{' ...' if len(unknown) > 10 else ''}; "
                "GET /v1/series lists them",
                "body.unique_ids",
            )
        horizon = body.horizon or live.bundle.horizon
        if horizon > live.bundle.horizon:
            raise ApiError(
                422,
                "validation_error",
                f"horizon {horizon} is beyond the model's {live.bundle.horizon} periods",
                "body.horizon",
            )
        with app.state.forecast_lock:
            return _forecast_response(
                app, live, ids, horizon, body.levels, request.state.request_id, key.id
            )

    @app.post(
        "/v1/forecasts/adhoc", response_model=AdhocResponse, tags=["forecasts"], responses=ERRORS
    )
    def adhoc(body: AdhocRequest, _: Viewer) -> AdhocResponse:
        """Forecast a posted history with a fast automatic model; nothing is stored."""
        from serving.adhoc import forecast_history

        if len(body.history) > settings.adhoc_max_points:
            raise ApiError(
                422,
                "validation_error",
                f"at most {settings.adhoc_max_points} history points, got {len(body.history)}",
                "body.history",
            )
        try:
            result = forecast_history(
                [(p.ds, p.y) for p in body.history], body.freq, body.horizon, body.levels
            )
        except ValueError as err:
            raise ApiError(422, "validation_error", str(err), "body.history") from None
        return AdhocResponse(
            model=result.model,
            freq=body.freq,
            points=[Point(**p) for p in _points(result.forecast)],
            expected=_accuracy(result.expected),
        )

    @app.get(
        "/v1/forecasts/history",
        response_model=ForecastHistoryResponse,
        tags=["forecasts"],
        responses=ERRORS,
    )
    def forecast_history(
        request: Request,
        _: Viewer,
        unique_id: Annotated[str, Query(min_length=1)],
        as_of: Annotated[
            dt.date | None, Query(description="Up to this day (today if left out)")
        ] = None,
    ) -> ForecastHistoryResponse:
        """Exactly what was served for a series up to `as_of`, with which model version."""
        as_of = as_of or dt.datetime.now(dt.UTC).date()
        served = ledger.served_history(app.state.engine, unique_id, pd.Timestamp(as_of))
        forecasts = []
        if len(served):
            for request_id, part in served.groupby("request_id", sort=False):
                first = part.iloc[0]
                columns = [c for c in part.columns if c in ("ds", "yhat") or c.startswith("yhat_")]
                points = part[columns].dropna(axis=1, how="all")
                forecasts.append(
                    ServedForecast(
                        request_id=str(request_id),
                        served_at=pd.Timestamp(first["served_at"]).to_pydatetime(),
                        model_version=str(first["model_version"]),
                        origin=pd.Timestamp(first["origin"]).date(),
                        points=[Point(**p) for p in _points(points)],
                    )
                )
        return ForecastHistoryResponse(unique_id=unique_id, as_of=as_of, forecasts=forecasts)

    # ------------------------------------------------------------------ actuals and accuracy

    @app.post("/v1/actuals", response_model=ActualsResponse, tags=["actuals"], responses=ERRORS)
    def actuals(request: Request, body: ActualsRequest, _: Writer) -> ActualsResponse:
        """Upsert actual sales; scores the served forecasts they complete; moves series forward."""
        live = _live(request)
        rows = pd.DataFrame(
            {
                ID: [r.unique_id for r in body.rows],
                TIME: pd.to_datetime([r.ds for r in body.rows]),
                TARGET: [float(r.y) for r in body.rows],
            }
        )
        unknown = sorted(set(rows[ID]) - set(live.levels.index))
        if unknown:
            index = int(np.flatnonzero(rows[ID].isin(set(unknown)))[0])
            raise ApiError(
                422,
                "unknown_series",
                f"rows name series the model does not know: {unknown[:10]}",
                f"body.rows.{index}.unique_id",
            )
        duplicated = rows.duplicated([ID, TIME], keep="first")
        if duplicated.any():
            index = int(np.flatnonzero(duplicated)[0])
            raise ApiError(
                422,
                "duplicate_rows",
                f"row {index} repeats ({rows[ID].iloc[index]}, {rows[TIME].iloc[index].date()})",
                f"body.rows.{index}",
            )
        try:
            result = ledger.upsert_actuals(app.state.engine, rows)
        except ValueError as err:
            raise ApiError(422, "validation_error", str(err), "body.rows") from None
        app.state.metrics.actuals_ingested(len(rows))
        moved = app.state.holder.move_forward(ledger.actuals_frame(app.state.engine))
        app.state.actuals_mark = ledger.actuals_mark(app.state.engine)
        if result.inserted or result.updated or moved:
            app.state.realized_cache = {}
        return ActualsResponse(
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            scored_points=result.scored_points,
            refreshed_series=moved,
        )

    @app.get("/v1/accuracy", response_model=AccuracyResponse, tags=["actuals"], responses=ERRORS)
    def accuracy(
        request: Request,
        _: Viewer,
        unique_id: str | None = None,
        level: str | None = None,
        model_version: str | None = None,
        since: Annotated[dt.date | None, Query(description="Target dates from this day")] = None,
    ) -> AccuracyResponse:
        """Realized accuracy by series, level, model version and step, next to expected."""
        live = _live(request)
        filters = {
            "unique_id": unique_id,
            "level": level,
            "model_version": model_version,
            "since": since.isoformat() if since else None,
        }
        points = ledger.scored_points(
            app.state.engine,
            unique_ids=[unique_id] if unique_id else None,
            level=level,
            model_version=model_version,
            since=pd.Timestamp(since) if since else None,
        )
        if points.empty:
            return AccuracyResponse(
                filters=filters,
                rule=anticipation.DRIFT_RULE,
                overall=None,
                by_series=[],
                by_level=[],
                by_model_version=[],
                by_step=[],
            )
        ids = sorted(points[ID].unique())
        history = _history(app, live, ids)
        season = live.bundle.season_length or 1
        expected = live.bundle.expected
        groups = {}
        for name, by in (
            ("overall", ()),
            ("by_series", (ID,)),
            ("by_level", (LEVEL,)),
            ("by_model_version", ("model_version",)),
        ):
            real = anticipation.realized(points, history, season, by=by)
            drift_rows = (
                anticipation.drift(points, history, expected, season, by=by)
                if expected is not None
                else None
            )
            exp_rows = (
                anticipation.expected_summary(expected[expected[ID].isin(set(ids))], by=by)
                if expected is not None and by != ("model_version",)
                else None
            )
            groups[name] = _groups(real, by, exp_rows, drift_rows)
        steps = anticipation.realized_by_step(points, history, season)
        by_step = _groups(steps, ("step",), None, None)
        return AccuracyResponse(
            filters=filters,
            rule=anticipation.DRIFT_RULE,
            overall=groups["overall"][0] if groups["overall"] else None,
            by_series=groups["by_series"],
            by_level=groups["by_level"],
            by_model_version=groups["by_model_version"],
            by_step=by_step,
        )

    # ------------------------------------------------------------------ admin

    @app.post("/v1/admin/reload", response_model=ReloadResponse, tags=["admin"], responses=ERRORS)
    def reload(request: Request, _: Admin) -> ReloadResponse:
        """Load the current champion now; the previous model stays if the new one fails."""
        holder: ModelHolder = app.state.holder
        changed = _load(app, None)
        live = holder.current
        return ReloadResponse(
            model_name=holder.name,
            model_version=live.version if live else None,
            changed=changed,
            error=holder.last_error,
        )

    @app.post(
        "/v1/retrain",
        response_model=RetrainResponse,
        status_code=202,
        tags=["admin"],
        responses=ERRORS,
    )
    def retrain(request: Request, _: Admin) -> RetrainResponse:
        """Start a retraining in the background; follow it at /v1/jobs/{id}."""
        from serving.retrain_job import RetrainBusy, start_retrain

        try:
            job_id = start_retrain(app)
        except RetrainBusy as err:
            raise ApiError(409, "busy", str(err)) from None
        return RetrainResponse(job_id=job_id, status="queued", href=f"/v1/jobs/{job_id}")

    @app.get("/v1/jobs/{job_id}", response_model=Job, tags=["admin"], responses=ERRORS)
    def job(job_id: str, _: Viewer) -> Job:
        """A background job's progress and result."""
        found = jobs_store.get_job(app.state.engine, job_id)
        if found is None:
            raise ApiError(404, "not_found", f"unknown job {job_id!r}", "path.job_id")
        return Job(**found)


def _groups(
    real: pd.DataFrame,
    by: tuple[str, ...],
    expected: pd.DataFrame | None,
    drift: pd.DataFrame | None,
) -> list[AccuracyGroup]:
    def keyed(frame: pd.DataFrame | None) -> dict[tuple, dict]:
        if frame is None or frame.empty:
            return {}
        return {tuple(row[k] for k in by): row for row in frame.to_dict("records")}

    expected_rows, drift_rows = keyed(expected), keyed(drift)
    out = []
    for row in real.to_dict("records"):
        key = tuple(row[k] for k in by)
        out.append(
            AccuracyGroup(
                key={k: (int(v) if k == "step" else str(v)) for k, v in zip(by, key, strict=True)},
                realized=_accuracy(row),
                expected=_accuracy(expected_rows[key]) if key in expected_rows else None,
                drift=_drift(drift_rows[key]) if key in drift_rows else None,
            )
        )
    return out


def _series_table(live: LiveModel) -> pd.DataFrame:
    """Per series: level, attributes, observed span and member count; cached on the snapshot."""
    table = live.__dict__.get("_series")
    if table is not None:
        return table
    history = live.history
    span = history.groupby(ID, sort=False)[TIME].agg(["min", "max", "size"])
    span.columns = ["first_ds", "last_ds", "n_observations"]
    table = live.bundle.levels[[ID, LEVEL]].drop_duplicates(ID).set_index(ID, drop=False)
    table = table.join(span)
    attributes = live.bundle.attributes
    if attributes is not None:
        extra = attributes.drop_duplicates(ID).set_index(ID)
        table = table.join(extra[[c for c in extra.columns if c not in table.columns]])
    membership = live.bundle.membership
    if membership is not None:
        counts = pd.concat([membership.groupby(c).size() for c in membership.columns if c != ID])
        counts = counts[~counts.index.duplicated()]
        table["members"] = counts.reindex(table.index)
    live.__dict__["_series"] = table
    return table


def _series_info(row: dict[str, Any], attributes: list[str]) -> SeriesInfo:
    def date(value: Any) -> dt.date | None:
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date()

    members = row.get("members")
    return SeriesInfo(
        unique_id=str(row[ID]),
        level=str(row[LEVEL]),
        attributes={
            a: str(row[a])
            for a in attributes
            if a in row and row[a] is not None and not pd.isna(row[a])
        },
        first_ds=date(row.get("first_ds")),
        last_ds=date(row.get("last_ds")),
        n_observations=int(row.get("n_observations") or 0),
        members=None if members is None or pd.isna(members) else int(members),
    )
