"""Requests a hostile client sent (issue 10): each is refused with a 4xx naming what is wrong,
and the server answers the next request as before."""

from __future__ import annotations

import datetime as dt

import pytest
from api_checks import bottom_series, error
from live_store import Api


def _still_answers(api: Api) -> None:
    health = api.client.get("/health")
    assert health.status_code == 200


def test_served_history_as_of_the_end_of_the_calendar_is_refused(api: Api) -> None:
    viewer = api.headers("viewer")
    response = api.client.get(
        "/v1/forecasts/history?unique_id=total&as_of=9999-12-31", headers=viewer
    )
    body = error(response, 422, "as_of")
    assert "2199-12-31" in response.text, body
    ok = api.client.get("/v1/forecasts/history?unique_id=total&as_of=2199-12-31", headers=viewer)
    assert ok.status_code == 200, ok.text
    _still_answers(api)


@pytest.mark.parametrize(
    ("history", "freq", "horizon", "field"),
    [
        # 28 daily points ending 9999-12-28, horizon 7 (issue 10, item 2)
        ([str(dt.date(9999, 12, 1) + dt.timedelta(days=d)) for d in range(28)], "D", 7, "ds"),
        # yearly points 9970-9999, horizon 1
        ([f"{year}-01-01" for year in range(9970, 10000)], "Y", 1, "ds"),
        # dates the schema allows, but a forecast that would pass pandas' calendar
        ([f"{year}-01-01" for year in range(2170, 2200)], "Y", 100, "history"),
    ],
)
def test_adhoc_forecasts_past_the_calendar_are_refused(
    api: Api, history: list[str], freq: str, horizon: int, field: str
) -> None:
    body = {
        "history": [{"ds": ds, "y": 5.0 + i % 3} for i, ds in enumerate(history)],
        "freq": freq,
        "horizon": horizon,
    }
    response = api.client.post("/v1/forecasts/adhoc", json=body, headers=api.headers("viewer"))
    error(response, 422, field)
    _still_answers(api)


@pytest.mark.parametrize(
    ("what", "change", "field"),
    [
        ("y false", {"y": False}, "y"),
        ("y as text", {"y": "5"}, "y"),
        ("the year 1", {"ds": "0001-01-01"}, "ds"),
        ("a date as a number", {"ds": 0}, "ds"),
    ],
)
def test_actuals_values_are_not_coerced(api: Api, what: str, change: dict, field: str) -> None:
    uid = bottom_series(api)
    row = {"unique_id": uid, "ds": "2026-01-01", "y": 3.0} | change
    response = api.client.post("/v1/actuals", json={"rows": [row]}, headers=api.headers("writer"))
    error(response, 422, field)
    _still_answers(api)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"horizon": True}, "horizon"), ({"levels": ["80"]}, "levels"), ({"horizon": 2.0}, "horizon")],
)
def test_forecast_requests_are_not_coerced(api: Api, change: dict, field: str) -> None:
    body = {"unique_ids": [bottom_series(api)]} | change
    response = api.client.post("/v1/forecasts", json=body, headers=api.headers("viewer"))
    error(response, 422, field)
    ok = api.client.post(
        "/v1/forecasts",
        json={"unique_ids": body["unique_ids"], "horizon": 2, "levels": [80]},
        headers=api.headers("viewer"),
    )
    assert ok.status_code == 200, ok.text


def test_accuracy_since_zero_is_not_the_year_1970(api: Api) -> None:
    response = api.client.get("/v1/accuracy?since=0", headers=api.headers("viewer"))
    error(response, 422, "since")
    ok = api.client.get("/v1/accuracy?since=2026-01-01", headers=api.headers("viewer"))
    assert ok.status_code == 200, ok.text


def test_simultaneous_posts_of_the_same_rows_count_each_row_once(api: Api) -> None:
    """8 clients post the same 50 new rows at once: 50 inserted in all, 350 unchanged."""
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    service = api.client.app.state.service
    live = service.live()
    bottom = sorted(uid for uid, level in live.level_of.items() if level == "series")[:10]
    rows = [
        {"unique_id": uid, "ds": str((live.origin_of[uid] + pd.Timedelta(days=k)).date()), "y": 2.0}
        for uid in bottom
        for k in range(1, 6)
    ]
    assert len(rows) == 50
    writer = api.headers("writer")

    def post(_: int) -> dict:
        response = api.client.post("/v1/actuals", json={"rows": rows}, headers=writer)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    assert sum(a["inserted"] for a in answers) == 50
    assert sum(a["unchanged"] for a in answers) == 350
    assert sum(a["updated"] for a in answers) == 0
