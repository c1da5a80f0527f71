"""Health, readiness, metrics, keys and roles, CORS, docs: the operational surface."""

from __future__ import annotations

import re

import pytest
from api_checks import error as _error
from fastapi.testclient import TestClient
from live_store import MODEL, Api, Store, settings_for

from serving.app import create_app

pytestmark = pytest.mark.slow

# ------------------------------------------------------------------ operations


def test_health_ready_and_metrics(api: Api, store: Store) -> None:
    """Liveness, readiness with the loaded version, Prometheus text with our series."""
    assert api.client.get("/health").json() == {
        "status": "ok",
        "model_version": store.version,
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


def test_openapi_declares_both_key_schemes(api: Api) -> None:
    """The schema has securitySchemes (X-API-Key and bearer), so /docs shows Authorize."""
    schema = api.client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["APIKeyHeader"]["description"],
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    forecast = schema["paths"]["/v1/forecasts"]["post"]
    assert {"APIKeyHeader": []} in forecast["security"]


def test_docs_and_redoc_use_local_assets(api: Api) -> None:
    """/docs and /redoc reference only this server's files, and those files are served."""
    for page in ("/docs", "/redoc"):
        html = api.client.get(page).text
        assert "cdn" not in html.lower() and "https://" not in html, page
        for asset in re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', html):
            served = api.client.get(asset)
            assert served.status_code == 200 and len(served.content) > 1000, asset


def test_admission_control_answers_503_with_retry_after(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With no room in flight, a request is refused at once (503, Retry-After); probes are not."""
    settings = settings_for(store, tmp_path / "l.db", max_in_flight=1)
    app = create_app(settings)
    with TestClient(app) as client:
        admission = _admission(app)
        admission.in_flight = 1  # one request already being answered
        refused = client.get("/v1/series")
        body = _error(refused, 503)
        assert body["error"] == "overloaded" and refused.headers["Retry-After"] == "1"
        assert client.get("/ready").status_code == 200
        admission.in_flight = 0
        assert client.get("/v1/series").status_code == 401  # admitted again (no key)
        assert "anticipate_requests_shed_total 1.0" in client.get("/metrics").text


def _admission(app):  # type: ignore[no-untyped-def]
    """The AdmissionControl instance of a started app's middleware stack."""
    from serving.middleware import AdmissionControl

    layer = app.middleware_stack
    while layer is not None and not isinstance(layer, AdmissionControl):
        layer = getattr(layer, "app", None)
    assert layer is not None
    return layer
