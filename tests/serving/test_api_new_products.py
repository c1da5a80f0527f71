"""New products through the API: actuals with attributes, forecasts from launch profiles."""

from __future__ import annotations

import datetime as dt

import pytest
from api_checks import error
from fastapi.testclient import TestClient
from live_store import Api, Store, settings_for

from serving.app import create_app

NEW = "new-rye-roll@shop-1"
ATTRIBUTES = {NEW: {"category": "rolls", "store": "shop-1", "item": "new-rye-roll"}}


def _origin(api: Api) -> dt.date:
    page = api.client.get("/v1/series?level=series&limit=1", headers=api.headers("viewer"))
    return dt.date.fromisoformat(page.json()["items"][0]["last_ds"])


def _rows(start: dt.date, values: list[float]) -> list[dict]:
    return [
        {"unique_id": NEW, "ds": (start + dt.timedelta(days=i + 1)).isoformat(), "y": y}
        for i, y in enumerate(values)
    ]


def _forecast(client: TestClient, headers: dict[str, str]) -> dict:
    answer = client.post(
        "/v1/forecasts", json={"unique_ids": [NEW, "total"], "horizon": 7}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return {f["unique_id"]: f for f in answer.json()["forecasts"]}


@pytest.mark.slow
def test_a_new_series_posted_with_attributes_is_forecast_and_survives_a_restart(
    api: Api, store: Store
) -> None:
    """Actuals of a new id with attributes -> 200; its forecast comes from the launch profile
    with bounds and the method marker, GET /v1/series lists it, and a new app on the same
    ledger answers the same."""
    origin = _origin(api)
    posted = api.client.post(
        "/v1/actuals",
        json={"rows": _rows(origin, [30.0, 41.0, 28.0]), "attributes": ATTRIBUTES},
        headers=api.headers("writer"),
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["inserted"] == 3

    found = _forecast(api.client, api.headers("viewer"))
    new = found[NEW]
    assert new["method"] == "new_product" and new["model"] == "new_product"
    assert new["n_observed"] == 3 and new["level"] == "series"
    assert new["origin"] == (origin + dt.timedelta(days=3)).isoformat()
    assert len(new["points"]) == 7
    for point in new["points"]:
        assert 0 <= point["yhat_lo_95"] <= point["yhat_lo_80"] <= point["yhat"]
        assert point["yhat"] <= point["yhat_hi_80"] <= point["yhat_hi_95"]
    assert new["anticipation"]["expected"]["coverage_80"] is not None
    assert found["total"].get("method") is None  # the model's own series are unchanged

    info = api.client.get(f"/v1/series/{NEW}", headers=api.headers("viewer")).json()
    assert info["method"] == "new_product" and info["n_observations"] == 3
    assert info["attributes"]["category"] == "rolls"
    listed = api.client.get("/v1/series?store=shop-1&limit=1000", headers=api.headers("viewer"))
    assert NEW in [item["unique_id"] for item in listed.json()["items"]]

    more = api.client.post(
        "/v1/actuals",
        json={"rows": _rows(origin, [30.0, 41.0, 28.0, 35.0])},
        headers=api.headers("writer"),
    )
    assert more.status_code == 200, more.text  # known now: no attributes needed again

    with TestClient(create_app(settings_for(store, api.database))) as restarted:
        again = _forecast(restarted, api.headers("viewer"))[NEW]
    assert again["n_observed"] == 4 and again["method"] == "new_product"


@pytest.mark.slow
def test_a_new_id_needs_its_attributes(api: Api) -> None:
    """Without attributes a new id is a 422 naming it and saying what is needed; attributes
    lacking the store are a 422 naming that field; nothing is stored."""
    origin = _origin(api)
    bare = api.client.post(
        "/v1/actuals", json={"rows": _rows(origin, [3.0])}, headers=api.headers("writer")
    )
    body = error(bare, 422, "body.rows.0.unique_id")
    assert NEW in body["message"] and "attributes" in body["message"]
    partial = api.client.post(
        "/v1/actuals",
        json={"rows": _rows(origin, [3.0]), "attributes": {NEW: {"category": "rolls"}}},
        headers=api.headers("writer"),
    )
    error(partial, 422, f"body.attributes.{NEW}.store")
    unknown = api.client.post(
        "/v1/forecasts", json={"unique_ids": [NEW]}, headers=api.headers("viewer")
    )
    error(unknown, 422, "body.unique_ids")
