"""The ledger's accuracy report equals the reference frame functions (serving.anticipation) over
the same served points: hand-checked cases, random ones, every filter, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from anticipation_cases import (
    REALIZED_COLUMNS,
    YHAT,
    Y,
    history_of,
    panel,
    served,
    served_points,
    windows,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_cluster import empty_engine, postgres_url
from sqlalchemy import Engine

from serving import anticipation, ledger
from serving.db import make_engine, migrate

__all__ = ["postgres_url"]

GROUPINGS = {
    "overall": (),
    "by_series": ("unique_id",),
    "by_level": ("level",),
    "by_model_version": ("model_version",),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = empty_engine(request, tmp_path)
    migrate(engine)
    yield engine
    engine.dispose()


def log_points(engine: Engine, points: pd.DataFrame, history: pd.DataFrame, season: int) -> None:
    """Serve `points` (one log per request id, as the frames describe them), then post their y."""
    stats = ledger.HistoryStats(history, season)
    for request_id, part in points.groupby("request_id", sort=False):
        origins = part.groupby("unique_id")["cutoff"].first().to_dict()
        ledger.log_forecasts(
            engine,
            str(request_id),
            "m",
            str(part["model_version"].iloc[0]),
            part,
            origins,
            int(part.groupby("unique_id")["step"].max().max()),
            [80, 95],
            history_stats=stats,
        )
    known = points.loc[points["y"].notna(), ["unique_id", "ds", "y"]].drop_duplicates()
    ledger.upsert_actuals(engine, known)


def assert_frames(ours: pd.DataFrame | None, reference: pd.DataFrame | None) -> None:
    """Same rows and columns; numbers equal to 1e-9, dates and labels exactly."""
    if reference is None:
        assert ours is None
        return
    assert ours is not None
    assert list(ours.columns) == list(reference.columns)
    assert len(ours) == len(reference), (ours, reference)
    for column in reference.columns:
        left, right = ours[column].reset_index(drop=True), reference[column].reset_index(drop=True)
        if pd.api.types.is_float_dtype(right) or pd.api.types.is_float_dtype(left):
            np.testing.assert_allclose(
                left.to_numpy(dtype="float64"),
                right.to_numpy(dtype="float64"),
                rtol=1e-9,
                atol=1e-12,
                err_msg=column,
            )
        elif pd.api.types.is_datetime64_any_dtype(right):
            assert (pd.to_datetime(left) == right).all(), column
        else:
            assert left.astype(str).tolist() == right.astype(str).tolist(), column


def assert_report_matches(
    engine: Engine,
    history: pd.DataFrame,
    season: int,
    expected: pd.DataFrame | None,
    **filters: object,
) -> ledger.AccuracyReport:
    """accuracy_report(**filters) against realized/drift/expected_summary on scored_points."""
    report = ledger.accuracy_report(engine, expected=expected, **filters)  # type: ignore[arg-type]
    points = ledger.scored_points(
        engine,
        unique_ids=[filters["unique_id"]] if filters.get("unique_id") else None,
        hierarchy_level=filters.get("hierarchy_level"),  # type: ignore[arg-type]
        model_version=filters.get("model_version"),  # type: ignore[arg-type]
        since=filters.get("since"),
    )
    assert report.empty == points.empty
    if points.empty:
        return report
    ids = set(points["unique_id"])
    for name, by in GROUPINGS.items():
        found = getattr(report, name)
        assert_frames(found.realized, anticipation.realized(points, history, season, by=by))
        if expected is not None:
            reference = anticipation.drift(points, history, expected, season, by=by)
            assert_frames(found.drift, reference)
            if by != ("model_version",):
                subset = expected[expected["unique_id"].isin(ids)]
                assert_frames(found.expected, anticipation.expected_summary(subset, by=by))
    steps = anticipation.realized_by_step(points, history, season)
    assert_frames(report.by_step.realized, steps)
    return report


def _panel_expected() -> pd.DataFrame:
    return pd.concat(
        [windows("a", [1.0, 2.0]), windows("b", [3.0] * 5), windows("t", [0.5], level="total")],
        ignore_index=True,
    )


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"unique_id": "a"},
        {"hierarchy_level": "item"},
        {"model_version": "2"},
        {"since": pd.Timestamp("2024-01-08")},
        {"hierarchy_level": "total", "since": pd.Timestamp("2024-01-01")},
        {"unique_id": "nobody"},
    ],
    ids=["none", "series", "level", "version", "since", "level-since", "unknown"],
)
def test_the_panel_report_equals_the_reference_functions(engine: Engine, filters: dict) -> None:
    """Three series, two versions, two levels: every grouping and filter matches the frames."""
    points, history = panel()
    log_points(engine, points, history, 1)
    report = assert_report_matches(engine, history, 1, _panel_expected(), **filters)
    if not filters:
        assert report.overall.realized["n_forecasts"].tolist() == [3]
        assert report.by_step.realized["step"].tolist() == [1, 2, 3]


def test_windows_that_carry_a_model_version_match_on_it(engine: Engine) -> None:
    """Backtest windows per version count only for that version's forecasts."""
    points, history = panel()
    log_points(engine, points, history, 1)
    expected = _panel_expected().assign(model_version="1")
    expected = pd.concat([expected, windows("b", [9.0] * 5).assign(model_version="2")])
    report = assert_report_matches(engine, history, 1, expected)
    drift = report.by_model_version.drift
    assert drift is not None
    assert drift.set_index("model_version")["expected_mase"]["2"] == pytest.approx(9.0)


def test_repeated_partial_corrected_and_early_forecasts(engine: Engine) -> None:
    """Identical requests (stored once), a partial horizon, a correction, actuals first."""
    history = history_of({"a": [10.0, 12.0, 11.0, 13.0, 12.0, 14.0, 13.0, *Y, 12.0, 11.0]})
    twice = served_points("a", "r1", YHAT, Y)
    log_points(engine, twice, history, 2)
    log_points(engine, twice.assign(request_id="r2"), history, 2)
    partial = served_points("a", "r3", [20.0, 20.0, 20.0], [12.0, 12.0, np.nan], origin=7)
    log_points(engine, partial, history, 2)
    ledger.upsert_actuals(
        engine, pd.DataFrame({"unique_id": ["a"], "ds": [pd.Timestamp("2024-01-09")], "y": [9.0]})
    )
    late = served_points("a", "r4", [13.0, 12.0], [9.0, 17.0], origin=7, version="2")
    log_points(engine, late, history, 2)
    assert ledger.ledger_counts(engine)["forecasts"] == 3
    report = assert_report_matches(engine, history, 2, windows("a", [1.0] * 6))
    assert report.by_series.realized["n_forecasts"].tolist() == [4]


def test_drift_windows_follow_each_series_even_when_it_lags(engine: Engine) -> None:
    """A series scored long ago keeps its own recent window next to a current one."""
    old, history_old = served([5.0] * 8, uid="old")
    current = [
        served_points("new", f"r{k}", [10.0] * 8, [10.0 + k] * 8, origin=6 + 8 * k)
        for k in range(4)
    ]
    history_new = history_of({"new": [10.0] * 7 + [10.0 + k for k in range(4) for _ in range(8)]})
    history = pd.concat([history_old, history_new], ignore_index=True)
    log_points(engine, pd.concat([old.assign(request_id="o"), *current]), history, 1)
    expected = pd.concat([windows("old", [1.0] * 5), windows("new", [1.0] * 5)])
    report = assert_report_matches(engine, history, 1, expected)
    drift = report.by_series.drift
    assert drift is not None
    assert drift.set_index("unique_id")["window_end"].tolist() == [
        pd.Timestamp("2024-02-08"),
        pd.Timestamp("2024-01-15"),
    ]


def test_series_anticipation_is_the_report_of_those_series(engine: Engine) -> None:
    """The forecast path's per-series numbers equal the report's by_series rows."""
    points, history = panel()
    log_points(engine, points, history, 1)
    expected = _panel_expected()
    found = ledger.series_anticipation(engine, ["t", "a", "unserved"], expected=expected)
    report = ledger.accuracy_report(engine, expected=expected)
    keep = report.by_series.realized["unique_id"].isin(["a", "t"])
    assert_frames(found.realized, report.by_series.realized[keep])
    assert report.by_series.drift is not None
    assert_frames(found.drift, report.by_series.drift[keep.to_numpy()])
    assert ledger.series_anticipation(engine, [], expected=expected).realized.empty


def test_no_scale_no_mase_and_an_empty_ledger_reports_nothing(tmp_path: Path) -> None:
    """Served without history stats: MASE and direction stay undefined; empty: empty frames."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    empty = ledger.accuracy_report(engine, expected=None)
    assert empty.empty and empty.overall.drift is None
    assert list(empty.by_series.realized.columns) == ["unique_id", *REALIZED_COLUMNS]
    points = served_points("a", "r1", YHAT, Y)
    ledger.log_forecasts(engine, "r1", "m", "1", points, {"a": points["cutoff"][0]}, 3, [80])
    ledger.upsert_actuals(engine, points[["unique_id", "ds", "y"]])
    row = ledger.accuracy_report(engine, expected=None).overall.realized.iloc[0]
    assert np.isnan(row["mase"]) and np.isnan(row["direction_hit_rate"])
    assert row["wape"] == pytest.approx(4 / 45) and np.isnan(row["coverage_95"])
    engine.dispose()


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, list[pd.DataFrame], int]:
    """Random series, origins, forecasts and actual posts (some corrected, some missing)."""
    n_series = draw(st.integers(1, 3))
    season = draw(st.sampled_from([1, 2, 7]))
    values = st.floats(0, 50, allow_nan=False).map(lambda v: float(round(v)))
    lengths = [draw(st.integers(4, 16)) for _ in range(n_series)]
    history = history_of(
        {f"s{i}": draw(st.lists(values, min_size=n, max_size=n)) for i, n in enumerate(lengths)}
    )
    parts = []
    for k in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, n_series - 1))
        h = draw(st.integers(1, 9))
        origin = draw(st.integers(1, lengths[i] - 1))
        yhat = draw(st.lists(values, min_size=h, max_size=h))
        parts.append(
            served_points(
                f"s{i}",
                f"r{k}",
                yhat,
                [np.nan] * h,
                origin=origin,
                level=f"L{i % 2}",
                version=draw(st.sampled_from(["1", "2"])),
                w80=draw(st.sampled_from([0.5, 3.0])),
            )
        )
    points = pd.concat(parts, ignore_index=True)
    actuals = history.merge(points[["unique_id", "ds"]].drop_duplicates(), on=["unique_id", "ds"])
    posts = [actuals.sample(frac=0.7, random_state=draw(st.integers(0, 99)))]
    if draw(st.booleans()):
        fixed = actuals.sample(frac=0.5, random_state=1).assign(y=lambda f: f["y"] + 3)
        posts.append(fixed)
    return points, history, posts, season


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_random_ledgers_match_the_reference_functions(tmp_path_factory, scenario) -> None:  # type: ignore[no-untyped-def]
    """Any mix of forecasts, late and corrected actuals: the sums equal a recomputation."""
    points, history, posts, season = scenario
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('random') / 'ledger.db'}")
    migrate(engine)
    try:
        log_points(engine, points, history, season)
        for post in posts:
            ledger.upsert_actuals(engine, post)
        # the scales and direction references are those of the history when served
        expected = pd.concat([windows(f"s{i}", [1.0, 2.0, 0.5]) for i in range(3)])
        assert_report_matches(engine, history, season, expected)
        assert_report_matches(engine, history, season, None, since=pd.Timestamp("2024-01-05"))
    finally:
        engine.dispose()
