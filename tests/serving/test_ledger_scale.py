"""The ledger at scale (slow): a million served points still give a fast accuracy report, a
fast 1,000-row actuals post, and retention that keeps the report; a request costs little room.

The bounds are loose (a shared test machine); tests/serving/ledger_scale.py prints the figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_scale import measure, request_bytes

pytestmark = pytest.mark.slow


def test_a_million_repeated_served_points_answer_within_the_targets(tmp_path: Path) -> None:
    """Dashboards asking for the same series: 1M served points, 71k requests."""
    figures = measure(tmp_path, 1_000_000, "repeated")
    assert figures["served_points"] >= 999_000
    assert figures["accuracy_report_s"] < 1.0  # measured: tens of ms
    assert figures["series_anticipation_s"] < 0.2
    assert figures["upsert_1000_s"] < 2.0  # measured: a few hundred ms
    assert figures["upsert_scored_points"] > 50_000
    assert figures["bytes_per_request"] < 600


def test_nightly_forecasts_of_every_series_answer_within_the_targets(tmp_path: Path) -> None:
    """Every series forecast from a new origin each night, its actual the next day."""
    figures = measure(tmp_path, 150_000, "nightly")
    assert figures["accuracy_report_s"] < 1.0
    assert figures["upsert_1000_s"] < 2.0
    assert figures["pruned_points"] == figures["served_points"]


def test_a_repeated_forecast_costs_a_fraction_of_a_new_one(tmp_path: Path) -> None:
    """28 days with 80/95 bounds: about 250 bytes when repeated, 2.5 KB when new (main: 4 KB)."""
    repeated = request_bytes(tmp_path, 2_000, distinct=False)
    distinct = request_bytes(tmp_path, 2_000, distinct=True)
    assert repeated < 400 and repeated < distinct / 5
    assert distinct < 3_000
