"""POST /v1/forecasts with a `scenario`: the what-if forecast next to the base one, not scored."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_checks import error
from fastapi.testclient import TestClient
from live_store import HORIZON, Api, Store, settings_for, train_store

from features.schema import ID
from features.storage import read_demand_dataset
from serving import ledger
from serving.app import create_app
from serving.db import make_engine, migrate
from serving.keys import create_key

pytestmark = pytest.mark.slow

PRICED = {"model": {"horizon": HORIZON, "members": ["global_hgb", "seasonal_naive"]}}


@pytest.fixture(scope="module")
def priced_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A champion whose global member reads price and promotion."""
    return train_store(tmp_path_factory.mktemp("priced-store"), PRICED)


def _app(store: Store, folder: Path) -> Iterator[Api]:
    database = folder / "ledger.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    made = {role: create_key(engine, role, role)[1] for role in ("viewer", "writer", "admin")}
    engine.dispose()
    with TestClient(create_app(settings_for(store, database))) as client:
        yield Api(client, made, database)


@pytest.fixture(scope="module")
def priced(priced_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app on that champion, shared by the tests that only read."""
    yield from _app(priced_store, tmp_path_factory.mktemp("priced-ledger"))


@pytest.fixture
def fresh(priced_store: Store, tmp_path: Path) -> Iterator[Api]:
    """The app on that champion and an empty ledger."""
    yield from _app(priced_store, tmp_path)


def _bottom(api: Api) -> list[str]:
    """Every bottom series."""
    page = api.client.get("/v1/series?level=series&limit=1000", headers=api.headers("viewer"))
    return [item["unique_id"] for item in page.json()["items"]]


def _last_prices(store: Store) -> dict[str, float]:
    """Each bottom series' last price in the datasets the champion was trained on."""
    demand = read_demand_dataset(store.datasets)
    return demand.panel.groupby(ID)["price"].last().to_dict()


def _forecast(api: Api, body: dict) -> dict:
    answer = api.client.post("/v1/forecasts", json=body, headers=api.headers("viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _yhat(forecasts: list[dict], uid: str) -> list[float]:
    (found,) = [f for f in forecasts if f["unique_id"] == uid]
    return [p["yhat"] for p in found["points"]]


def test_a_price_cut_moves_the_what_if_forecast_and_its_aggregates(
    priced: Api, priced_store: Store
) -> None:
    uid = _bottom(priced)[0]
    base = _forecast(priced, {"unique_ids": [uid, "total"]})
    days = [p["ds"] for p in base["forecasts"][0]["points"]]
    # the assumed plan has no promotion: posting "no promotion" forecasts the base
    answer = _forecast(
        priced,
        {
            "unique_ids": [uid, "total"],
            "scenario": {"rows": [{"unique_id": uid, "ds": days[0], "promo": 0}]},
        },
    )
    assert answer["scenario"]["forecasts"], "no what-if forecast"
    assert _yhat(answer["scenario"]["forecasts"], uid) == pytest.approx(
        _yhat(base["forecasts"], uid), rel=1e-9
    ), "the assumed plan (no promotion) must give the base forecast"

    bottom = _bottom(priced)
    # every price 30 % below the last one (the assumed plan) all week
    last = _last_prices(priced_store)
    rows = [{"unique_id": b, "ds": d, "price": 0.7 * last[b]} for b in bottom for d in days]
    plan = {"name": "30 % off all week", "rows": rows}
    moved = _forecast(priced, {"unique_ids": [*bottom, "total"], "scenario": plan})
    assert _yhat(moved["forecasts"], uid) == _yhat(base["forecasts"], uid), "base unchanged"
    what_if = moved["scenario"]
    assert what_if["name"] == "30 % off all week" and what_if["n_rows"] == len(rows)
    assert "never scored" in what_if["note"]
    lifted = sum(_yhat(what_if["forecasts"], "total")) / sum(_yhat(base["forecasts"], "total"))
    assert lifted > 1.02, f"30 % off everywhere moved the total by {lifted - 1:+.1%}"
    for forecast in what_if["forecasts"]:
        assert all(p["yhat_lo_80"] <= p["yhat"] <= p["yhat_hi_80"] for p in forecast["points"])
    # the total's what-if equals the sum of the bottom series' what-if forecasts
    summed = [
        sum(step) for step in zip(*(_yhat(what_if["forecasts"], b) for b in bottom), strict=True)
    ]
    assert _yhat(what_if["forecasts"], "total") == pytest.approx(summed, rel=1e-6)


def test_the_scenario_is_kept_in_the_ledger_and_never_scored(fresh: Api) -> None:
    uid = _bottom(fresh)[0]
    base = _forecast(fresh, {"unique_ids": [uid]})
    days = [p["ds"] for p in base["forecasts"][0]["points"]]
    rows = [{"unique_id": uid, "ds": days[1], "price": 0.5, "promo": 1}]
    answer = _forecast(
        fresh, {"unique_ids": [uid], "scenario": {"name": "flash sale", "rows": rows}}
    )
    engine = make_engine(f"sqlite:///{fresh.database}")
    try:
        record = ledger.scenario_of(engine, answer["request_id"])
        assert record is not None and record.name == "flash sale"
        assert record.plan == [{"unique_id": uid, "ds": days[1], "price": 0.5, "promo": 1.0}]
        assert [p["yhat"] for p in record.forecast[uid]] == _yhat(
            answer["scenario"]["forecasts"], uid
        )
        assert ledger.scenario_of(engine, base["request_id"]) is None
        # actuals for the scenario's days score only the official forecasts
        posted = fresh.client.post(
            "/v1/actuals",
            json={"rows": [{"unique_id": uid, "ds": d, "y": 3.0} for d in days[:2]]},
            headers=fresh.headers("writer"),
        )
        assert posted.status_code == 200, posted.text
        history = fresh.client.get(
            f"/v1/forecasts/history?unique_id={uid}", headers=fresh.headers("viewer")
        ).json()["forecasts"]
        official = [p["yhat"] for p in base["forecasts"][0]["points"]]
        assert all([p["yhat"] for p in f["points"]] == official for f in history)
        counts = ledger.ledger_counts(engine)
        assert counts["scenarios"] == 1
        assert counts["forecasts"] == 1  # the two requests served one official forecast
    finally:
        engine.dispose()


def test_a_scenario_answers_as_csv_rows_marked_scenario(priced: Api) -> None:
    uid = _bottom(priced)[0]
    base = _forecast(priced, {"unique_ids": [uid]})
    day = base["forecasts"][0]["points"][0]["ds"]
    answer = priced.client.post(
        "/v1/forecasts",
        json={
            "unique_ids": [uid],
            "scenario": {"rows": [{"unique_id": uid, "ds": day, "promo": 1}]},
        },
        headers={**priced.headers("viewer"), "Accept": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["forecast"] for r in rows] == ["base"] * HORIZON + ["scenario"] * HORIZON
    assert [float(r["yhat"]) for r in rows[:HORIZON]] == pytest.approx(
        _yhat(base["forecasts"], uid), abs=1e-6
    )


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"ds": "DAY", "temperature": 30}, "body.scenario.rows.0.temperature", "not variables"),
        ({"ds": "2199-01-01", "price": 1}, "body.scenario.rows.0.ds", "forecast dates"),
        ({"ds": "DAY"}, "body.scenario.rows.0", "at least one"),
        ({"ds": "DAY", "price": "cheap"}, "body.scenario.rows.0", "number"),
        ({"ds": "DAY", "price": True}, "body.scenario.rows.0", "number"),
    ],
)
def test_a_wrong_plan_row_is_a_422_naming_it(
    priced: Api, row: dict, field: str, words: str
) -> None:
    uid = _bottom(priced)[0]
    day = _forecast(priced, {"unique_ids": [uid]})["forecasts"][0]["points"][0]["ds"]
    row = {"unique_id": uid, **{k: (day if v == "DAY" else v) for k, v in row.items()}}
    body = error(
        priced.client.post(
            "/v1/forecasts",
            json={"unique_ids": [uid], "scenario": {"rows": [row]}},
            headers=priced.headers("viewer"),
        ),
        422,
        field,
    )
    assert words in body["message"] or any(words in f["message"] for f in body["fields"])


def test_a_plan_for_an_aggregate_or_an_unknown_series_is_refused(priced: Api) -> None:
    uid = _bottom(priced)[0]
    day = _forecast(priced, {"unique_ids": [uid]})["forecasts"][0]["points"][0]["ds"]
    for target, words in (("total", "aggregate"), ("no-such-series", "unknown")):
        body = error(
            priced.client.post(
                "/v1/forecasts",
                json={
                    "unique_ids": [uid],
                    "scenario": {"rows": [{"unique_id": target, "ds": day, "price": 1.0}]},
                },
                headers=priced.headers("viewer"),
            ),
            422,
            "body.scenario.rows.0.unique_id",
        )
        assert words in body["message"]


def test_a_model_without_known_future_variables_says_a_scenario_cannot_move_it(api: Api) -> None:
    """The session store's members (theta, seasonal naive) forecast from sales alone."""
    page = api.client.get("/v1/series?level=series&limit=1", headers=api.headers("viewer"))
    uid = page.json()["items"][0]["unique_id"]
    day = _forecast(api, {"unique_ids": [uid]})["forecasts"][0]["points"][0]["ds"]
    body = error(
        api.client.post(
            "/v1/forecasts",
            json={
                "unique_ids": [uid],
                "scenario": {"rows": [{"unique_id": uid, "ds": day, "price": 1}]},
            },
            headers=api.headers("viewer"),
        ),
        422,
        "body.scenario.rows",
    )
    assert "known-future" in body["message"]


def test_the_plan_lists_an_aggregates_members_with_the_assumed_prices(
    priced: Api, priced_store: Store
) -> None:
    """GET /v1/series/{id}/plan: the members' last prices carried forward, no promotion, over
    the forecast dates; posting it back unchanged forecasts the base exactly."""
    viewer = priced.headers("viewer")
    store_id = next(
        item["unique_id"]
        for item in priced.client.get("/v1/series?level=store", headers=viewer).json()["items"]
    )
    plan = priced.client.get(f"/v1/series/{store_id}/plan", headers=viewer)
    assert plan.status_code == 200, plan.text
    plan = plan.json()
    store = store_id.split("=", 1)[1]
    expected = sorted(uid for uid in _bottom(priced) if uid.endswith(f"@{store}"))
    assert [m["unique_id"] for m in plan["members"]] == expected
    assert set(plan["variables"]) == {"price", "promo"}
    base = _forecast(priced, {"unique_ids": [store_id]})
    assert plan["dates"] == [p["ds"] for p in base["forecasts"][0]["points"]]
    last = _last_prices(priced_store)
    for member in plan["members"]:
        assert member["values"]["price"] == pytest.approx([last[member["unique_id"]]] * HORIZON)
        assert member["values"]["promo"] == [0.0] * HORIZON
    rows = [
        {"unique_id": m["unique_id"], "ds": d, "price": m["values"]["price"][i]}
        for m in plan["members"]
        for i, d in enumerate(plan["dates"])
    ]
    same = _forecast(priced, {"unique_ids": [store_id], "scenario": {"rows": rows}})
    assert _yhat(same["scenario"]["forecasts"], store_id) == pytest.approx(
        _yhat(base["forecasts"], store_id), rel=1e-9
    )
    one = priced.client.get(f"/v1/series/{expected[0]}/plan?horizon=3", headers=viewer).json()
    assert [m["unique_id"] for m in one["members"]] == [expected[0]] and len(one["dates"]) == 3
    error(priced.client.get("/v1/series/nope/plan", headers=viewer), 404, "path.unique_id")
    error(priced.client.get(f"/v1/series/{store_id}/plan?horizon=0", headers=viewer), 422)
