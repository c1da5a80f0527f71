"""The anticipation metric as the API answers it: expected next to realized, with drift.

The numbers come from `serving.anticipation` (the same definitions as the training backtest);
`serving.anticipation_cache` keeps each series' answer between the posts that change it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine

from features.schema import ID
from serving import anticipation, ledger
from serving.schemas import Accuracy, AccuracyGroup, Anticipation, Drift
from serving.state import LiveModel, finite_or_none

ACCURACY_KEYS = tuple(Accuracy.model_fields)
DRIFT_KEYS = tuple(Drift.model_fields)


def to_accuracy(row: Any) -> Accuracy:
    """An Accuracy from a metrics row (NaN and infinities become null)."""
    values = {}
    for name in ACCURACY_KEYS:
        if name in row:
            value = row[name]
            if value is None or pd.isna(value):
                values[name] = None
            else:
                values[name] = int(value) if name.startswith("n_") else finite_or_none(value)
    return Accuracy(**values)


def to_drift(row: Any | None) -> Drift:
    """A Drift from a drift row; too few points when there is none."""
    if row is None:
        return Drift(reason=anticipation.TOO_FEW)
    values: dict[str, Any] = {}
    for name in DRIFT_KEYS:
        if name not in row:
            continue
        value = row[name]
        if name == "drift":
            values[name] = bool(value)
        elif name == "reason":
            values[name] = None if value is None or pd.isna(value) or value == "" else str(value)
        elif name == "n_points":
            values[name] = 0 if pd.isna(value) else int(value)
        else:
            values[name] = finite_or_none(value)
    return Drift(**values)


def groups(
    real: pd.DataFrame,
    by: tuple[str, ...],
    expected: pd.DataFrame | None,
    drift: pd.DataFrame | None,
) -> list[AccuracyGroup]:
    """One AccuracyGroup per row of `real`, joined with its expected and drift rows."""

    def keyed(frame: pd.DataFrame | None) -> dict[tuple, dict]:
        if frame is None or frame.empty:
            return {}
        return {tuple(row[k] for k in by): row for row in frame.to_dict("records")}

    expected_rows, drift_rows = keyed(expected), keyed(drift)
    out = []
    for row in real.to_dict("records"):
        key = tuple(row[k] for k in by)
        out.append(
            AccuracyGroup(
                key={k: (int(v) if k == "step" else str(v)) for k, v in zip(by, key, strict=True)},
                realized=to_accuracy(row),
                expected=to_accuracy(expected_rows[key]) if key in expected_rows else None,
                drift=to_drift(drift_rows[key]) if key in drift_rows else None,
            )
        )
    return out


def expected_by_series(live: LiveModel) -> dict[str, Accuracy]:
    """The backtest's promise per series, computed once per snapshot."""
    if "_expected_by_series" not in live.__dict__:
        expected = live.bundle.expected
        out: dict[str, Accuracy] = {}
        if expected is not None and len(expected):
            summary = anticipation.expected_summary(expected, by=(ID,))
            for row in summary.to_dict("records"):
                out[str(row[ID])] = to_accuracy(row)
        live.__dict__["_expected_by_series"] = out
    return live.__dict__["_expected_by_series"]


def backtest_of(live: LiveModel) -> ledger.Backtest | None:
    """The bundle's backtest windows, prepared once per snapshot for the drift rule."""
    if "_backtest" not in live.__dict__:
        expected = live.bundle.expected
        live.__dict__["_backtest"] = (
            ledger.Backtest(expected) if expected is not None and len(expected) else None
        )
    return live.__dict__["_backtest"]


def compute_anticipation(
    engine: Engine, live: LiveModel, ids: list[str], expected: dict[str, Accuracy]
) -> dict[str, dict]:
    """The anticipation of `ids` (expected, realized, drift) as JSON-ready dicts."""
    found = ledger.series_anticipation(engine, ids, expected=backtest_of(live))
    realized_rows = {str(row[ID]): row for row in found.realized.to_dict("records")}
    drift_rows = {}
    if found.drift is not None:
        drift_rows = {str(row[ID]): row for row in found.drift.to_dict("records")}
    out = {}
    for uid in ids:
        row = realized_rows.get(uid)
        out[uid] = Anticipation(
            expected=expected.get(uid, Accuracy()),
            realized=to_accuracy(row) if row else None,
            drift=to_drift(drift_rows.get(uid)),
        ).model_dump(mode="json")
    return out
