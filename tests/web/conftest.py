"""The planner's workspace in a real headless Chromium against a real `anticipate serve`.

One server per test worker: demo sales trained with a price/promotion-reading member (so a
what-if moves the forecast), keys for every role, a datasets folder the Data page may replace.
The browser resolves every host but loopback to nothing and logs every request it makes, so a
test can assert that no request left 127.0.0.1. Debian's chromium and chromium-driver are used
(never a browser download); the tests skip without them (`.ci/run` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pandas as pd
import pytest

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.storage import write_demand_dataset, write_trend_dataset
from features.synthetic import make_demo_sales, write_demo_files
from features.trend import build_trend_dataset

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
HAVE_BROWSER = CHROMIUM is not None and Path(CHROMEDRIVER).exists()
CONFIG = """
[model]
horizon = 14
members = ["global_hgb", "seasonal_naive"]
"""
ROLES = ("viewer", "writer", "admin")
#: The last days of the demo are not trained on: they arrive as actuals after forecasts served.
HELD_OUT_DAYS = 14


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is slow and needs the browser."""
    for item in items:
        if "tests/web/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.slow)
            if not HAVE_BROWSER:
                item.add_marker(
                    pytest.mark.skip(reason="Debian's chromium/chromium-driver is not installed")
                )


@dataclass(frozen=True)
class WebServer:
    """A served workspace: its base URL, a key per role, the environment and folders."""

    base: str
    keys: dict[str, str]
    env: dict[str, str]
    root: Path
    sales_csv: Path
    attributes_csv: Path

    def api(self, role: str = "viewer") -> httpx.Client:
        """An HTTP client of the JSON API with the role's key."""
        return httpx.Client(base_url=self.base, headers={"X-API-Key": self.keys[role]}, timeout=60)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "anticipate.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """`anticipate serve` on a free loopback port with a trained champion and three keys."""
    yield from serve_workspace(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def own_web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """The same, for a module that changes the champion (a retrain) or the datasets."""
    yield from serve_workspace(tmp_path_factory.mktemp("web-own"))


def serve_workspace(root: Path) -> Iterator[WebServer]:
    """Train, make keys, serve, serve forecasts and post the held-out sales; stop at the end."""
    demo = make_demo_sales(seed=5, n_stores=2, n_bakery_items=4, n_web_items=2, n_days=200)
    paths = write_demo_files(demo, root / "demo")
    cutoff = demo.sales["ds"].max() - pd.Timedelta(days=HELD_OUT_DAYS)
    trained = demo.sales[demo.sales["ds"] <= cutoff]
    demand = build_demand_dataset(sales_from_frames(trained, demo.attributes))
    datasets = root / "datasets"
    write_demand_dataset(demand, datasets)
    write_trend_dataset(build_trend_dataset(demand), datasets)
    (root / "train.toml").write_text(CONFIG)
    port = _free_port()
    env = dict(os.environ)
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        ANTICIPATE_MLFLOW_ARTIFACT_ROOT=str(root / "mlruns"),
        ANTICIPATE_DATABASE_URL=f"sqlite:///{root / 'ledger.db'}",
        ANTICIPATE_DATA_DIR=str(datasets),
        ANTICIPATE_SNAPSHOT_DIR=str(root / "snapshots"),
        ANTICIPATE_IMPORT_DIR=str(root / "imports"),
        ANTICIPATE_RETRAIN_CONFIG=str(root / "train.toml"),
        ANTICIPATE_PORT=str(port),
        ANTICIPATE_MODEL_POLL_SECONDS="1",
        ANTICIPATE_N_JOBS="1",
        ANTICIPATE_UI_LOCALE="en-GB",
    )
    _cli(env, root, "train", "--config", str(root / "train.toml"), "--data", str(datasets))
    keys = {
        role: _cli(env, root, "keys", "create", "--role", role, "--name", role, "--quiet").strip()
        for role in ROLES
    }
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "anticipate.cli", "serve"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail("the server exited:\n" + (root / "server.log").read_text()[-3000:])
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server never got ready:\n" + (root / "server.log").read_text())
            time.sleep(0.2)
        _serve_then_sell(base, keys, demo.sales[demo.sales["ds"] > cutoff])
        yield WebServer(base, keys, env, root, Path(paths["sales"]), Path(paths["attributes"]))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _serve_then_sell(base: str, keys: dict[str, str], sold: pd.DataFrame) -> None:
    """Serve every series' forecast, then post the held-out sales: realized accuracy exists.

    The first store's sales come in 60 % above what was sold, so the pages have a drifting,
    biased series to show (a planner's surge week).
    """
    with httpx.Client(base_url=base, timeout=120, headers={"X-API-Key": keys["admin"]}) as http:
        ids, offset = [], 0
        while offset is not None:
            page = http.get(f"/v1/series?limit=1000&offset={offset}").json()
            ids += [item["unique_id"] for item in page["items"]]
            offset = page["next_offset"]
        bottom = [
            i["unique_id"] for i in http.get("/v1/series?level=series&limit=1000").json()["items"]
        ]
        served = http.post("/v1/forecasts", json={"unique_ids": ids})
        assert served.status_code == 200, served.text
        # a closed day or a day nothing sold has no row in the export: it is a 0 to the till
        grid = pd.MultiIndex.from_product(
            [sorted(bottom), sorted(sold["ds"].unique())],
            names=["unique_id", "ds"],
        )
        sold = sold.set_index(["unique_id", "ds"])[["y"]].reindex(grid, fill_value=0)
        sold = sold.reset_index()
        surge = sold["unique_id"].str.endswith("@shop-1")
        y = sold["y"].where(~surge, (sold["y"] * 1.6).round())
        rows = [
            {"unique_id": uid, "ds": day.date().isoformat(), "y": float(q)}
            for uid, day, q in zip(sold["unique_id"], sold["ds"], y, strict=True)
        ]
        posted = http.post("/v1/actuals", json={"rows": rows})
        assert posted.status_code == 200, posted.text
        # the pages show the model moved forward to these sales: wait for every refit round
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            jobs = http.get("/v1/jobs?limit=100").json()["items"]
            if not any(j["status"] in ("queued", "running") for j in jobs):
                break
            time.sleep(0.3)
        moved = http.get("/v1/series/total").json()["last_ds"]
        assert moved == sold["ds"].max().date().isoformat(), "the refits never reached the total"


class Browser:
    """A headless Chromium (Selenium) that logs in, waits for the page and audits its requests."""

    def __init__(self, base: str, downloads: Path, width: int = 1280, height: int = 800) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM or ""
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            # every host but loopback resolves to nothing: the page must need no other host
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--window-size={width},{height}",
            "--lang=en-GB",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
            },
        )
        os.environ.setdefault("SE_AVOID_STATS", "true")
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.set_page_load_timeout(60)
        self.driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        if width < 500:  # headless Chromium's windows are at least 500 px: emulate a phone
            self.resize(width, height)
        self.base = base
        self.downloads = downloads
        self.requested: list[str] = []

    def resize(self, width: int, height: int) -> None:
        """A viewport of exactly width × height CSS pixels (a phone's below 500 px)."""
        if width < 500:
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
            )
        else:
            self.driver.set_window_size(width, height)

    def open(self, path: str) -> None:
        """Go to `path` on the server."""
        self.driver.get(self.base + path)

    def login(self, key: str, path: str = "/") -> None:
        """Log in through the form and land on `path`."""
        from selenium.webdriver.common.by import By

        self.open(f"/login?next={path}")
        self.driver.find_element(By.ID, "api-key").send_keys(key)
        self.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.wait(lambda d: urlparse(d.current_url).path == path.split("?")[0])

    def wait(self, condition, seconds: float = 60.0):  # type: ignore[no-untyped-def]
        """Wait until `condition(driver)` is truthy; its value."""
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, seconds, poll_frequency=0.1).until(condition)

    def wait_for(self, css: str, seconds: float = 60.0):  # type: ignore[no-untyped-def]
        """The first element matching `css` once it is displayed."""
        from selenium.webdriver.common.by import By

        def shown(driver):  # type: ignore[no-untyped-def]
            found = driver.find_elements(By.CSS_SELECTOR, css)
            return found[0] if found and found[0].is_displayed() else False

        return self.wait(shown, seconds)

    def ready(self, seconds: float = 60.0) -> None:
        """Wait until the page's script says it has drawn everything (body[data-ready])."""
        self.wait(
            lambda d: d.execute_script("return document.body.dataset.ready === 'yes'"), seconds
        )

    def request_hosts(self) -> set[str]:
        """Hosts of every request the browser made since the last call (from its network log)."""
        hosts = set()
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                url = message["params"]["request"]["url"]
                self.requested.append(url)
                if url.startswith(("http:", "https:", "ws:", "wss:")):
                    hosts.add(urlparse(url).hostname or "")
        return hosts

    def console_errors(self) -> list[str]:
        """Severe messages of the page's console (script errors, failed loads)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def quit(self) -> None:
        """Close the browser."""
        self.driver.quit()


@pytest.fixture
def browser(web_server: WebServer, tmp_path: Path) -> Iterator[Browser]:
    """A fresh browser (no cookies) at 1280×800."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    chrome = Browser(web_server.base, downloads)
    try:
        yield chrome
    finally:
        chrome.quit()
