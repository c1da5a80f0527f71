"""POST /v1/forecasts/totals and daily quantiles: totals of the served forecasts, their intervals
from backtest sums, quantiles as interval bounds, and mistakes named by field."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from api_checks import bottom_series, error
from live_store import Api

from serving.totals import DateRange, resolve_period

STORES = ["store=shop-1", "store=shop-2", "store=web"]


def _post(api: Api, path: str, body: dict) -> dict:
    answer = api.client.post(path, json=body, headers=api.headers("viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _daily(api: Api, ids: list[str], **extra: object) -> dict[str, list[dict]]:
    body = _post(api, "/v1/forecasts", {"unique_ids": ids, **extra})
    return {f["unique_id"]: f["points"] for f in body["forecasts"]}


@pytest.mark.slow
def test_a_total_sums_the_served_forecasts_with_ordered_bounds_and_quantiles(api: Api) -> None:
    uid = bottom_series(api)
    ids = [uid, "total", *STORES]
    daily = _daily(api, ids, levels=[80])
    first = daily[uid][0]["ds"]
    inner = {"start": daily[uid][1]["ds"], "end": daily[uid][4]["ds"]}
    body = _post(
        api,
        "/v1/forecasts/totals",
        {
            "unique_ids": ids,
            "periods": ["next_7_days", inner],
            "levels": [50, 80, 95],
            "quantiles": [2.5, 10, 25, 50, 75, 90, 97.5, 99.9],
        },
    )
    assert body["method"].startswith("split-conformal calibration on backtest sums")
    totals = {(t["unique_id"], t["period"]): t for t in body["totals"]}
    assert len(totals) == 2 * len(ids)
    for (series, period), total in totals.items():
        points = daily[series] if period == "next_7_days" else daily[series][1:5]
        assert total["mean"] == pytest.approx(sum(p["yhat"] for p in points), abs=1e-5)
        assert total["days"] == total["steps"] == len(points)
        assert (total["start"], total["end"]) == (points[0]["ds"], points[-1]["ds"])
        bounds = [total["bounds"][lv] for lv in ("50", "80", "95")]
        lows, highs = [b["lo"] for b in bounds], [b["hi"] for b in bounds]
        assert lows == sorted(lows, reverse=True) and highs == sorted(highs)
        assert 0 <= lows[-1] <= lows[0] <= total["mean"] <= highs[0] <= highs[-1]
        assert highs[-1] - lows[-1] > highs[0] - lows[0]
        values = list(total["quantiles"].values())
        assert list(total["quantiles"]) == ["2.5", "10", "25", "50", "75", "90", "97.5", "99.9"]
        assert values == sorted(values) and total["quantiles"]["50"] == total["mean"]
        assert total["quantiles"]["97.5"] == total["bounds"]["95"]["hi"]
        assert total["quantiles"]["10"] == total["bounds"]["80"]["lo"]
    assert totals[(uid, "next_7_days")]["start"] == first
    # the daily forecasts are coherent, so the stores' totals add up to the total's
    stores = sum(totals[(s, "next_7_days")]["mean"] for s in STORES)
    assert stores == pytest.approx(totals[("total", "next_7_days")]["mean"], rel=1e-6)
    # the test model's backtest has 2 origins: aggregates borrow every level's errors, and a
    # pool of 20 (bottom series) cannot resolve 95 %, which the answer says
    assert totals[("total", "next_7_days")]["pool"] == "all levels"
    bottom = totals[(uid, "next_7_days")]
    assert bottom["pool"] == "level" and bottom["pool_size"] == 20
    assert "levels [95]" in bottom["warning"] and "quantiles [2.5, 97.5, 99.9]" in bottom["warning"]


@pytest.mark.slow
def test_a_weekly_total_is_the_interval_of_the_total_not_the_sum_of_daily_bounds(
    api: Api,
) -> None:
    """Narrower than adding up the seven daily 80 % bounds (errors partly cancel), wider than
    any one day's interval."""
    ids = [bottom_series(api), "total", *STORES, "category=bread"]
    daily = _daily(api, ids, levels=[80])
    body = _post(api, "/v1/forecasts/totals", {"unique_ids": ids, "levels": [80]})
    for total in body["totals"]:
        widths = [p["yhat_hi_80"] - p["yhat_lo_80"] for p in daily[total["unique_id"]]]
        width = total["bounds"]["80"]["hi"] - total["bounds"]["80"]["lo"]
        assert max(widths) < width < sum(widths), total["unique_id"]


@pytest.mark.slow
def test_daily_quantiles_are_the_bounds_of_central_intervals(api: Api) -> None:
    uid = bottom_series(api)
    quantiles = [2.5, 10, 50, 90, 97.5, 99.9]
    points = _daily(api, [uid], levels=[80, 95], quantiles=quantiles)[uid]
    for point in points:
        q = point["quantiles"]
        assert list(q) == ["2.5", "10", "50", "90", "97.5", "99.9"]
        assert list(q.values()) == sorted(q.values())
        assert q["97.5"] == point["yhat_hi_95"] and q["2.5"] == point["yhat_lo_95"]
        assert q["90"] == point["yhat_hi_80"] and q["10"] == point["yhat_lo_80"]
        assert q["50"] == point["yhat"]
    plain = _daily(api, [uid], levels=[80])[uid]
    assert "quantiles" not in plain[0]
    answer = api.client.post(
        "/v1/forecasts",
        json={"unique_ids": [uid], "levels": [95], "quantiles": [2.5, 97.5]},
        headers={**api.headers("viewer"), "Accept": "text/csv"},
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == len(points)
    assert all(r["yhat_q_97.5"] == r["yhat_hi_95"] and r["yhat_q_2.5"] for r in rows)
    # the ledger keeps the requested levels only
    history = api.client.get(
        f"/v1/forecasts/history?unique_id={uid}&as_of=2199-01-01", headers=api.headers("viewer")
    ).json()
    kept = {key for forecast in history["forecasts"] for key in forecast["points"][0]}
    assert "quantiles" not in kept and "yhat_hi_99.8" not in kept and "yhat_hi_95" in kept


@pytest.mark.slow
def test_totals_and_quantile_mistakes_are_named(api: Api) -> None:
    uid = bottom_series(api)
    viewer = api.headers("viewer")
    last = _daily(api, [uid])[uid][-1]["ds"]
    after = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
    cases = [
        ({"quantiles": [0]}, "body.quantiles.0"),
        ({"quantiles": [50, 100]}, "body.quantiles.1"),
        ({"levels": [100]}, "body.levels.0"),
        ({"periods": ["next_7_days", {"start": last, "end": after}]}, "body.periods.1"),
        ({"periods": [{"start": last, "end": "2000-01-01"}]}, "body.periods.0"),
        ({"periods": ["next_28_days"]}, "body.periods.0"),
        ({"periods": ["fortnight"]}, "body.periods.0"),
    ]
    for extra, field in cases:
        body = {"unique_ids": [uid], **extra}
        error(api.client.post("/v1/forecasts/totals", json=body, headers=viewer), 422, field)
    month = error(
        api.client.post(
            "/v1/forecasts/totals", json={"unique_ids": [uid], "periods": ["month"]}, headers=viewer
        ),
        422,
        "body.periods.0",
    )
    assert "horizon of 7" in month["message"]
    backwards = {"unique_ids": [uid], "periods": [{"start": last, "end": "2000-01-01"}]}
    answer = api.client.post("/v1/forecasts/totals", json=backwards, headers=viewer)
    assert "start is after end" in answer.json()["message"]
    unknown = api.client.post("/v1/forecasts/totals", json={"unique_ids": ["nope"]}, headers=viewer)
    assert error(unknown, 422, "body.unique_ids")["error"] == "unknown_series"
    for quantiles, field in (([0], "body.quantiles.0"), ([2.5, 100], "body.quantiles.1")):
        daily = {"unique_ids": [uid], "quantiles": quantiles}
        error(api.client.post("/v1/forecasts", json=daily, headers=viewer), 422, field)
    anonymous = api.client.post("/v1/forecasts/totals", json={"unique_ids": [uid]})
    error(anonymous, 401)


@pytest.mark.parametrize(
    ("origin", "period", "start", "end"),
    [
        ("2023-05-31", "next_7_days", "2023-06-01", "2023-06-07"),
        ("2023-05-31", "next_28_days", "2023-06-01", "2023-06-28"),
        ("2023-05-31", "week", "2023-06-05", "2023-06-11"),  # a Wednesday: the next Monday
        ("2023-06-04", "week", "2023-06-05", "2023-06-11"),  # a Sunday: tomorrow's week
        ("2023-05-15", "month", "2023-06-01", "2023-06-30"),
        ("2023-05-31", "month", "2023-06-01", "2023-06-30"),  # a month's last day
        ("2023-12-01", "month", "2024-01-01", "2024-01-31"),
        ("2024-01-31", "month", "2024-02-01", "2024-02-29"),
    ],
)
def test_named_periods_start_after_the_last_observed_day(
    origin: str, period: str, start: str, end: str
) -> None:
    day = dt.date.fromisoformat
    assert resolve_period(period, day(origin)) == (day(start), day(end))
    explicit = DateRange(start=day(start), end=day(end))
    assert resolve_period(explicit, day(origin)) == (day(start), day(end))
