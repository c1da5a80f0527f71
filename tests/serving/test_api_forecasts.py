"""Series, forecasts (JSON and CSV), ad-hoc forecasts and the audit history."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from api_checks import bottom_series as _bottom_series
from api_checks import error as _error
from live_store import HORIZON, Api, Store

pytestmark = pytest.mark.slow


def test_series_pages_and_filters(api: Api) -> None:
    """Pagination, level and attribute filters; unknown filters and ids are named."""
    viewer = api.headers("viewer")
    first = api.client.get("/v1/series?limit=5", headers=viewer).json()
    assert len(first["items"]) == 5 and first["next_offset"] == 5 and first["total"] > 5
    everything = api.client.get("/v1/series?limit=1000", headers=viewer).json()
    ids = [item["unique_id"] for item in everything["items"]]
    assert len(ids) == len(set(ids)) == first["total"]
    stores = api.client.get("/v1/series?level=store", headers=viewer).json()
    assert stores["total"] == 3 and all(i["members"] >= 1 for i in stores["items"])
    bottom = [i for i in everything["items"] if i["level"] == "series"]
    shop = bottom[0]["attributes"]["store"]
    filtered = api.client.get(f"/v1/series?level=series&store={shop}", headers=viewer).json()
    assert filtered["total"] == sum(1 for i in bottom if i["attributes"]["store"] == shop)
    _error(api.client.get("/v1/series?colour=red", headers=viewer), 422, "query.colour")
    _error(api.client.get("/v1/series?level=galaxy", headers=viewer), 422, "query.level")
    _error(api.client.get("/v1/series?limit=0", headers=viewer), 422, "limit")
    one = api.client.get(f"/v1/series/{ids[0]}", headers=viewer).json()
    assert one["unique_id"] == ids[0] and one["n_observations"] > 0
    _error(api.client.get("/v1/series/nope", headers=viewer), 404, "unique_id")


# ------------------------------------------------------------------ forecasts


def test_forecasts_with_intervals_and_anticipation(api: Api, store: Store) -> None:
    """Points with ordered bounds, the model version, expected accuracy; aggregates too."""
    uid = _bottom_series(api)
    response = api.client.post(
        "/v1/forecasts",
        json={"unique_ids": [uid, "total"], "horizon": 5, "levels": [80, 95]},
        headers=api.headers("viewer"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == store.version and body["request_id"]
    assert response.headers["X-Request-ID"] == body["request_id"]
    assert [f["unique_id"] for f in body["forecasts"]] == [uid, "total"]
    for forecast in body["forecasts"]:
        points = forecast["points"]
        assert len(points) == 5
        dates = pd.to_datetime([p["ds"] for p in points])
        assert dates[0] == pd.Timestamp(forecast["origin"]) + pd.Timedelta(days=1)
        for p in points:
            assert (
                p["yhat_lo_95"]
                <= p["yhat_lo_80"]
                <= p["yhat"]
                <= p["yhat_hi_80"]
                <= p["yhat_hi_95"]
            )
        expected = forecast["anticipation"]["expected"]
        assert expected["mase"] is not None and expected["mase"] > 0
        assert forecast["anticipation"]["realized"] is None
        assert forecast["anticipation"]["drift"]["drift"] is False
        assert "rule" not in forecast["anticipation"]["drift"]
    assert "MASE" in body["drift_rule"]  # the rule once per answer, not per series
    assert body["forecasts"][1]["level"] == "total"
    other_levels = api.client.post(
        "/v1/forecasts",
        json={"unique_ids": [uid], "horizon": 3, "levels": [50]},
        headers=api.headers("viewer"),
    ).json()["forecasts"][0]["points"][0]
    assert {"yhat_lo_50", "yhat_hi_50"} <= set(other_levels) and "yhat_lo_80" not in other_levels


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unique_ids": ["nope"], "horizon": 3}, "body.unique_ids"),
        ({"unique_ids": [], "horizon": 3}, "body.unique_ids"),
        ({"unique_ids": ["total"], "horizon": 0}, "body.horizon"),
        ({"unique_ids": ["total"], "horizon": HORIZON + 1}, "body.horizon"),
        ({"unique_ids": ["total"], "horizon": "soon"}, "body.horizon"),
        ({"unique_ids": ["total"], "levels": [120]}, "body.levels"),
        ({"unique_ids": ["total"], "colour": "red"}, "body.colour"),
        ({"unique_ids": "total"}, "body.unique_ids"),
    ],
)
def test_forecast_mistakes_are_named(api: Api, body: dict, field: str) -> None:
    """Each client mistake is a 422 naming the field."""
    _error(api.client.post("/v1/forecasts", json=body, headers=api.headers("viewer")), 422, field)


def test_not_json_and_too_large(api: Api) -> None:
    """A body that is not JSON is 400; one over the size limit is 413; both JSON."""
    headers = {**api.headers("viewer"), "Content-Type": "application/json"}
    _error(api.client.post("/v1/forecasts", content=b"{not json", headers=headers), 400)
    huge = b'{"unique_ids": ["' + b"x" * 3_000_000 + b'"]}'
    _error(api.client.post("/v1/forecasts", content=huge, headers=headers), 413, "body")
    _error(api.client.get("/v1/nothing-here", headers=headers), 404)


def test_adhoc_forecast_and_limits(api: Api) -> None:
    """A posted history gets a forecast and its own backtest; gaps and oversize are named."""
    start = pd.Timestamp("2026-01-05")
    history = [
        {
            "ds": str((start + pd.Timedelta(days=i)).date()),
            "y": float(20 + 5 * (i % 7 == 5) + i % 3),
        }
        for i in range(84)
    ]
    response = api.client.post(
        "/v1/forecasts/adhoc",
        json={"history": history, "freq": "D", "horizon": 7, "levels": [80]},
        headers=api.headers("viewer"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["points"]) == 7 and body["points"][0]["ds"] == "2026-03-30"
    assert body["expected"]["mase"] is not None and body["expected"]["n_windows"] >= 1
    gap = history[:10] + history[11:]
    _error(
        api.client.post(
            "/v1/forecasts/adhoc", json={"history": gap}, headers=api.headers("viewer")
        ),
        422,
        "body.history",
    )
    negative = [{"ds": "2026-01-01", "y": -1}]
    _error(
        api.client.post(
            "/v1/forecasts/adhoc", json={"history": negative}, headers=api.headers("viewer")
        ),
        422,
        "body.history.0.y",
    )
    long = [{"ds": str((start + pd.Timedelta(days=i)).date()), "y": 1.0} for i in range(5001)]
    _error(
        api.client.post(
            "/v1/forecasts/adhoc", json={"history": long}, headers=api.headers("viewer")
        ),
        422,
        "body.history",
    )


# ------------------------------------------------------------------ actuals and realized accuracy


def test_forecast_history_is_an_audit_trail(api: Api) -> None:
    """What was served, with which version, as of a date; nothing before it was served."""
    viewer = api.headers("viewer")
    served = api.client.post(
        "/v1/forecasts", json={"unique_ids": ["total"], "horizon": 4}, headers=viewer
    ).json()
    today = served["served_at"][:10]
    history = api.client.get(f"/v1/forecasts/history?unique_id=total&as_of={today}", headers=viewer)
    assert history.status_code == 200
    (logged,) = history.json()["forecasts"]
    assert logged["request_id"] == served["request_id"]
    assert logged["model_version"] == served["model_version"]
    sent = served["forecasts"][0]["points"]
    assert [p["ds"] for p in logged["points"]] == [p["ds"] for p in sent]
    assert [p["yhat"] for p in logged["points"]] == pytest.approx([p["yhat"] for p in sent])
    before = api.client.get(
        "/v1/forecasts/history?unique_id=total&as_of=2000-01-01", headers=viewer
    )
    assert before.json()["forecasts"] == []
    _error(api.client.get("/v1/forecasts/history", headers=viewer), 422, "unique_id")
    _error(
        api.client.get("/v1/forecasts/history?unique_id=total&as_of=soon", headers=viewer),
        422,
        "as_of",
    )


def test_forecasts_as_csv_and_gzip(api: Api) -> None:
    """`Accept: text/csv` gives the long forecast frame; large answers are gzipped on request."""
    uid = _bottom_series(api)
    response = api.client.post(
        "/v1/forecasts",
        json={"unique_ids": [uid, "total"], "horizon": 4},
        headers={**api.headers("viewer"), "Accept": "text/csv"},
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(response.text))
    assert list(frame.columns[:5]) == ["unique_id", "level", "model_version", "origin", "ds"]
    assert {"yhat", "yhat_lo_80", "yhat_hi_95"} <= set(frame.columns)
    assert frame.groupby("unique_id").size().to_dict() == {uid: 4, "total": 4}
    json_answer = api.client.post(
        "/v1/forecasts",
        json={"unique_ids": [uid, "total"], "horizon": 4},
        headers=api.headers("viewer"),
    ).json()
    first = json_answer["forecasts"][0]["points"][0]
    assert frame.loc[frame["unique_id"] == uid, "yhat"].iloc[0] == pytest.approx(first["yhat"])
    everything = api.client.get("/v1/series?limit=1000", headers=api.headers("viewer")).json()
    ids = [i["unique_id"] for i in everything["items"]]
    big = api.client.post(
        "/v1/forecasts",
        json={"unique_ids": ids, "horizon": HORIZON},
        headers={**api.headers("viewer"), "Accept-Encoding": "gzip"},
    )
    assert big.status_code == 200 and big.headers.get("content-encoding") == "gzip"
    assert len(big.json()["forecasts"]) == len(ids)


def test_series_ids_with_slashes_reach_the_series_route(api: Api) -> None:
    """Aggregate ids read like paths (`store=x/category=y`): the series route takes them whole."""
    viewer = api.headers("viewer")
    missing = api.client.get("/v1/series/store=shop-1/category=nothing", headers=viewer)
    body = _error(missing, 404, "path.unique_id")
    assert "store=shop-1/category=nothing" in body["message"]
    _error(api.client.get("/v1/series/%0A0"), 401)  # any id reaches the key check, even "\n0"
    _error(api.client.get("/v1/series/%0A0", headers=viewer), 404, "path.unique_id")
    everything = api.client.get("/v1/series?limit=1000", headers=viewer).json()
    for uid in [i["unique_id"] for i in everything["items"]][:20]:
        one = api.client.get(f"/v1/series/{uid}", headers=viewer)
        assert one.status_code == 200 and one.json()["unique_id"] == uid


def test_served_forecasts_of_every_aggregate_equal_the_sum_of_its_members(api: Api) -> None:
    """Issue 11: the served forecasts are coherent at every level (relative 1e-6)."""
    live = api.client.app.state.service.holder.current
    membership = live.bundle.membership
    ids = sorted(live.level_of)
    answer = api.client.post(
        "/v1/forecasts", json={"unique_ids": ids, "horizon": 7}, headers=api.headers("viewer")
    )
    assert answer.status_code == 200, answer.text
    yhat = {
        f["unique_id"]: np.array([p["yhat"] for p in f["points"]])
        for f in answer.json()["forecasts"]
    }
    checked = 0
    for level in (c for c in membership.columns if c != "unique_id"):
        for aggregate, members in membership.groupby(level)["unique_id"]:
            if aggregate in yhat and aggregate not in set(members):
                summed = np.sum([yhat[m] for m in members], axis=0)
                np.testing.assert_allclose(yhat[aggregate], summed, rtol=1e-6, err_msg=aggregate)
                checked += 1
    assert checked >= 3
