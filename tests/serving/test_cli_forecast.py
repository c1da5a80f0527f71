"""`anticipate forecast` prints and writes what POST /v1/forecasts serves, from the same live model
(the champion moved forward to the ledger's actuals), and `anticipate orders` uses that model."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from live_store import MODEL, Store, settings_for
from typer.testing import CliRunner

from anticipate.cli import app
from anticipate.settings import Settings, get_settings
from serving.app import create_app
from serving.db import make_engine, migrate
from serving.keys import create_key

IDS = ["total", "store=shop-1"]


def _environment(settings: Settings) -> dict[str, str]:
    """The variables that point a command at the settings' registry, ledger and snapshots."""
    return {
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "ANTICIPATE_MODEL_NAME": settings.model_name,
        "ANTICIPATE_DATABASE_URL": settings.database_url,
        "ANTICIPATE_SNAPSHOT_DIR": str(settings.snapshot_dir),
    }


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`anticipate ARGS` in a new process, as a planner runs it."""
    return subprocess.run(
        [sys.executable, "-m", "anticipate.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **_environment(settings)},
        timeout=300,
    )


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """`anticipate ARGS` in this process (the imports are paid once), settings read afresh."""

    def run(settings: Settings, *args: str) -> Result:
        for name, value in _environment(settings).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return CliRunner().invoke(app, list(args))

    yield run
    get_settings.cache_clear()


def _cli_csv(invoke: Invoke, settings: Settings, out: Path, *args: str) -> pd.DataFrame:
    """`anticipate forecast ARGS --out OUT` read back."""
    done = invoke(settings, "forecast", *args, "--out", str(out))
    assert done.exit_code == 0, done.output
    return pd.read_csv(out, dtype={"unique_id": "str", "model_version": "str"})


def _api_frame(client: TestClient, key: dict[str, str], body: dict) -> pd.DataFrame:
    """POST /v1/forecasts' answer as the CLI's long frame."""
    answer = client.post("/v1/forecasts", json=body, headers=key)
    assert answer.status_code == 200, answer.text
    rows = [
        {
            "unique_id": f["unique_id"],
            **point,
            "model": f["model"],
            "level": f["level"],
            "origin": f["origin"],
            "model_version": f["model_version"],
        }
        for f in answer.json()["forecasts"]
        for point in f["points"]
    ]
    return pd.DataFrame(rows)


def _same(cli: pd.DataFrame, api: pd.DataFrame) -> None:
    """Same rows, same columns, the same numbers to the last digit."""
    pd.testing.assert_frame_equal(cli, api[cli.columns], check_dtype=False, check_exact=True)


@pytest.mark.slow
def test_the_cli_serves_what_the_api_serves_before_and_after_actuals(
    store: Store, tmp_path: Path, invoke: Invoke
) -> None:
    """CSV equal to the API's answer; after actuals of two days for every item both move two
    days forward and stay equal, and so do the orders; after the server stops, a new process
    gives the same from the server's snapshot."""
    settings = settings_for(store, tmp_path / "ledger.db")
    engine = make_engine(settings.database_url)
    migrate(engine)
    key = {"X-API-Key": create_key(engine, "writer")[1]}
    engine.dispose()
    body = {"unique_ids": IDS, "horizon": 5, "levels": [80, 95]}
    args = (*IDS, "--horizon", "5", "--levels", "80", "--levels", "95")
    with TestClient(create_app(settings)) as client:
        before = _cli_csv(invoke, settings, tmp_path / "before.csv", *args)
        _same(before, _api_frame(client, key, body))
        assert list(before.columns[:8]) == [
            "unique_id",
            "ds",
            "model",
            "yhat",
            "yhat_lo_80",
            "yhat_hi_80",
            "yhat_lo_95",
            "yhat_hi_95",
        ]
        items = client.get("/v1/series?level=series&limit=1000", headers=key).json()["items"]
        days = sorted(before["ds"].unique())[:2]
        rows = [
            {"unique_id": item["unique_id"], "ds": day, "y": 3.0 + i % 5}
            for i, item in enumerate(items)
            for day in days
        ]
        assert client.post("/v1/actuals", json={"rows": rows}, headers=key).status_code == 200
        assert client.app.state.service.refresher.wait_idle(120)
        served = _api_frame(client, key, body)
        after = _cli_csv(invoke, settings, tmp_path / "after.csv", *args)
        _same(after, served)
        stock = [
            {"unique_id": items[0]["unique_id"], "on_hand": 2.0, "lead_time": 1},
            {"unique_id": items[1]["unique_id"], "on_hand": 0.0, "lead_time": 2},
        ]
        answer = client.post("/v1/orders", json={"items": stock}, headers=key)
        assert answer.status_code == 200, answer.text
        (tmp_path / "stock.csv").write_text(pd.DataFrame(stock).to_csv(index=False))
        orders = invoke(
            settings,
            "orders",
            "--stock",
            str(tmp_path / "stock.csv"),
            "--out",
            str(tmp_path / "o.csv"),
        )
        assert orders.exit_code == 0, orders.output
        assert "series moved forward to the ledger's actuals" in orders.stderr, orders.stderr
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "o.csv"),
            pd.DataFrame(answer.json()["orders"]),
            check_dtype=False,
        )
    assert (after["origin"] == days[-1]).all(), after["origin"].unique()
    assert after["ds"].min() > days[-1]
    assert not after["yhat"].equals(before["yhat"])
    assert any(settings.snapshot_dir.iterdir()), "the stopped server wrote its snapshot"
    done = _run(settings, "forecast", *args, "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert "from its snapshot" in done.stderr, done.stderr
    _same(pd.read_csv(io.StringIO(done.stdout), dtype={"model_version": "str"}), served)


def test_weekly_totals_sum_the_daily_forecasts_and_the_table_shows_them(
    store: Store, tmp_path: Path, invoke: Invoke
) -> None:
    """Without a ledger (none is created) the champion serves as trained; weekly rows are the
    sums of the daily forecasts per Monday-to-Sunday week; the table shows the daily numbers."""
    settings = settings_for(store, tmp_path / "no-ledger" / "ledger.db")
    done = invoke(settings, "forecast", *IDS, "--format", "csv")
    assert done.exit_code == 0, done.output
    daily = pd.read_csv(io.StringIO(done.stdout))
    assert not (tmp_path / "no-ledger").exists()
    done = invoke(settings, "forecast", *IDS, "--period", "weekly", "--format", "json")
    assert done.exit_code == 0, done.output
    weekly = pd.DataFrame(json.loads(done.stdout))
    assert not [c for c in weekly.columns if c.startswith("yhat_")], "no summed bounds"
    days = pd.to_datetime(daily["ds"])
    monday = (days - pd.to_timedelta(days.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    sums = daily.groupby(["unique_id", monday], sort=False)["yhat"].agg(["sum", "size"])
    assert list(zip(weekly["unique_id"], weekly["ds"], strict=True)) == list(sums.index)
    assert weekly["yhat"].to_numpy() == pytest.approx(sums["sum"].to_numpy(), rel=1e-12)
    assert weekly["days"].tolist() == sums["size"].tolist()
    assert weekly["days"].sum() == len(daily)
    table = invoke(settings, "forecast", *IDS)
    assert table.exit_code == 0, table.output
    assert "from the registry" in table.stderr
    for value in daily["yhat"]:
        assert f"{value:,.1f}" in table.stdout


def test_mistakes_exit_2_and_say_what_is_wrong(
    store: Store, tmp_path: Path, invoke: Invoke
) -> None:
    """An unknown id is named with a close match, a missing champion says to train, a file
    type we cannot write is refused before any loading."""
    settings = settings_for(store, tmp_path / "ledger.db")
    done = invoke(settings, "forecast", "total", "store=shop-9")
    assert done.exit_code == 2
    assert "unknown series 'store=shop-9'" in done.stderr and "'store=shop-1'" in done.stderr
    done = invoke(settings, "forecast", "--level", "shops")
    assert done.exit_code == 2 and "unknown level(s) shops; levels: " in done.stderr
    done = invoke(settings, "forecast", "total", "--horizon", "99")
    assert done.exit_code == 2 and "--horizon: horizon 99 is beyond" in done.stderr
    empty = settings.model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'empty.db'}"}
    )
    done = invoke(empty, "forecast")
    assert done.exit_code == 2
    assert f"{MODEL} has no champion version yet; run `anticipate train`" in done.stderr
    done = invoke(settings, "forecast", "--out", str(tmp_path / "forecast.txt"))
    assert done.exit_code == 2 and "write .csv, .xlsx or .json, not .txt" in done.stderr


def test_the_excel_file_reads_back(store: Store, tmp_path: Path, invoke: Invoke) -> None:
    """The .xlsx holds the same rows as the CSV."""
    settings = settings_for(store, tmp_path / "ledger.db")
    csv = _cli_csv(invoke, settings, tmp_path / "f.csv", "total")
    done = invoke(settings, "forecast", "total", "--out", str(tmp_path / "f.xlsx"))
    assert done.exit_code == 0, done.output
    excel = pd.read_excel(tmp_path / "f.xlsx", dtype={"model_version": "str"})
    assert excel["yhat"].tolist() == csv["yhat"].tolist()
