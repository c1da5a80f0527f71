"""Slow clients against a real uvicorn: late headers or bodies get 408 and a closed connection.

A uvicorn server in a child process, on loopback, with the protocols `anticipate serve` uses
(`serving.slow_clients`) and short deadlines; the clients below are raw sockets, because the
point is what a client that trickles bytes sees. Both of uvicorn's HTTP implementations. The
app reads bodies through serving's `BodyLimit`, as the real one does, and the server must log no
traceback for the clients it cuts off.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from anticipate.cli import serve as serve_command
from anticipate.settings import Settings, get_settings
from serving.schemas import ErrorBody

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
HEADER_TIMEOUT, BODY_TIMEOUT, KEEP_ALIVE = 1.0, 1.5, 2.5
#: How late after its deadline a connection may be closed (a loaded test machine included).
MARGIN = 2.0
SERVER = """
import asyncio, sys
import uvicorn
from fastapi import FastAPI, Request
from serving.middleware import BodyLimit
from serving.slow_clients import slow_client_protocol

app = FastAPI()
app.add_middleware(BodyLimit, max_bytes=1_000_000)  # as in serving.app: reads bodies first

@app.get("/")
async def root() -> dict:
    return {"ok": True}

@app.post("/echo")
async def echo(request: Request) -> dict:
    return {"received": len(await request.body())}

@app.get("/slow")
async def slow(seconds: float) -> dict:
    await asyncio.sleep(seconds)
    return {"slept": seconds}

port, implementation, header, body, keep_alive = sys.argv[1:]
protocol = slow_client_protocol(float(header), float(body), implementation)
config = uvicorn.Config(
    app, host="127.0.0.1", port=int(port), http=protocol, timeout_keep_alive=float(keep_alive),
    log_level="warning",
)
uvicorn.Server(config).run()
"""
TRICKLED_HEADERS = b"GET / HTTP/1.1\r\nHost: slow.example\r\nUser-Agent: slowloris\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module", params=["httptools", "h11"])
def port(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A uvicorn with the slow-client protocol (header 1 s, body 1.5 s, keep-alive 2.5 s)."""
    port = _free_port()
    log = tmp_path_factory.mktemp("slow") / "server.log"
    args = [str(port), request.param, str(HEADER_TIMEOUT), str(BODY_TIMEOUT), str(KEEP_ALIVE)]
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, *args], cwd=ROOT, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not start: " + log.read_text())
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "Traceback" not in log.read_text(), f"the server logged an error: {log.read_text()}"


async def _slow_client(port: int, head: bytes, trickle: bytes, every: float) -> tuple[float, bytes]:
    """Send `head`, then `trickle` one byte every `every` s, reading all along.

    Returns the seconds from connecting until the server closed, and everything it sent.
    """
    opened = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        writer.write(head)
        for byte in trickle:
            await asyncio.sleep(every)
            writer.write(bytes([byte]))
            await writer.drain()

    sender = asyncio.create_task(send())
    answer = await asyncio.wait_for(reader.read(), timeout=10)  # until the server's FIN
    closed = time.monotonic() - opened
    sender.cancel()
    writer.close()
    return closed, answer


def _parse(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, body


def _assert_408(answer: bytes, what: str, seconds: float) -> None:
    """One complete 408 in the API's error shape, saying what was late, and nothing after it."""
    status, headers, body = _parse(answer)
    assert status == "HTTP/1.1 408 Request Timeout"
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    error = ErrorBody.model_validate(json.loads(body))
    assert error.error == "request_timeout"
    assert error.message == f"request {what} not received within {seconds:g} s"


def test_trickled_headers_are_cut_at_the_deadline_while_others_are_served(port: int) -> None:
    """100 slow-loris connections (one header byte per 0.3 s) and one that sends nothing: each
    gets 408 and is closed about `header_timeout` after it opened; a normal client meanwhile is
    answered at once."""

    async def scenario() -> tuple[list[tuple[float, bytes]], float, int]:
        slow = [
            asyncio.create_task(_slow_client(port, b"", TRICKLED_HEADERS, 0.3)) for _ in range(100)
        ]
        silent = asyncio.create_task(_slow_client(port, b"", b"", 0))
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient() as client:
            started = time.monotonic()
            normal = await client.get(f"http://127.0.0.1:{port}/", timeout=5)
            took = time.monotonic() - started
        return await asyncio.gather(*slow, silent), took, normal.status_code

    results, took, status = asyncio.run(scenario())
    assert (status, took < 0.5) == (200, True), took
    closed = [seconds for seconds, _ in results]
    print(f"\nheaders: {len(closed)} closed after {min(closed):.2f}..{max(closed):.2f} s")
    assert min(closed) >= HEADER_TIMEOUT - 0.05
    assert max(closed) < HEADER_TIMEOUT + MARGIN
    for _, answer in results:
        _assert_408(answer, "headers", HEADER_TIMEOUT)


def test_a_trickled_body_is_cut_at_the_body_deadline(port: int) -> None:
    """Headers at once, then a Content-Length body one byte per 0.3 s: 408 about `body_timeout`
    after the headers (not the header deadline), and the application's answer never follows."""
    head = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 50\r\n\r\n"
    )
    closed, answer = asyncio.run(_slow_client(port, head, b"x" * 50, 0.3))
    print(f"\nbody: closed after {closed:.2f} s")
    assert BODY_TIMEOUT - 0.05 <= closed < BODY_TIMEOUT + MARGIN
    _assert_408(answer, "body", BODY_TIMEOUT)


def _request(sock: socket.socket, request: bytes) -> tuple[str, dict]:
    """Send one request on `sock` and read its answer (Content-Length framed)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    status, headers, body = _parse(data)
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    assert headers.get("connection") != "close"
    return status, json.loads(body)


def test_a_kept_alive_connection_gets_a_fresh_deadline_per_request(port: int) -> None:
    """Requests on one connection over 6 s (pauses longer than the header deadline, shorter than
    the keep-alive), headers and a body each sent in two parts, an answer slower than both
    deadlines with a request pipelined behind it: all answered; then the idle connection is
    closed by the keep-alive, without a 408."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        assert _request(sock, get) == ("HTTP/1.1 200 OK", {"ok": True})
        time.sleep(HEADER_TIMEOUT + 0.3)
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n")
        time.sleep(HEADER_TIMEOUT / 2)  # headers in two parts, within their deadline
        sock.sendall(b"Content-Type: text/plain\r\n\r\n12345")
        time.sleep(BODY_TIMEOUT / 2)  # body in two parts, within its deadline
        assert _request(sock, b"67890") == ("HTTP/1.1 200 OK", {"received": 10})
        time.sleep(HEADER_TIMEOUT + 0.3)
        # An answer slower than either deadline, the next request pipelined behind it and only
        # half sent: neither is cut (the queued request's clock starts when its turn comes).
        slow = b"GET /slow?seconds=2 HTTP/1.1\r\nHost: x\r\n\r\n"
        assert _request(sock, slow + b"GET / HT") == ("HTTP/1.1 200 OK", {"slept": 2.0})
        assert _request(sock, b"TP/1.1\r\nHost: x\r\n\r\n") == ("HTTP/1.1 200 OK", {"ok": True})
        assert time.monotonic() - started > 4 * HEADER_TIMEOUT
        idle = time.monotonic()
        assert sock.recv(65536) == b""  # closed quietly by the keep-alive, no 408
        print(f"\nkeep-alive: idle connection closed after {time.monotonic() - idle:.2f} s")
        assert KEEP_ALIVE - 0.1 <= time.monotonic() - idle < KEEP_ALIVE + MARGIN


def _protocol(factory: object) -> HttpToolsProtocol:
    """What uvicorn makes of `http=` for one connection (it calls it with these arguments)."""
    config = uvicorn.Config(FastAPI())
    loop = asyncio.new_event_loop()
    try:
        return factory(config=config, server_state=ServerState(), app_state={}, _loop=loop)  # type: ignore[operator]
    finally:
        loop.close()


def test_anticipate_serve_hands_the_settings_deadlines_to_uvicorn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ANTICIPATE_HEADER_TIMEOUT_SECONDS / _BODY_ reach the protocol uvicorn runs, in every
    worker: the protocol uvicorn gets pickles (`--workers N` starts spawned processes)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTICIPATE_HEADER_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("ANTICIPATE_BODY_TIMEOUT_SECONDS", "7.5")
    passed: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: passed.update(kwargs))
    get_settings.cache_clear()
    try:
        serve_command.serve(host=None, port=None, workers=None)
    finally:
        get_settings.cache_clear()
    assert passed["timeout_keep_alive"] == 5
    protocol = _protocol(pickle.loads(pickle.dumps(passed["http"])))
    assert isinstance(protocol, HttpToolsProtocol)  # uvicorn's default implementation, extended
    assert (protocol.header_timeout, protocol.body_timeout) == (2.0, 7.5)

    monkeypatch.delenv("ANTICIPATE_HEADER_TIMEOUT_SECONDS")
    monkeypatch.delenv("ANTICIPATE_BODY_TIMEOUT_SECONDS")
    defaults = _protocol(serve_command.http_protocol(Settings()))
    assert (defaults.header_timeout, defaults.body_timeout) == (10.0, 30.0)
