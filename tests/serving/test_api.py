"""Every endpoint and its error paths, through the real app on a real ledger and MLflow store."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from live_store import HORIZON, MODEL, Api, Store, settings_for
from mlflow import MlflowClient

from features.storage import read_trend_dataset
from serving.app import create_app
from training.registry import CHAMPION

pytestmark = pytest.mark.slow


def _error(response, status: int, field: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    """The response is `status` with a JSON ErrorBody (naming `field` when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] and body["message"]
    if field is not None:
        named = [f["field"] for f in body["fields"]]
        assert any(field in name for name in named), (field, body)
    return body


def _bottom_series(api: Api) -> str:
    page = api.client.get("/v1/series?level=series&limit=1", headers=api.headers("viewer"))
    return page.json()["items"][0]["unique_id"]


# ------------------------------------------------------------------ operations


def test_health_ready_and_metrics(api: Api, store: Store) -> None:
    """Liveness, readiness with the loaded version, Prometheus text with our series."""
    assert api.client.get("/health").json() == {
        "status": "ok",
        "model_version": None,
        "checks": {},
    }
    ready = api.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == store.version
    api.client.post(
        "/v1/forecasts", json={"unique_ids": ["total"], "horizon": 3}, headers=api.headers("viewer")
    )
    metrics = api.client.get("/metrics").text
    assert "anticipate_request_seconds_bucket" in metrics
    assert "anticipate_forecasts_served_total 1.0" in metrics
    assert f'anticipate_model_version{{name="{MODEL}",version="{store.version}"}} 1.0' in metrics


def test_not_ready_without_a_champion(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No registered champion: /ready says 503 and why; forecasts answer 503, not 500."""
    settings = settings_for(store, tmp_path / "l.db", model_name="no-such-model")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "no champion" in ready.json()["checks"]["model"]
        assert client.get("/health").status_code == 200


# ------------------------------------------------------------------ security


def test_keys_and_roles(api: Api) -> None:
    """401 without or with a wrong key, 403 for a role too low, both as JSON."""
    body = {"unique_ids": ["total"], "horizon": 3}
    _error(api.client.post("/v1/forecasts", json=body), 401)
    _error(api.client.post("/v1/forecasts", json=body, headers={"X-API-Key": "ant_nope"}), 401)
    ok = api.client.post(
        "/v1/forecasts", json=body, headers={"Authorization": f"Bearer {api.keys['viewer']}"}
    )
    assert ok.status_code == 200
    rows = {"rows": [{"unique_id": "total", "ds": "2030-01-01", "y": 1}]}
    _error(api.client.post("/v1/actuals", json=rows, headers=api.headers("viewer")), 403)
    _error(api.client.post("/v1/retrain", headers=api.headers("writer")), 403)
    _error(api.client.post("/v1/admin/reload", headers=api.headers("writer")), 403)


def test_cors_allow_list(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A listed dashboard origin gets CORS headers; another origin does not."""
    settings = settings_for(store, tmp_path / "l.db", cors_origins=["https://bi.example"])
    with TestClient(create_app(settings)) as client:
        headers = {"Access-Control-Request-Method": "POST"}
        allowed = client.options(
            "/v1/forecasts", headers={"Origin": "https://bi.example", **headers}
        )
        assert allowed.headers.get("access-control-allow-origin") == "https://bi.example"
        refused = client.options(
            "/v1/forecasts", headers={"Origin": "https://evil.example", **headers}
        )
        assert "access-control-allow-origin" not in refused.headers


# ------------------------------------------------------------------ series


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
        assert "MASE" in forecast["anticipation"]["drift"]["rule"]
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
    assert posted.json()["refreshed_series"] >= 1

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
        "refreshed_series": 0,
    }
    assert (
        api.client.get(f"/v1/accuracy?unique_id={uid}", headers=api.headers("viewer")).json()
        == report
    )

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


def test_accuracy_without_scored_forecasts_and_bad_filters(api: Api) -> None:
    """Nothing scored yet: empty groups, not an error; a bad date is named."""
    viewer = api.headers("viewer")
    empty = api.client.get("/v1/accuracy", headers=viewer).json()
    assert empty["overall"] is None and empty["by_series"] == []
    _error(api.client.get("/v1/accuracy?since=yesterday", headers=viewer), 422, "since")


# ------------------------------------------------------------------ admin


def test_reload_follows_the_alias_and_keeps_the_old_model_on_failure(
    api: Api, store: Store
) -> None:
    """A champion that cannot load is refused: the previous model keeps serving."""
    admin = api.headers("admin")
    same = api.client.post("/v1/admin/reload", headers=admin).json()
    assert same == {
        "model_name": MODEL,
        "model_version": store.version,
        "changed": False,
        "error": None,
    }
    client = MlflowClient(tracking_uri=store.tracking_uri)
    broken = client.create_model_version(MODEL, source=str(store.root / "missing-model"))
    client.set_registered_model_alias(MODEL, CHAMPION, str(broken.version))
    try:
        answer = api.client.post("/v1/admin/reload", headers=admin).json()
        assert answer["changed"] is False and answer["model_version"] == store.version
        assert answer["error"]
        ok = api.client.post(
            "/v1/forecasts", json={"unique_ids": ["total"], "horizon": 2}, headers=admin
        )
        assert ok.status_code == 200 and ok.json()["model_version"] == store.version
    finally:
        client.set_registered_model_alias(MODEL, CHAMPION, store.version)
        client.delete_model_version(MODEL, str(broken.version))


def test_retrain_job_reports_progress_and_result(api: Api, store: Store) -> None:
    """POST /v1/retrain returns a job; it runs through its stages to a gate decision."""
    started = api.client.post("/v1/retrain", headers=api.headers("admin"))
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    busy = api.client.post("/v1/retrain", headers=api.headers("admin"))
    _error(busy, 409)
    seen = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = api.client.get(f"/v1/jobs/{job_id}", headers=api.headers("viewer")).json()
        seen.add(job["stage"])
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["result"]["version"]
    assert "rule" in job["result"] and len(seen) >= 2
    client = MlflowClient(tracking_uri=store.tracking_uri)
    for version in client.search_model_versions(f"name='{MODEL}'"):
        if str(version.version) != store.version:
            client.delete_model_version(MODEL, str(version.version))
    client.set_registered_model_alias(MODEL, CHAMPION, store.version)
    _error(api.client.get("/v1/jobs/nope", headers=api.headers("viewer")), 404, "job_id")
