"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis).

Acceptance: "Every client mistake gets a 4xx with a JSON body naming the field; none gets a 500".

- Every operation except the two that start work (POST /v1/retrain, POST /v1/admin/reload) is
  fuzzed with an admin key, so that requests reach the handlers: once from the schema as clients
  see it, and once from a copy whose series ids and levels are the model's own, so that the
  fuzzer also reaches the success paths (a random string is never a known series).
- A smaller run without a key: every /v1 operation must refuse with 401 and a JSON error body.

The cases generated per operation are printed at the end of the module (`-s` or `-rP` shows it).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from live_store import Store, settings_for
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.app import create_app
from serving.db import make_engine, migrate
from serving.keys import create_key

pytestmark = pytest.mark.slow

# Cases run per test and operation, printed when the module's app is torn down.
CASES: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Shim: schemathesis 4.32.5's lazy schemas read and write `item._nodeid`, gone in pytest 9.2.

    Without it `from_fixture` tests fail with AttributeError: 'Function' object has no attribute
    '_nodeid'. The attribute lands in the item's __dict__; pytest's own node id is untouched.
    Remove once schemathesis supports pytest 9.2.
    """
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="module")
def fuzz_app(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app on its own SQLite ledger; schemathesis starts its lifespan on the first request."""
    database = tmp_path_factory.mktemp("fuzz") / "ledger.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    _, admin = create_key(engine, "admin", "fuzz admin")
    engine.dispose()
    app = create_app(settings_for(store, database))
    app.state.fuzz_admin_key = admin
    yield app
    shutdown_lifespans()  # schemathesis would otherwise keep the app running until exit
    print(f"\nfuzz cases: {dict(sorted(CASES.items()))}, total {CASES.total()}")


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def known_series_schema(
    fuzz_schema: schemathesis.BaseSchema, fuzz_app: FastAPI
) -> schemathesis.BaseSchema:
    """The app's schema with its series ids and levels as enums (the app is started by now)."""
    live = fuzz_app.state.service.holder.current
    assert live is not None, "the fuzz app has no model loaded"
    ids = {"type": "string", "enum": sorted(str(uid) for uid in live.hierarchy_levels.index)}
    levels = {"type": "string", "enum": sorted(str(level) for level in set(live.hierarchy_levels))}
    raw: dict[str, Any] = copy.deepcopy(fuzz_app.openapi())
    bodies = raw["components"]["schemas"]
    bodies["ForecastRequest"]["properties"]["unique_ids"]["items"] = ids
    bodies["ActualRow"]["properties"]["unique_id"] = ids
    for operations in raw["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "unique_id":
                    parameter["schema"] = ids
                elif parameter["name"] == "level":
                    parameter["schema"] = levels
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = fuzz_app  # as from_asgi does: cases are sent to the app in-process
    return schema


@pytest.fixture(scope="module")
def admin_headers(fuzz_app: FastAPI) -> dict[str, str]:
    return {"X-API-Key": fuzz_app.state.fuzz_admin_key}


def _json_error(response: schemathesis.Response) -> dict:
    """The response's JSON error body; fails unless it is an object with `error` and `message`."""
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} answer is not JSON: {response.content[:200]!r}"
        ) from None
    if not isinstance(body, dict) or not {"error", "message"} <= body.keys():
        raise AssertionError(
            f"{response.status_code} body lacks `error`/`message`: {str(body)[:300]}"
        )
    return body


def _sent_json(response: schemathesis.Response) -> bool:
    """Whether the request behind `response` carried a JSON body (or none)."""
    try:
        json.loads(response.request.body or b"null")
    except ValueError:
        return False
    return True


def client_errors_are_json(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Every 4xx answer is a JSON object with `error` and `message`."""
    if 400 <= response.status_code < 500:
        _json_error(response)


# The acceptance line, plus conformance to the declared responses. Left out on purpose:
# positive_data_acceptance (the schema cannot say which series ids or levels exist, so a valid
# looking unknown id is rightly a 422) and negative_data_rejection (pydantic's lax parsing takes
# e.g. `since=0` as 1970-01-01); both report looseness of the schema, not mishandled mistakes.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    client_errors_are_json,
]
STARTS_WORK = {"method": "POST", "path": ["/v1/retrain", "/v1/admin/reload"]}

as_published = schemathesis.pytest.from_fixture("fuzz_schema").exclude(**STARTS_WORK)
with_known_series = schemathesis.pytest.from_fixture("known_series_schema").exclude(**STARTS_WORK)
anonymous = schemathesis.pytest.from_fixture("fuzz_schema").include(path_regex=r"^/v1/")

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Extreme but schema-valid sales (y = 1e154, 1e300: `y` has no upper bound) overflow in numpy
# inside training/ (models/intermittent.py, metrics.py). In production that is a RuntimeWarning
# and the answer is still a 200 or a 422; filterwarnings=error would make it a 500 here.
NUMPY_OVERFLOW = pytest.mark.filterwarnings("ignore:overflow encountered in:RuntimeWarning")


@NUMPY_OVERFLOW
@FUZZ
@as_published.parametrize()
def test_every_operation_answers_client_mistakes_with_a_json_4xx(
    case: schemathesis.Case, admin_headers: dict[str, str]
) -> None:
    CASES[f"admin {case.operation.label}"] += 1
    case.call_and_validate(headers=admin_headers, checks=CHECKS)


@NUMPY_OVERFLOW
@FUZZ
@with_known_series.parametrize()
def test_every_operation_with_known_series_answers_within_its_schema(
    case: schemathesis.Case, admin_headers: dict[str, str]
) -> None:
    CASES[f"admin, known series {case.operation.label}"] += 1
    case.call_and_validate(headers=admin_headers, checks=CHECKS)


@settings(FUZZ, max_examples=10)
@anonymous.parametrize()
def test_every_v1_operation_refuses_a_request_without_a_key(case: schemathesis.Case) -> None:
    CASES[f"no key {case.operation.label}"] += 1
    response = case.call()
    body = _json_error(response)
    # The coverage phase also tries methods a route does not have: routing answers those first.
    allowed = {401} if case.method.upper() == case.operation.method.upper() else {405}
    # FastAPI parses a JSON body before it runs dependencies (the key check): a body that is not
    # JSON is answered 400 ahead of the 401. Only a request whose body really is not JSON may.
    if allowed == {401} and not _sent_json(response):
        allowed.add(400)
    assert response.status_code in allowed, (
        f"{case.operation.label} answered {response.status_code} without a key: {body}\n"
        f"{case.as_curl_command()}"
    )
