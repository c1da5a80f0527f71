"""`mlflow models serve` on the registered champion answers forecasts over HTTP.

The served forecast must equal the fitted model's own; a request forecasts only the series it
names (the pyfunc cuts the model down to them first, and the cut model forecasts exactly the
full model's rows); an unknown series is the client's error (4xx), not a server failure. The
server runs in its own session so the whole process group (the `mlflow` CLI, `bash -c exec
uvicorn ...`, its workers) is killed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.demand import build_demand_dataset, regular_panel
from features.ingest import sales_from_frames
from features.schema import HIERARCHY_LEVEL, ID, TARGET, TIME
from features.synthetic import make_demo_sales, make_small_panel
from features.trend import build_trend_dataset
from training.auto import AutoForecaster
from training.config import TrainConfig
from training.models import MODELS, TSB, DynamicOptimizedTheta, GlobalRegressor, SeasonalNaive
from training.models.theta import Theta
from training.pyfunc import AnticipateModel, ForecastBundle, restricted
from training.registry import CHAMPION, MODEL_NAME
from training.retrain import train_and_register

STARTUP_TIMEOUT = 90.0
HORIZON = 5
BAND = ("yhat", "yhat_lo_80", "yhat_hi_80")
H = 7


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """Six daily products with price and promo, and two that rarely sell (intermittent demand)."""
    sales = regular_panel(make_small_panel(seed=3, n_series=6, n_days=150).sales, "D")
    rng = np.random.default_rng(5)
    first = sales[sales[ID] == sales[ID].iloc[0]]
    rare = [
        first.assign(**{ID: f"rare-{k}", TARGET: rng.poisson(0.15, len(first)).astype(float)})
        for k in range(2)
    ]
    return pd.concat([sales, *rare], ignore_index=True).sort_values([ID, TIME], ignore_index=True)


ASKED = [["rare-1"], ["apple-cake@shop-1", "rare-0"]]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_model_cut_to_some_series_forecasts_exactly_their_rows(name: str, panel) -> None:  # type: ignore[no-untyped-def]
    """Every registered model, cut to a few series, forecasts the full model's rows for them."""
    model = MODELS[name]().fit(panel[[ID, TIME, TARGET]])
    full = model.predict(H)
    for asked in ASKED:
        cut = restricted(model, asked)
        assert list(cut.unique_ids_) == sorted(asked)
        expected = full[full[ID].isin(asked)].reset_index(drop=True)
        pd.testing.assert_frame_equal(cut.predict(H), expected)


def test_the_default_kind_of_model_cut_to_some_series_forecasts_exactly_their_rows(panel) -> None:  # type: ignore[no-untyped-def]
    """Local, vectorised and global members, an intermittent route, weights, exogenous plans."""
    members = [DynamicOptimizedTheta(), SeasonalNaive(), GlobalRegressor(max_iter=30, horizon=H)]
    model = AutoForecaster(members, combination="inverse_error", h=H, intermittent=TSB())
    model = model.fit(panel)
    assert len(model.routes_) == 2, "the panel should give a regular and an intermittent route"
    full = model.predict(H, interval_levels=(80, 95))
    for asked in [*ASKED, list(model.unique_ids_)]:
        cut = restricted(model, asked)
        kept = {len(member.unique_ids_) for route in cut.routes_ for member in route.members}
        assert sum(len(route.rows) for route in cut.routes_) == len(asked) >= max(kept)
        expected = full[full[ID].isin(asked)].reset_index(drop=True)
        pd.testing.assert_frame_equal(cut.predict(H, interval_levels=(80, 95)), expected)


def test_a_request_never_forecasts_the_series_it_does_not_name(panel) -> None:  # type: ignore[no-untyped-def]
    """The pyfunc answers one series even when every other series' state could not forecast."""
    model = AutoForecaster([Theta()], h=H).fit(panel[[ID, TIME, TARGET]])
    asked = "rare-0"
    (theta,) = model.routes_[0].members
    pairs = zip(theta.unique_ids_, theta.states_, strict=True)
    theta.states_ = [state if uid == asked else None for uid, state in pairs]
    with pytest.raises(AttributeError):
        model.predict(H)  # forecasting everything now fails on the poisoned states
    hierarchy_levels = pd.DataFrame({ID: model.unique_ids_, HIERARCHY_LEVEL: "series"})
    pyfunc = AnticipateModel()
    pyfunc.bundle = ForecastBundle(model, hierarchy_levels, H, (80,), "D")
    frame = pyfunc.predict(None, pd.DataFrame({ID: [asked]}), params={"horizon": 3})
    assert frame[ID].tolist() == [asked] * 3
    assert frame[HIERARCHY_LEVEL].tolist() == ["series"] * 3


def test_a_bundle_saved_before_the_hierarchy_levels_rename_still_serves(panel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Registered champions hold bundles pickled with the field `levels`: they load and forecast."""
    model = AutoForecaster([SeasonalNaive()], h=H).fit(panel[[ID, TIME, TARGET]])
    hierarchy_levels = pd.DataFrame({ID: model.unique_ids_, HIERARCHY_LEVEL: "series"})
    bundle = ForecastBundle(model, hierarchy_levels, H, (80,), "D")
    bundle.__dict__["levels"] = bundle.__dict__.pop("hierarchy_levels")  # as the old class held it
    loaded = joblib.load(bundle.save(tmp_path / "old.joblib"))
    assert "levels" not in vars(loaded)
    pd.testing.assert_frame_equal(loaded.hierarchy_levels, hierarchy_levels)
    assert loaded.forecast(["rare-1"], 2, None)[HIERARCHY_LEVEL].tolist() == ["series"] * 2


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mlflow_cli() -> list[str]:
    script = Path(sys.executable).parent / "mlflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlflow"]


def _request(url: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    """GET (or POST `body` as JSON); the status and body, also for 4xx/5xx answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def _server_output(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-6000:]


def _wait_until_up(server: subprocess.Popen[bytes], url: str, log: Path) -> float:
    """Poll /ping until 200; the seconds it took. Fails with the server's output otherwise."""
    start = time.monotonic()
    while time.monotonic() - start < STARTUP_TIMEOUT:
        if server.poll() is not None:
            pytest.fail(f"server exited with {server.returncode}:\n{_server_output(log)}")
        try:
            status, _ = _request(f"{url}/ping")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status = 0
        if status == 200:
            return time.monotonic() - start
        time.sleep(0.5)
    pytest.fail(f"server not up after {STARTUP_TIMEOUT:.0f}s:\n{_server_output(log)}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, give it time to exit, then SIGKILL what is left.

    The CLI process dies first; its uvicorn child (and any workers) must go too, so the wait is
    for the whole group, not only for the process we started.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        server.poll()  # reap our own child, or its zombie keeps the group alive
        if not _group_alive(server.pid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=15)


@pytest.mark.slow
def test_served_champion_forecasts_over_http(tmp_path: Path) -> None:
    """Register a champion, serve it with the MLflow scoring server, forecast over HTTP."""
    demo = make_demo_sales(seed=4, n_stores=2, n_bakery_items=5, n_web_items=2, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    trend = build_trend_dataset(demand)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking_uri)
    config = TrainConfig.model_validate(
        {"model": {"horizon": 7, "members": ["dynamic_theta", "seasonal_naive"]}}
    )
    outcome = train_and_register(
        config,
        demand,
        trend,
        client,
        model_name=MODEL_NAME,
        artifact_location=str(tmp_path / "artifacts"),
        n_jobs=1,
    )
    result, decision = outcome.result, outcome.decision
    assert decision.promoted
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == decision.version

    series = next(u for u in result.hierarchy_levels[ID].astype("str") if u != "total")
    wanted = [series, "total"]
    everything = result.model.predict(HORIZON, interval_levels=[80])
    expected = everything[everything[ID].isin(wanted)]
    expected = expected.sort_values([ID, TIME]).reset_index(drop=True)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        # explicit, so a registry URI set in the developer's shell cannot point elsewhere
        "MLFLOW_REGISTRY_URI": tracking_uri,
        # the local env manager runs `bash -c "exec uvicorn ..."`: uvicorn must be on PATH
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    command = [
        *_mlflow_cli(),
        *("models", "serve", "-m", f"models:/{MODEL_NAME}@{CHAMPION}"),
        *("--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"),
    ]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(server, url, log)
        status, body = _request(
            f"{url}/invocations",
            {
                "dataframe_split": {"columns": [ID], "data": [[u] for u in wanted]},
                "params": {"horizon": HORIZON, "levels": [80]},
            },
        )
        assert status == 200, f"{status}: {body[:2000]!r}\n{_server_output(log)}"
        served = pd.DataFrame(json.loads(body)["predictions"])
        assert set(BAND) <= set(served.columns)
        assert sorted(served[ID].unique()) == sorted(wanted)
        assert served.groupby(ID).size().to_dict() == dict.fromkeys(wanted, HORIZON)
        served[TIME] = pd.to_datetime(served[TIME])
        served = served.sort_values([ID, TIME]).reset_index(drop=True)
        assert served[ID].tolist() == expected[ID].astype("str").tolist()
        assert (served[TIME].to_numpy() == pd.to_datetime(expected[TIME]).to_numpy()).all()
        for column in BAND:
            np.testing.assert_allclose(
                served[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-9
            )

        # One series asked, exactly that series answered: its HORIZON rows, the model's values.
        status, body = _request(
            f"{url}/invocations",
            {
                "dataframe_split": {"columns": [ID], "data": [[series]]},
                "params": {"horizon": HORIZON, "levels": [80]},
            },
        )
        assert status == 200, f"{status}: {body[:2000]!r}"
        single = pd.DataFrame(json.loads(body)["predictions"])
        assert single[ID].tolist() == [series] * HORIZON
        own = expected[expected[ID] == series]
        np.testing.assert_allclose(single["yhat"].to_numpy(float), own["yhat"].to_numpy(float))

        # An unknown series is the caller's mistake: our pyfunc raises it as an MlflowException
        # with INVALID_PARAMETER_VALUE, which the scoring server answers 400 with our message.
        status, body = _request(
            f"{url}/invocations",
            {"dataframe_split": {"columns": [ID], "data": [["no-such-series"]]}},
        )
        assert status == 400, f"{status}: {body[:2000]!r}"
        error = json.loads(body)
        assert error["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "unknown series" in error["message"]
    finally:
        _stop(server)
