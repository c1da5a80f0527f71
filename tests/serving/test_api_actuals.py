"""Actuals, realized accuracy against a hand computation, background refits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from api_checks import bottom_series as _bottom_series
from api_checks import error as _error
from fastapi.testclient import TestClient
from live_store import Api, Store, settings_for

from features.storage import read_trend_dataset
from serving.app import create_app
from serving.db import make_engine, migrate
from serving.keys import create_key

pytestmark = pytest.mark.slow


def _labels(forecast_mean: float, actual_mean: float, recent: float, band: float = 0.05) -> bool:
    def label(value: float) -> str:
        ratio = value / recent
        return "up" if ratio > 1 + band else "down" if ratio < 1 - band else "flat"

    return label(forecast_mean) == label(actual_mean)


def test_realized_accuracy_equals_a_hand_computation(api: Api, store: Store) -> None:
    """Serve a week, post its actuals: realized metrics match a hand computation; repost: no-op."""
    uid = _bottom_series(api)
    served = api.client.post(
        "/v1/forecasts",
        json={"unique_ids": [uid], "horizon": 7, "levels": [80, 95]},
        headers=api.headers("viewer"),
    ).json()["forecasts"][0]
    points = pd.DataFrame(served["points"])
    history = read_trend_dataset(store.datasets).frame
    series = history[history["unique_id"] == uid].sort_values("ds")["y"].to_numpy()
    rng = np.random.default_rng(3)
    actual = np.round(points["yhat"].to_numpy() * rng.uniform(0.6, 1.4, 7))
    rows = [
        {"unique_id": uid, "ds": ds, "y": float(y)}
        for ds, y in zip(points["ds"], actual, strict=True)
    ]
    posted = api.client.post("/v1/actuals", json={"rows": rows}, headers=api.headers("writer"))
    assert posted.status_code == 200, posted.text
    assert posted.json()["inserted"] == 7 and posted.json()["scored_points"] == 7
    assert posted.json()["refresh_href"].startswith("/v1/jobs/")

    yhat = points["yhat"].to_numpy()
    scale = np.mean(np.abs(series[7:] - series[:-7]))  # in-sample seasonal naive, season 7
    mase = np.mean(np.abs(actual - yhat)) / scale
    wape = np.sum(np.abs(actual - yhat)) / np.sum(np.abs(actual))
    inside = (points["yhat_lo_80"] <= actual) & (actual <= points["yhat_hi_80"])
    hit = _labels(yhat.mean(), actual.mean(), series[-7:].mean())

    report = api.client.get(f"/v1/accuracy?unique_id={uid}", headers=api.headers("viewer")).json()
    realized = report["by_series"][0]["realized"]
    assert report["by_series"][0]["key"] == {"unique_id": uid}
    assert realized["mase"] == pytest.approx(mase, rel=1e-6)
    assert realized["wape"] == pytest.approx(wape, rel=1e-6)
    assert realized["coverage_80"] == pytest.approx(inside.mean())
    assert realized["direction_hit_rate"] == pytest.approx(float(hit))
    assert realized["n_points"] == 7
    assert report["by_series"][0]["expected"]["mase"] is not None
    assert [g["key"]["step"] for g in report["by_step"]] == list(range(1, 8))
    assert report["by_model_version"][0]["key"] == {"model_version": store.version}
    assert "MASE" in report["rule"]

    again = api.client.post("/v1/actuals", json={"rows": rows}, headers=api.headers("writer"))
    assert again.json() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 7,
        "scored_points": 0,
        "refresh_href": "/v1/jobs?kind=refresh",
    }
    assert (
        api.client.get(f"/v1/accuracy?unique_id={uid}", headers=api.headers("viewer")).json()
        == report
    )

    service = api.client.app.state.service
    assert service.refresher.wait_idle(60)
    assert service.anticipation.wait_fresh(30)
    refit = api.client.get(posted.json()["refresh_href"], headers=api.headers("viewer")).json()
    assert refit["kind"] == "refresh" and refit["status"] == "succeeded", refit
    assert refit["result"]["moved_series"] >= 1
    listed = api.client.get("/v1/jobs?kind=refresh", headers=api.headers("viewer")).json()
    assert listed["items"][0]["id"] == refit["id"]
    moved = api.client.post(
        "/v1/forecasts", json={"unique_ids": [uid], "horizon": 3}, headers=api.headers("viewer")
    ).json()["forecasts"][0]
    assert moved["origin"] == rows[-1]["ds"]
    assert moved["anticipation"]["realized"]["mase"] == pytest.approx(mase, rel=1e-6)


def test_actuals_mistakes(api: Api) -> None:
    """Unknown series, repeated rows, negative or missing values: 422 naming the row and field."""
    writer = api.headers("writer")
    uid = _bottom_series(api)
    cases = [
        ([{"unique_id": "nope", "ds": "2030-01-01", "y": 1}], "body.rows.0.unique_id"),
        ([{"unique_id": uid, "ds": "2030-01-01", "y": 1}] * 2, "body.rows.1"),
        ([{"unique_id": uid, "ds": "2030-01-01", "y": -1}], "body.rows.0.y"),
        ([{"unique_id": uid, "ds": "yesterday", "y": 1}], "body.rows.0.ds"),
        ([{"unique_id": uid, "ds": "2030-01-01"}], "body.rows.0.y"),
    ]
    for rows, field in cases:
        _error(api.client.post("/v1/actuals", json={"rows": rows}, headers=writer), 422, field)
    _error(api.client.post("/v1/actuals", json={"rows": []}, headers=writer), 422, "body.rows")


def test_accuracy_without_scored_forecasts_and_bad_filters(api: Api) -> None:
    """Nothing scored yet: empty groups, not an error; a bad date is named."""
    viewer = api.headers("viewer")
    empty = api.client.get("/v1/accuracy", headers=viewer).json()
    assert empty["overall"] is None and empty["by_series"] == []
    _error(api.client.get("/v1/accuracy?since=yesterday", headers=viewer), 422, "since")


def test_a_restart_serves_the_moved_model_from_its_snapshot(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Actuals moved a series; a restarted server serves the same forecast and refits nothing."""

    settings = settings_for(store, tmp_path / "ledger.db")
    with TestClient(create_app(settings)) as client:
        key = {"X-API-Key": create_key(make_engine(settings.database_url), "writer")[1]}
        uid = client.get("/v1/series?level=series&limit=1", headers=key).json()["items"][0]
        uid = uid["unique_id"]
        first = client.post("/v1/forecasts", json={"unique_ids": [uid]}, headers=key).json()
        points = first["forecasts"][0]["points"][:3]
        rows = [{"unique_id": uid, "ds": p["ds"], "y": round(p["yhat"]) + 1} for p in points]
        assert client.post("/v1/actuals", json={"rows": rows}, headers=key).status_code == 200
        assert client.app.state.service.refresher.wait_idle(60)
        before = client.post("/v1/forecasts", json={"unique_ids": [uid]}, headers=key).json()
    assert before["forecasts"][0]["origin"] == rows[-1]["ds"]
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready").json()
        assert ready["checks"]["snapshot"] == "used" and ready["checks"]["refitted_at_load"] == "0"
        after = client.post("/v1/forecasts", json={"unique_ids": [uid]}, headers=key).json()
    assert after["forecasts"][0]["origin"] == rows[-1]["ds"]
    assert after["forecasts"][0]["points"] == before["forecasts"][0]["points"]
    other = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'other.db'}"})
    with TestClient(create_app(other)) as client:  # a ledger without those actuals
        assert client.get("/ready").json()["checks"]["snapshot"] == "none"
        key = {"X-API-Key": create_key(make_engine(other.database_url), "viewer")[1]}
        fresh = client.post("/v1/forecasts", json={"unique_ids": [uid]}, headers=key).json()
    assert fresh["forecasts"][0]["origin"] == first["forecasts"][0]["origin"]


def test_a_corrected_actual_reaches_the_model_as_after_a_restart(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 4: y=5 for a series' next day, then y=5000 for the same day: the served
    forecast changes at once, and equals what a restarted server serves (from its snapshot, and
    from the registry without one); a correction posted while no server ran is applied too."""
    settings = settings_for(store, tmp_path / "ledger.db")
    engine = make_engine(settings.database_url)
    migrate(engine)
    key = {"X-API-Key": create_key(engine, "admin")[1]}

    def forecast(client: TestClient, uid: str) -> dict:
        answer = client.post("/v1/forecasts", json={"unique_ids": [uid]}, headers=key)
        assert answer.status_code == 200, answer.text
        return answer.json()["forecasts"][0]

    def post(client: TestClient, rows: list[dict]) -> dict:
        answer = client.post("/v1/actuals", json={"rows": rows}, headers=key)
        assert answer.status_code == 200, answer.text
        assert client.app.state.service.refresher.wait_idle(60)
        job = client.get(answer.json()["refresh_href"], headers=key).json()
        assert job["status"] == "succeeded", job
        return {**answer.json(), "moved": job["result"]["moved_series"]}

    with TestClient(create_app(settings)) as client:
        uid = client.get("/v1/series?level=series&limit=1", headers=key).json()["items"][0]
        uid = uid["unique_id"]
        day = forecast(client, uid)["points"][0]["ds"]
        first = post(client, [{"unique_id": uid, "ds": day, "y": 5}])
        assert first["inserted"] == 1 and first["moved"] >= 1
        low = forecast(client, uid)
        corrected = post(client, [{"unique_id": uid, "ds": day, "y": 5000}])
        assert corrected["updated"] == 1 and corrected["moved"] >= 1
        high = forecast(client, uid)
        # the store aggregate holds the corrected member too
        store_id = next(iter(client.app.state.service.holder.current.parents_of([uid])))
        served_store = forecast(client, store_id)
    assert high["origin"] == low["origin"] == day
    assert high["points"][0]["yhat"] > low["points"][0]["yhat"]

    with TestClient(create_app(settings)) as client:  # from the snapshot written at stop
        assert client.get("/ready").json()["checks"]["snapshot"] == "used"
        assert forecast(client, uid)["points"] == high["points"]
        assert forecast(client, store_id)["points"] == served_store["points"]
    for snapshot in settings.snapshot_dir.iterdir():
        snapshot.unlink()
    with TestClient(create_app(settings)) as client:  # from the registry and the ledger
        assert client.get("/ready").json()["checks"]["snapshot"] == "none"
        again = forecast(client, uid)
    assert again["origin"] == day
    for a, b in zip(again["points"], high["points"], strict=True):
        assert a["yhat"] == pytest.approx(b["yhat"], rel=1e-9)

    # a correction made while no server ran (another worker, a script) is applied at start
    from serving import ledger

    ledger.upsert_actuals(
        engine, pd.DataFrame({"unique_id": [uid], "ds": [pd.Timestamp(day)], "y": [5.0]})
    )
    engine.dispose()
    with TestClient(create_app(settings)) as client:  # the snapshot is behind the ledger now
        back = forecast(client, uid)
    for a, b in zip(back["points"], low["points"], strict=True):
        assert a["yhat"] == pytest.approx(b["yhat"], rel=1e-9)
