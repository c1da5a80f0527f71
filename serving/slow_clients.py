"""Deadlines for slow clients: a request's headers, then its body, must arrive in time.

uvicorn closes a connection that sits idle between requests (`timeout_keep_alive`) but puts no
limit on how long a client may take to *send* a request: one that trickles a byte every few
seconds holds its connection, and the memory behind it, forever. The protocols here are
uvicorn's own HTTP protocols (httptools and h11) with two deadlines added:

    headers   the request line and headers are complete within `header_timeout` seconds of the
              connection opening, or of the first byte of a later request on a kept-alive
              connection (the idle time before that byte is the keep-alive's, as in uvicorn)
    body      the body is complete within `body_timeout` seconds of the headers

A client that misses one gets `408 Request Timeout` (JSON, `Connection: close`) if no answer
has started on the connection, and the connection is closed. The time the application takes to
answer is not counted, nor the time the server stops reading or is still answering the request
before (a pipelined request waiting for its turn, a body the application has not consumed yet).

Cost for a normal request: two clock reads and a few attribute writes; one timer per connection
is armed with `loop.call_at` and only re-armed when it fires (or a deadline moves earlier), so
there is no per-byte work and no timer churn per request.

`slow_client_protocol(...)` is what `http=` of uvicorn takes; it is a `functools.partial` of a
module-level class, so it pickles into the worker processes of `--workers N`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import Any, Literal

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency; h11 is uvicorn's fallback
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger("uvicorn.error")

HEADERS: Literal["headers"] = "headers"
BODY: Literal["body"] = "body"
#: How often the clock is looked at again while the server, not the client, holds reading.
PAUSED_RECHECK_SECONDS = 1.0
#: A timer may fire this early (clock resolution): still counted as on time.
EARLY_SLACK_SECONDS = 0.005
#: After a 408, how long what the client still sends is read and dropped before closing.
LINGER_SECONDS = 2.0


def timeout_response(
    what: str, seconds: float, default_headers: list[tuple[bytes, bytes]]
) -> bytes:
    """The 408 answer, in the API's error shape (`ErrorBody`), with `Connection: close`."""
    body = json.dumps(
        {
            "error": "request_timeout",
            "message": f"request {what} not received within {seconds:g} s",
            "fields": [],
            "request_id": None,
        }
    ).encode()
    head = [b"HTTP/1.1 408 Request Timeout\r\n"]
    head += [name + b": " + value + b"\r\n" for name, value in default_headers]
    head += [
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n\r\n",
    ]
    return b"".join(head) + body


class _RequestDeadlines:
    """The two deadlines, mixed in front of one of uvicorn's HTTP protocols.

    `_phase` says what the client owes (None: nothing, e.g. while the application answers);
    `_deadline` is the loop time it owes it by. One timer per connection: it fires at the
    earliest deadline set so far, and on firing either re-arms for the current one or expires.
    """

    # Provided by the uvicorn protocol this is mixed into.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    flow: FlowControl
    cycle: Any
    server_state: ServerState
    client: tuple[str, int] | None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
    ) -> None:
        if header_timeout <= 0 or body_timeout <= 0:
            raise ValueError("header_timeout and body_timeout must be positive")
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]
        self.header_timeout = float(header_timeout)
        self.body_timeout = float(body_timeout)
        self._phase: Literal["headers", "body"] | None = None
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lingering = False

    # -------------------------------------------------------------------- the clock

    def _start(self, phase: Literal["headers", "body"]) -> None:
        """The client now owes `phase`, within its timeout from now."""
        self._phase = phase
        deadline = self.loop.time() + self._timeout(phase)
        self._deadline = deadline
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _timeout(self, phase: Literal["headers", "body"]) -> float:
        return self.header_timeout if phase == HEADERS else self.body_timeout

    def _stop(self) -> None:
        """The client owes nothing now (the timer, if armed, finds that out when it fires)."""
        self._phase = None
        self._deadline = None

    def _cancel_timer(self) -> None:
        self._stop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        deadline, phase = self._deadline, self._phase
        if deadline is None or phase is None or self._lingering or self.transport.is_closing():
            return
        now = self.loop.time()
        cycle = self.cycle
        answering = phase == HEADERS and cycle is not None and not cycle.response_complete
        if self.flow.read_paused or answering:
            # The server is not reading, or still answering the request before this one
            # (pipelined): the wait is not the client's, the clock restarts.
            self._deadline = now + self._timeout(phase)
            self._timer = self.loop.call_at(now + PAUSED_RECHECK_SECONDS, self._on_timer)
            return
        if deadline - now > EARLY_SLACK_SECONDS:
            self._timer = self.loop.call_at(deadline, self._on_timer)
            return
        self._expire(phase)

    def _expire(self, phase: Literal["headers", "body"]) -> None:
        seconds = self._timeout(phase)
        self._stop()
        cycle = self.cycle
        if phase == HEADERS or cycle is None:
            # The late request has no cycle yet; an earlier one must have finished answering.
            answer = cycle is None or cycle.response_complete
        else:
            # The late request is `cycle`; nothing may be queued before it (httptools pipeline).
            answer = not cycle.response_started and not getattr(self, "pipeline", None)
            # From now the application's sends are dropped and its receive says disconnect.
            cycle.disconnected = True
            cycle.message_event.set()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "client"
        log.info("%s: request %s not received within %g s, closing", client, phase, seconds)
        if not answer:
            self.transport.close()
            return
        self.transport.write(timeout_response(phase, seconds, self.server_state.default_headers))
        if not self.transport.can_write_eof():  # TLS
            self.transport.close()
            return
        # Lingering close: FIN after the answer, then read and drop what the client still sends
        # until it closes (or for LINGER_SECONDS). Closing with unread bytes in the socket would
        # make the kernel reset the connection, and the client could lose the 408.
        self._lingering = True
        self.transport.write_eof()
        self._timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    # -------------------------------------------------------------------- protocol hooks

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._start(HEADERS)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        if self._phase is None:
            # Bytes after a finished request are the next request's: its header clock starts.
            self._start(HEADERS)
        super().data_received(data)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._phase == HEADERS:  # a request pipelined behind this answer: its turn now
            self._start(HEADERS)

    def shutdown(self) -> None:
        if self._lingering:  # the server stops: no need to wait for the client to close
            self.transport.close()
            return
        super().shutdown()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def handle_websocket_upgrade(self, *args: Any) -> None:
        # The connection now belongs to the WebSocket protocol: no HTTP deadlines on it.
        self._cancel_timer()
        super().handle_websocket_upgrade(*args)  # type: ignore[misc]


if HttpToolsProtocol is not None:

    class SlowClientHttpToolsProtocol(_RequestDeadlines, HttpToolsProtocol):
        """uvicorn's httptools protocol with header and body deadlines."""

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._phase is None:  # pipelined right behind a finished request, same read
                self._start(HEADERS)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._start(BODY)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._stop()


class SlowClientH11Protocol(_RequestDeadlines, H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines (h11 says where the request is)."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._lingering:
            self._follow_parser()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_parser()

    def _follow_parser(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._phase != BODY:
                self._start(BODY)
        elif state is h11.IDLE:
            # Waiting for headers: owed only if bytes of the next request are already held.
            if self._phase is None and self.conn.trailing_data[0]:
                self._start(HEADERS)
        elif self._phase is not None:
            self._stop()  # DONE (the application answers), or closing


def slow_client_protocol(
    header_timeout: float,
    body_timeout: float,
    implementation: Literal["auto", "httptools", "h11"] = "auto",
) -> Callable[..., asyncio.Protocol]:
    """What uvicorn's `http=` takes: its protocol with these deadlines (auto: httptools if there).

    uvicorn calls it with `config, server_state, app_state, _loop` for each connection.
    """
    if header_timeout <= 0 or body_timeout <= 0:
        raise ValueError("header_timeout and body_timeout must be positive")
    if implementation == "h11" or (implementation == "auto" and HttpToolsProtocol is None):
        protocol: type[asyncio.Protocol] = SlowClientH11Protocol
    elif HttpToolsProtocol is None:
        raise ValueError("httptools is not installed")
    else:
        protocol = SlowClientHttpToolsProtocol
    return functools.partial(protocol, header_timeout=header_timeout, body_timeout=body_timeout)
