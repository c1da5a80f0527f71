"""The planner's pages: GET /v1/overview, /v1/series/{id}/history and /v1/accuracy/trend on a
trained store, before and after actuals arrive."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from api_checks import error
from fastapi.testclient import TestClient
from live_store import Api, Store, settings_for

from features.storage import read_trend_dataset
from serving import ledger
from serving.app import create_app
from serving.db import make_engine, migrate
from serving.keys import create_key
from serving.overview import DIRECTION_BAND, STOCKOUT_DAYS
from serving.routes import ROUTERS, overview, series

PATHS = ["/v1/overview", "/v1/series/total/history", "/v1/accuracy/trend"]


@pytest.fixture(scope="module")
def app(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One started app on a ledger of this module's own (the tests run in order)."""
    database = tmp_path_factory.mktemp("overview") / "ledger.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    made = {role: create_key(engine, role, role)[1] for role in ("viewer", "writer")}
    engine.dispose()
    with TestClient(create_app(settings_for(store, database))) as client:
        yield Api(client, made, database)


def _get(app: Api, path: str) -> dict:
    answer = app.client.get(path, headers=app.headers("viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _training(store: Store) -> pd.DataFrame:
    return read_trend_dataset(store.datasets).frame.sort_values(["unique_id", "ds"])


def test_overview_is_a_tree_of_every_series_with_coherent_totals(app: Api, store: Store) -> None:
    """One row per series; parents reach the total; totals match /v1/forecasts/totals and the
    history; the direction follows the band; nothing scored yet, so no attention."""
    body = _get(app, "/v1/overview?days=7")
    rows = {row["unique_id"]: row for row in body["rows"]}
    listed = _get(app, "/v1/series?limit=1000")
    assert len(rows) == len(body["rows"]) == listed["total"]
    assert {row["level"] for row in rows.values()} == {i["level"] for i in listed["items"]}
    assert rows["total"]["parent"] is None and rows["total"]["label"] == "Total"
    for uid, row in rows.items():
        seen, node = {uid}, row
        while node["parent"] is not None:
            assert node["parent"] in rows, (uid, node["parent"])
            node = rows[node["parent"]]
            assert node["unique_id"] not in seen, f"cycle at {uid}"
            seen.add(node["unique_id"])
        assert node["unique_id"] == "total"
    bottom = next(uid for uid, row in rows.items() if row["level"] == "series")
    assert rows[bottom]["parent"].startswith("store=") and "@" not in rows[bottom]["label"]
    assert rows["store=shop-1"]["label"] == "shop-1"

    ids = ["total", "store=shop-1", bottom]
    totals = app.client.post(
        "/v1/forecasts/totals",
        json={"unique_ids": ids, "periods": ["next_7_days"], "levels": [80]},
        headers=app.headers("viewer"),
    ).json()["totals"]
    for total in totals:
        row = rows[total["unique_id"]]
        assert row["next_total"] == pytest.approx(total["mean"], abs=1e-6)
        assert row["next_low80"] == pytest.approx(total["bounds"]["80"]["lo"], abs=1e-6)
        assert row["next_high80"] == pytest.approx(total["bounds"]["80"]["hi"], abs=1e-6)

    training = _training(store)
    for uid in [*ids, "category=bread"]:
        last = training[training["unique_id"] == uid]["y"].to_numpy()[-7:].sum()
        assert rows[uid]["last_total"] == pytest.approx(last)
    for row in rows.values():
        if not row["last_total"]:
            assert row["change"] is None
            continue
        change = (row["next_total"] - row["last_total"]) / row["last_total"]
        assert row["change"] == pytest.approx(change, abs=1e-6)
        expected = (
            "up" if change > DIRECTION_BAND else "down" if change < -DIRECTION_BAND else "flat"
        )
        assert row["direction"] == expected
        assert row["next_low80"] <= row["next_total"] <= row["next_high80"]
        assert row["expected_mase"] is not None and row["realized_mase"] is None
    assert body["attention"] == [] and not any(r["drift"] for r in rows.values())
    assert set(body["rules"]) == {"direction", "drift", "bias", "stockout", "attention"}
    assert "5%" in body["rules"]["direction"] and "open days" in body["rules"]["stockout"]


def test_history_is_the_training_data_of_any_series(app: Api, store: Store) -> None:
    """The last N days equal the training data, for bottom series and aggregate ids."""
    training = _training(store)
    for uid in ["kaiser-roll@shop-1", "store=shop-1", "total"]:
        body = _get(app, f"/v1/series/{uid}/history?days=30")
        part = training[training["unique_id"] == uid].tail(30)
        assert [p["ds"] for p in body["points"]] == part["ds"].dt.strftime("%Y-%m-%d").tolist()
        assert [p["y"] for p in body["points"]] == part["y"].tolist()
        assert body["unit"] == "units" and body["freq"] == "D" and body["calendar"]
        assert set(body["closed"]) <= {p["ds"] for p in body["points"]}
    shop = _get(app, "/v1/series/store=shop-1/history?days=3660")
    assert len(shop["points"]) == (training["unique_id"] == "store=shop-1").sum()
    assert len(_get(app, "/v1/series/total/history")["points"]) == 120
    error(app.client.get("/v1/series/nope/history", headers=app.headers("viewer")), 404)
    for bad in ("0", "3661", "many"):
        answer = app.client.get(
            f"/v1/series/total/history?days={bad}", headers=app.headers("viewer")
        )
        error(answer, 422, "days")


def test_mistakes_and_keys(app: Api) -> None:
    """No key: 401; bad parameters: 422 naming the field; an empty ledger: an empty trend."""
    for path in PATHS:
        error(app.client.get(path), 401)
    viewer = app.headers("viewer")
    for days in ("0", "8", "x"):
        error(app.client.get(f"/v1/overview?days={days}", headers=viewer), 422, "days")
    error(app.client.get("/v1/accuracy/trend?by=colour", headers=viewer), 422, "query.by")
    error(app.client.get("/v1/accuracy/trend?period=Q", headers=viewer), 422, "period")
    error(app.client.get("/v1/accuracy/trend?since=later", headers=viewer), 422, "since")
    assert _get(app, "/v1/accuracy/trend?by=level")["rows"] == []


def _steady_seller(app: Api) -> str:
    """A bottom series that sold on every open day of its last STOCKOUT_DAYS open days."""
    for item in _get(app, "/v1/series?level=series&limit=100")["items"]:
        body = _get(app, f"/v1/series/{item['unique_id']}/history?days=60")
        sold = [p["y"] > 0 for p in body["points"] if p["ds"] not in body["closed"]]
        if all(sold[-STOCKOUT_DAYS:]):
            return item["unique_id"]
    raise AssertionError("no steady seller in the test data")


def test_actuals_far_above_the_forecast_and_an_empty_shelf_need_attention(app: Api) -> None:
    """Serve, post actuals three times the forecast for one series and two days without sales
    for a steady seller: the first drifts, the second is a stock-out risk, both in attention
    (drift first); the trend's points add up to the scored points, per store and per level."""
    viewer, writer = app.headers("viewer"), app.headers("writer")
    steady = _steady_seller(app)
    far = next(
        i["unique_id"]
        for i in _get(app, "/v1/series?level=series&limit=100")["items"]
        if i["unique_id"] != steady
    )
    for _ in range(2):  # a planner and a dashboard ask for the same forecast
        served = app.client.post("/v1/forecasts", json={"unique_ids": [far]}, headers=viewer)
    points = served.json()["forecasts"][0]["points"]
    service = app.client.app.state.service
    service.writer.flush(15.0)  # the served forecasts are in the ledger before their actuals
    days = _get(app, f"/v1/series/{steady}/history?days=1")["points"][-1]["ds"]
    after = pd.date_range(pd.Timestamp(days) + pd.Timedelta(days=1), periods=2, freq="D")
    rows = [{"unique_id": far, "ds": p["ds"], "y": round(3 * p["yhat"] + 5)} for p in points]
    rows += [{"unique_id": steady, "ds": d.date().isoformat(), "y": 0.0} for d in after]
    posted = app.client.post("/v1/actuals", json={"rows": rows}, headers=writer)
    assert posted.status_code == 200, posted.text
    service = app.client.app.state.service
    assert service.refresher.wait_idle(60)

    body = _get(app, "/v1/overview")
    found = {row["unique_id"]: row for row in body["rows"]}
    assert found[far]["realized_mase"] > 1 and found[far]["realized_bias"] < -0.5
    assert found[far]["drift"] and "bias" in found[far]["drift_reason"]
    assert found[steady]["stockout_risk"] and "last 2 open days" in found[steady]["stockout_reason"]
    attention = [(a["unique_id"], a["kind"]) for a in body["attention"]]
    assert attention[:2] == [(far, "drift"), (steady, "stockout")]
    assert any(r.startswith("biased") for r in body["attention"][0]["reasons"])
    history = _get(app, f"/v1/series/{steady}/history?days=2")["points"]
    assert [p["y"] for p in history] == [0.0, 0.0]  # moved forward with the actuals

    scored = _get(app, "/v1/accuracy")["overall"]["realized"]["n_points"]
    assert scored == 14
    for by in ("store", "level", "category"):
        trend = _get(app, f"/v1/accuracy/trend?by={by}&period=W")
        keys = [(r["group"], r["period_start"]) for r in trend["rows"]]
        assert len(keys) == len(set(keys)) and sum(r["n_points"] for r in trend["rows"]) == 14
        assert all(pd.Timestamp(day).weekday() == 0 for _, day in keys)
        assert all(r["mase"] > 1 and r["expected_mase"] is not None for r in trend["rows"])
    store = far.split("@")[1]
    assert {r["group"] for r in _get(app, "/v1/accuracy/trend?by=store")["rows"]} == {
        f"store={store}"
    }
    nested = _get(app, "/v1/accuracy/trend?by=store")["groups"]
    assert [(g["group"], g["n_points"]) for g in nested] == [(f"store={store}", 14)]
    assert found[far]["biased"] and found[far]["bias_reason"].startswith("realized bias -")
    daily = _get(app, "/v1/accuracy/trend?by=level&period=D")["rows"]
    assert [r["period_start"] for r in daily] == [p["ds"] for p in points]
    assert "MASE" in trend["rule"]


def test_accuracy_by_period_equals_a_hand_computation_from_the_scored_points(app: Api) -> None:
    """The ledger's grouped query: per level and day, WAPE, bias and points as a hand sum over
    `scored_points` (one row per request that served the point); on the actuals the test above
    posted (the module's tests run in order, on one ledger)."""
    engine = make_engine(f"sqlite:///{app.database}")
    try:
        points = ledger.scored_points(engine)
        found = ledger.accuracy_by_period(engine, "D")
        monthly = ledger.accuracy_by_period(engine, "M", since=points["ds"].max().date())
    finally:
        engine.dispose()
    assert len(points) and len(found) == points.groupby(["level", "ds"]).ngroups
    error_ = points["yhat"] - points["y"]
    hand = (
        points.assign(abs_error=error_.abs(), error=error_, abs_y=points["y"].abs())
        .groupby(["level", "ds"])
        .agg(n=("y", "size"), abs_error=("abs_error", "sum"), e=("error", "sum"))
        .join(points.groupby(["level", "ds"])["y"].sum())
    )
    for row in found.to_dict("records"):
        expected = hand.loc[(row["group"], row["period_start"])]
        assert row["n_points"] == expected["n"]
        assert row["wape"] == pytest.approx(expected["abs_error"] / expected["y"])
        assert row["bias"] == pytest.approx(expected["e"] / expected["y"])
        assert np.isfinite(row["mase"])
    assert monthly["n_points"].sum() == (points["ds"] == points["ds"].max()).sum()


def test_history_route_comes_before_the_series_route() -> None:
    """`/v1/series/{id}/history` is its own route, not a series id ending in /history."""
    assert ROUTERS.index(overview.router) < ROUTERS.index(series.router)
