"""/docs and /redoc render in a real headless Chromium that cannot reach any other host.

Swagger UI and ReDoc used to come from a CDN: without internet /docs was a blank page. Here the
browser resolves every host but loopback to nothing, so the page renders only if everything it
needs comes from our server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from anticipate.settings import Settings
from serving.app import create_app

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn serving the app (no model needed for the docs) on a free loopback port."""
    root = tmp_path_factory.mktemp("docs")
    (root / "mlruns").mkdir()
    settings = Settings(
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",  # type: ignore[call-arg]
        mlflow_artifact_root=root / "mlruns",
        database_url=f"sqlite:///{root / 'ledger.db'}",
        snapshot_dir=root / "snapshots",
        model_poll_seconds=0,
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    yield base
    server.should_exit = True
    thread.join(10)


def _rendered(url: str, profile: Path, screenshot: Path | None = None) -> str:
    """The DOM after the page's scripts ran, in headless Chromium with only loopback reachable."""
    assert CHROMIUM is not None
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
        "--window-size=1280,900",
    ]
    if screenshot is not None:
        subprocess.run(
            [*flags, f"--screenshot={screenshot}", url],
            capture_output=True,
            timeout=120,
            check=True,
        )
    done = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run adds it)")
def test_swagger_ui_shows_the_operations_and_authorize_offline(
    base_url: str, tmp_path: Path
) -> None:
    """Swagger UI lists our operations and has an Authorize button, from local assets only."""
    dom = _rendered(f"{base_url}/docs", tmp_path / "profile", tmp_path / "docs.png")
    assert "opblock-summary-path" in dom, dom[:2000]
    for path in ("/v1/forecasts", "/v1/actuals", "/v1/accuracy", "/v1/jobs"):
        assert path in dom, path
    assert "btn authorize" in dom
    assert (tmp_path / "docs.png").stat().st_size > 20_000


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run adds it)")
def test_redoc_shows_the_operations_offline(base_url: str, tmp_path: Path) -> None:
    """ReDoc renders the same operations from local assets only."""
    dom = _rendered(f"{base_url}/redoc", tmp_path / "profile")
    assert "/v1/forecasts" in dom and "Forecasts with intervals" in dom, dom[:2000]
