"""Plain ASGI middleware: request ids and timing, body size limit, admission control.

Plain ASGI rather than Starlette's `@app.middleware("http")`, which costs a task and a stream per
request: that showed in the latency of the forecast endpoint.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from serving.metrics import ApiMetrics

#: Paths that are always admitted: probes and scrapes must answer even under overload.
ALWAYS_ADMITTED = ("/health", "/ready", "/metrics")


class RequestContext:
    """Give each request a fresh id (X-Request-ID, the ledger's key) and time it for /metrics."""

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


class AdmissionControl:
    """Admit at most `limit` requests at a time; answer the rest 503 with Retry-After at once.

    Without a bound, a burst queues inside the server and every later request waits behind it
    (latency grows without end and throughput falls as requests time out). Refusing early keeps
    the admitted requests fast and tells clients when to come back.
    """

    def __init__(self, app: Any, limit: int, metrics: ApiMetrics, retry_after: int = 1) -> None:
        self.app, self.limit, self.metrics = app, limit, metrics
        self.retry_after = retry_after
        self.in_flight = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in ALWAYS_ADMITTED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.metrics.shed()
            await self._shed(scope, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _shed(self, scope: dict, send: Any) -> None:
        """503 with Retry-After, written straight to ASGI: shedding must cost less than serving."""
        body = json.dumps(
            {
                "error": "overloaded",
                "message": f"the server is answering {self.in_flight} requests; "
                f"retry after {self.retry_after} s",
                "fields": [],
                "request_id": scope.get("state", {}).get("request_id"),
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(self.retry_after).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413 before the app reads them.

    Uploads (`upload_paths`) have their own, larger limit and are streamed through rather than
    buffered: a body that turns out larger than declared (or undeclared, chunked) stops with a
    413 the moment it passes the limit.
    """

    def __init__(
        self,
        app: Any,
        max_bytes: int,
        upload_paths: tuple[str, ...] = (),
        max_upload_bytes: int = 0,
    ) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.upload_paths, self.max_upload_bytes = upload_paths, max_upload_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if scope["path"] in self.upload_paths and scope["method"] == "POST":
            await self._upload(scope, receive, send, declared)
            return
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

    async def _upload(self, scope: dict, receive: Any, send: Any, declared: bytes | None) -> None:
        limit = self.max_upload_bytes
        advice = "upload a shorter period, or compress the file (.csv.gz)"
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit, advice)
            return
        size = 0

        async def counted() -> dict:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:  # the form parser stops and drops its temporary files
                raise HTTPException(413, f"upload is larger than {limit} bytes; {advice}")
            return message

        await self.app(scope, counted, send)

    async def _refuse(
        self,
        scope: dict,
        receive: Any,
        send: Any,
        limit: int | None = None,
        advice: str = "send fewer rows per request",
    ) -> None:
        response = JSONResponse(
            {
                "error": "body_too_large",
                "message": f"request body is larger than {limit or self.max_bytes} bytes; {advice}",
                "fields": [{"field": "body", "problem": "too large"}],
            },
            status_code=413,
        )
        await response(scope, receive, send)
