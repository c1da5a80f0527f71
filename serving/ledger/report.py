"""Realized accuracy and drift from the ledger's running sums: `accuracy_report` for
`GET /v1/accuracy`, `series_anticipation` for the forecast answers.

The numbers are those of `serving.anticipation.realized` / `drift` over the same served points
(tests hold the two to each other), read from sums kept per series, step and target date, so a
report costs the same at a thousand served points and at millions: it grows with the series
and dates reported on. With `since` the sums are rebuilt from the points the ledger still holds
(slower, and what retention pruned is not in them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd
from sqlalchemy import Engine

from features.schema import HIERARCHY_LEVEL, ID
from serving.db import read_transaction
from serving.frame_checks import naive_utc
from serving.ledger.backtest import Backtest
from serving.ledger.cells import Columns, Filters, day_sums, series_sums, step_sums
from serving.ledger.drift import drift, newest
from serving.ledger.groups import REALIZED, realized, realized_by_step
from serving.ledger.since import since_sums

__all__ = [
    "AccuracyGroups",
    "AccuracyReport",
    "SeriesAnticipation",
    "accuracy_report",
    "series_anticipation",
]

VERSION = "model_version"
GROUPINGS: dict[str, tuple[str, ...]] = {
    "overall": (),
    "by_series": (ID,),
    "by_level": (HIERARCHY_LEVEL,),
    "by_model_version": (VERSION,),
}


@dataclass(frozen=True)
class AccuracyGroups:
    """One grouping of a report: realized accuracy, the backtest's promise, drift (frames).

    realized: *by | n_forecasts | n_points | mase | wape | bias | coverage_80 | coverage_95 |
    direction_hit_rate (per step: no direction), one row per group with scored points, sorted.
    expected: `anticipation.expected_summary` of those groups' series (None per model version
    or step, or without a backtest). drift: `anticipation.drift`'s columns (None likewise).
    """

    realized: pd.DataFrame
    expected: pd.DataFrame | None = None
    drift: pd.DataFrame | None = None


@dataclass(frozen=True)
class AccuracyReport:
    """Every grouping of `GET /v1/accuracy`; `by` names each one's key columns."""

    overall: AccuracyGroups
    by_series: AccuracyGroups
    by_level: AccuracyGroups
    by_model_version: AccuracyGroups
    by_step: AccuracyGroups

    by: ClassVar[dict[str, tuple[str, ...]]] = {**GROUPINGS, "by_step": ("step",)}

    @property
    def empty(self) -> bool:
        """No scored point matched the filters."""
        return self.overall.realized.empty


@dataclass(frozen=True)
class SeriesAnticipation:
    """The requested series that have scored points: realized and drift, by unique_id."""

    realized: pd.DataFrame
    drift: pd.DataFrame | None


def _expected(
    backtest: Backtest | None, series: Columns, by: tuple[str, ...]
) -> pd.DataFrame | None:
    """The backtest's promise for the groups' series (those with scored points)."""
    if backtest is None or VERSION in by:
        return None
    ids = set(series[ID][series["n_points"] > 0])
    return backtest.summary(ids, by) if ids else None


def _backtest(expected: pd.DataFrame | Backtest | None) -> Backtest | None:
    if expected is None or isinstance(expected, Backtest):
        return expected
    return Backtest(expected)


def accuracy_report(
    engine: Engine,
    *,
    expected: pd.DataFrame | Backtest | None,
    unique_id: str | None = None,
    hierarchy_level: str | None = None,
    model_version: str | None = None,
    since: Any = None,
) -> AccuracyReport:
    """Realized accuracy of the served forecasts by series, hierarchy level, model version and
    step, with drift and the backtest's promise (`expected`: the bundle's per-series windows,
    None without a backtest), filtered as `GET /v1/accuracy` is. `since` keeps target dates
    ds >= since (rebuilt from the stored points: slower, and blind to pruned requests).
    A `Backtest` built once from `expected` saves preparing it per call."""
    backtest = _backtest(expected)
    filters = Filters(unique_id, hierarchy_level, model_version)
    with read_transaction(engine) as connection:
        if since is None:
            series = series_sums(connection, filters)
            steps = step_sums(connection, filters)
            days = day_sums(connection, filters, newest=newest(series))
        else:
            day = naive_utc(since, "since").date()
            series, steps, days = since_sums(connection, filters, day)
        groups = {}
        for name, by in GROUPINGS.items():
            found = realized(series, by)
            drifted = None
            if backtest is not None and not found.empty:
                complete = since is not None
                drifted = drift(connection, filters, by, series, days, backtest, complete)
            groups[name] = AccuracyGroups(found, _expected(backtest, series, by), drifted)
    return AccuracyReport(**groups, by_step=AccuracyGroups(realized_by_step(steps)))


def series_anticipation(
    engine: Engine, unique_ids: Sequence[str], *, expected: pd.DataFrame | Backtest | None
) -> SeriesAnticipation:
    """Realized accuracy and drift of a few series (the forecast answer's anticipation).

    Returns the frames of `accuracy_report(...).by_series` for those of `unique_ids` that have
    scored points; a series absent from them has no realized accuracy yet.
    """
    backtest = _backtest(expected)
    ids = sorted({str(uid) for uid in unique_ids})
    found, drifts = [], []
    with read_transaction(engine) as connection:
        for start in range(0, len(ids), 100):
            filters = Filters(unique_ids=ids[start : start + 100])
            series = series_sums(connection, filters)
            part = realized(series, (ID,))
            found.append(part)
            if backtest is not None and not part.empty:
                days = day_sums(connection, filters, newest=newest(series))
                drifts.append(drift(connection, filters, (ID,), series, days, backtest, False))
    frame = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=[ID, *REALIZED])
    return SeriesAnticipation(frame, pd.concat(drifts, ignore_index=True) if drifts else None)
