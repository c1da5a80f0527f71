"""Reload, retrain and the jobs list: what operators do."""

from __future__ import annotations

import time

import pytest
from api_checks import error as _error
from live_store import MODEL, Api, Store
from mlflow import MlflowClient

from training.registry import CHAMPION

pytestmark = pytest.mark.slow

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
