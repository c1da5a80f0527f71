"""Checks the API tests share: error bodies, and a bottom series to ask about."""

from __future__ import annotations

from live_store import Api


def error(response, status: int, field: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    """The response is `status` with a JSON ErrorBody (naming `field` when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] and body["message"]
    if field is not None:
        named = [f["field"] for f in body["fields"]]
        assert any(field in name for name in named), (field, body)
    return body


def bottom_series(api: Api) -> str:
    """The first bottom-level series the model knows."""
    page = api.client.get("/v1/series?level=series&limit=1", headers=api.headers("viewer"))
    return page.json()["items"][0]["unique_id"]
