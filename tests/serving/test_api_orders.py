"""POST /v1/orders: order quantities consistent with the served forecasts and the policy."""

from __future__ import annotations

import math

import pytest
from api_checks import bottom_series, error
from live_store import Api

pytestmark = pytest.mark.slow


def _orders(api: Api, items: list[dict], **extra: object) -> dict:
    answer = api.client.post(
        "/v1/orders", json={"items": items, **extra}, headers=api.headers("viewer")
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_order_tops_the_stock_up_to_the_demand_quantile(api: Api) -> None:
    uid = bottom_series(api)
    forecast = api.client.post(
        "/v1/forecasts", json={"unique_ids": [uid], "horizon": 3}, headers=api.headers("viewer")
    ).json()["forecasts"][0]
    item = {"unique_id": uid, "on_hand": 2.0, "on_order": 1.0, "lead_time": 2, "pack_size": 6}
    (line,) = _orders(api, [item])["orders"]
    assert line["protection_periods"] == 3
    assert line["demand_mean"] == pytest.approx(sum(p["yhat"] for p in forecast["points"]))
    assert line["inventory_position"] == 3.0
    need = max(line["demand_quantile"] - 3.0, 0.0)
    assert line["order_quantity"] == 6 * math.ceil(need / 6 - 1e-9)
    assert line["rule"] == "service_level" and line["target_probability"] == 0.95
    assert line["stockout_risk"] <= 0.05 + 1e-9

    levels = [0.5, 0.8, 0.95, 0.99]
    lines = [
        _orders(api, [{**item, "pack_size": 1, "service_level": s}])["orders"][0] for s in levels
    ]
    quantities = [line["order_quantity"] for line in lines]
    assert quantities == sorted(quantities) and quantities[0] < quantities[-1]
    risks = [line["stockout_risk"] for line in lines]
    assert risks == sorted(risks, reverse=True)

    covered = _orders(api, [{**item, "on_hand": 1e6}])["orders"][0]
    assert covered["order_quantity"] == 0.0 and covered["stockout_risk"] == 0.0
    assert covered["expected_leftover"] > 1e6 - 3 * line["demand_mean"]


def test_a_perishable_orders_at_the_newsvendor_ratio_with_either_distribution(api: Api) -> None:
    uid = bottom_series(api)
    item = {"unique_id": uid, "on_hand": 0, "lead_time": 0, "unit_cost": 1.2, "unit_price": 3.5}
    for distribution in ("empirical", "normal"):
        body = _orders(api, [item], distribution=distribution)
        (line,) = body["orders"]
        assert body["distribution"] == distribution
        assert line["rule"] == "newsvendor"
        assert line["target_probability"] == pytest.approx(2.3 / 3.5)
        assert line["protection_periods"] == 1


def test_order_mistakes_are_named(api: Api) -> None:
    uid = bottom_series(api)
    viewer = api.headers("viewer")
    cases = [
        ({"unique_id": "nope", "on_hand": 1, "lead_time": 1}, "body.items.0.unique_id"),
        ({"unique_id": uid, "on_hand": 1, "lead_time": 30}, "body.items.0.lead_time"),
        ({"unique_id": uid, "on_hand": -1, "lead_time": 1}, "body.items.0.on_hand"),
        ({"unique_id": uid, "on_hand": 1, "lead_time": 1, "service_level": 1.0}, "service_level"),
        ({"unique_id": uid, "on_hand": 1, "lead_time": 1, "unit_cost": 2.0}, "body.items.0"),
        ({"unique_id": uid, "on_hand": 1, "lead_time": True}, "body.items.0.lead_time"),
    ]
    for item, field in cases:
        error(api.client.post("/v1/orders", json={"items": [item]}, headers=viewer), 422, field)
    answer = api.client.post("/v1/orders", json={"items": []}, headers=viewer)
    error(answer, 422, "body.items")
