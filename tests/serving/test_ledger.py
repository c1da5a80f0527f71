"""The forecast ledger on a real SQLite file (and a throwaway PostgreSQL cluster when the server
is installed): logging, idempotent actuals, scoring, the audit."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pg_cluster import empty_engine, postgres_url
from sqlalchemy import Engine, select

from serving.db import AccuracyDay, AccuracySeries, AccuracyStep, Actual, Forecast, migrate
from serving.ledger import (
    UpsertResult,
    actuals_frame,
    actuals_mark,
    log_forecasts,
    scored_points,
    served_history,
    upsert_actuals,
)

ORIGIN = pd.Timestamp("2025-01-07")
DAY = pd.Timedelta(days=1)
DATES = pd.date_range("2025-01-08", periods=7, freq="D")
SERIES = {"store_1/bread": "series", "store_1": "store"}


__all__ = ["postgres_url"]  # the cluster fixture, used through request.getfixturevalue


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty ledger: a SQLite file, or the PostgreSQL cluster with a fresh schema."""
    engine = empty_engine(request, tmp_path)
    migrate(engine)
    yield engine
    engine.dispose()


def forecast(levels: tuple[int, ...] = (80, 95), shift: float = 0.0) -> pd.DataFrame:
    """2 series x 7 steps; yhat = 10 * series number + step, bounds +- level / 10."""
    parts = []
    for number, (uid, level) in enumerate(SERIES.items(), start=1):
        yhat = 10.0 * number + np.arange(1, 8) + shift
        part = pd.DataFrame({"unique_id": uid, "level": level, "ds": DATES, "yhat": yhat})
        for lv in levels:
            part[f"yhat_lo_{lv}"] = yhat - lv / 10
            part[f"yhat_hi_{lv}"] = yhat + lv / 10
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def log(engine: Engine, frame: pd.DataFrame | None = None, levels=(80, 95), **kwargs) -> str:
    request_id = uuid.uuid4().hex
    log_forecasts(
        engine,
        request_id,
        "anticipate-demand",
        kwargs.pop("model_version", "3"),
        forecast(levels) if frame is None else frame,
        {uid: ORIGIN for uid in SERIES},
        7,
        list(levels),
        **kwargs,
    )
    return request_id


def actuals(days: int = 3, y: float = 5.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": [uid for uid in SERIES for _ in range(days)],
            "ds": list(DATES[:days]) * len(SERIES),
            "y": y + np.arange(days * len(SERIES), dtype=float),
        }
    )


def table(engine: Engine, model: type) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(select(model).order_by(*model.__table__.primary_key))
        ]


def test_actuals_score_exactly_the_points_they_complete(engine: Engine) -> None:
    """3 days of actuals for 2 series score those 6 points, with their y; the rest wait."""
    request_id = log(engine)
    posted = actuals()
    result = upsert_actuals(engine, posted)
    assert result == UpsertResult(
        inserted=6,
        updated=0,
        unchanged=0,
        scored_points=6,
        changed_ids=("store_1", "store_1/bread"),
    )
    points = scored_points(engine)
    assert len(points) == 6
    merged = points.merge(posted, on=["unique_id", "ds"], suffixes=("", "_posted"))
    assert len(merged) == 6
    np.testing.assert_array_equal(merged["y"], merged["y_posted"])
    assert set(points["request_id"]) == {request_id}
    assert (points["cutoff"] == ORIGIN).all()
    assert sorted(points["step"].unique()) == [1, 2, 3]
    assert list(points.columns) == [
        "unique_id", "level", "model_version", "request_id", "cutoff", "served_at", "horizon",
        "step", "ds", "yhat", "yhat_lo_80", "yhat_hi_80", "yhat_lo_95", "yhat_hi_95", "y",
    ]  # fmt: skip
    assert points["ds"].dtype == "datetime64[us]"
    bread = points[points["unique_id"] == "store_1/bread"]
    np.testing.assert_allclose(bread["yhat"], [11.0, 12.0, 13.0])
    np.testing.assert_allclose(bread["yhat_lo_95"], bread["yhat"] - 9.5)
    assert set(points["level"]) == {"series", "store"}


STATE = (Actual, Forecast, AccuracySeries, AccuracyStep, AccuracyDay)


def test_the_same_post_again_changes_nothing(engine: Engine) -> None:
    """Idempotent: counts say unchanged; actuals, forecasts and accuracy sums are identical."""
    log(engine)
    upsert_actuals(engine, actuals())
    before = ([table(engine, model) for model in STATE], actuals_mark(engine))
    again = upsert_actuals(engine, actuals())
    assert again == UpsertResult(inserted=0, updated=0, unchanged=6, scored_points=0)
    assert ([table(engine, model) for model in STATE], actuals_mark(engine)) == before


def test_a_corrected_actual_updates_y_and_rescores(engine: Engine) -> None:
    """A new y for a known (unique_id, ds) replaces the old one and re-scores its point."""
    log(engine)
    upsert_actuals(engine, actuals())
    mark = actuals_mark(engine)
    fix = pd.DataFrame({"unique_id": ["store_1"], "ds": [DATES[0]], "y": [99.0]})
    both = pd.concat([fix, actuals().iloc[[0]]], ignore_index=True)  # + one unchanged row
    assert upsert_actuals(engine, both) == UpsertResult(0, 1, 1, 1, ("store_1",))
    points = scored_points(engine, unique_ids=["store_1"])
    assert points.loc[points["ds"] == DATES[0], "y"].tolist() == [99.0]
    stored = actuals_frame(engine, unique_ids=["store_1"])
    assert stored.loc[stored["ds"] == DATES[0], "y"].tolist() == [99.0]
    assert actuals_mark(engine) != mark


def test_forecasts_logged_after_their_actuals_are_scored_at_once(engine: Engine) -> None:
    """Actuals first, then a forecast over those dates: its points are scored when logged."""
    upsert_actuals(engine, actuals(days=2))
    request_id = log(engine)
    points = scored_points(engine)
    assert len(points) == 4
    assert set(points["request_id"]) == {request_id}
    np.testing.assert_array_equal(
        points.sort_values(["unique_id", "ds"])["y"],
        actuals(days=2).sort_values(["unique_id", "ds"])["y"],
    )


def test_every_request_is_scored(engine: Engine) -> None:
    """Two requests over the same dates: one actual scores a point of each."""
    first, second = log(engine), log(engine, model_version="4")
    assert upsert_actuals(engine, actuals(days=1)).scored_points == 4
    assert set(scored_points(engine)["request_id"]) == {first, second}
    only = scored_points(engine, model_version="4", hierarchy_level="store")
    assert len(only) == 1 and only["request_id"].tolist() == [second]
    assert scored_points(engine, since=DATES[1]).empty


def test_served_history_is_what_was_served_up_to_a_day(engine: Engine) -> None:
    """as_of keeps requests served up to the end of that day, newest first; extra levels show."""
    first = log(engine)
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    time.sleep(0.002)
    second = log(engine, frame=forecast((50, 80), shift=1.0), levels=(50, 80))
    history = served_history(engine, "store_1/bread", today)
    assert history["request_id"].drop_duplicates().tolist() == [second, first]
    assert len(history) == 14
    assert {"origin", "served_at", "model_version", "yhat_lo_50", "yhat_hi_50"} <= set(history)
    newest = history[history["request_id"] == second]
    assert newest["step"].tolist() == list(range(1, 8))
    np.testing.assert_allclose(newest["yhat_lo_50"], newest["yhat"] - 5.0)
    assert newest["yhat_lo_95"].isna().all()
    assert history[history["request_id"] == first]["yhat_lo_50"].isna().all()
    assert served_history(engine, "store_1/bread", today - pd.Timedelta(days=1)).empty
    assert served_history(engine, "unknown", today).empty


def test_empty_reads_have_the_columns(engine: Engine) -> None:
    """No rows still gives typed frames with the contract's columns."""
    assert list(actuals_frame(engine).columns) == ["unique_id", "ds", "y"]
    assert {"cutoff", "yhat_lo_80", "y"} <= set(scored_points(engine).columns)
    assert actuals_frame(engine, unique_ids=[]).empty


def test_ten_thousand_actuals_post_and_score_quickly(engine: Engine) -> None:
    """A 10k-row post over 1000 forecast series (20k served points, two requests of the same
    forecasts) and its repeat take well under a second each: batched writes, indexed reads."""
    ids = [f"sku_{i}" for i in range(1000)]
    dates = pd.date_range("2024-01-01", periods=10, freq="D")
    keys = {"unique_id": np.repeat(ids, len(dates)), "ds": np.tile(dates, len(ids))}
    served = pd.DataFrame({**keys, "level": "series", "yhat": 1.0})
    for _ in range(2):
        log_forecasts(
            engine, uuid.uuid4().hex, "m", "1", served, dict.fromkeys(ids, dates[0] - DAY), 10, []
        )
    rows = pd.DataFrame({**keys, "y": np.arange(len(ids) * len(dates), dtype=float)})
    started = time.perf_counter()
    assert upsert_actuals(engine, rows) == UpsertResult(10_000, 0, 0, 20_000, tuple(sorted(ids)))
    assert upsert_actuals(engine, rows) == UpsertResult(0, 0, 10_000, 0)
    assert time.perf_counter() - started < 5  # about 0.3 s; a bad query plan takes 15 s
    assert len(actuals_frame(engine, unique_ids=ids[:600])) == 6000
    assert len(scored_points(engine, unique_ids=ids[-700:])) == 14_000


def test_concurrent_posts_of_the_same_rows_store_them_once(engine: Engine) -> None:
    """Four workers posting the same new rows at once: no error, one copy, every point scored."""
    log(engine)
    rows = actuals(days=7)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: upsert_actuals(engine, rows), range(4)))
    assert all(r.inserted + r.updated + r.unchanged == len(rows) for r in results)
    stored = actuals_frame(engine)
    assert len(stored) == len(rows)
    np.testing.assert_array_equal(stored["y"], rows.sort_values(["unique_id", "ds"])["y"])
    assert len(scored_points(engine)) == 14


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (pd.DataFrame({"unique_id": ["a"], "ds": ["2025-01-01"]}), r"lacks column\(s\) \['y'\]"),
        (
            pd.DataFrame(
                {"unique_id": ["a", "a"], "ds": ["2025-01-01", "2025-01-02"], "y": [1, None]}
            ),
            "y is missing, NaN or not a finite number in row 1",
        ),
        (
            pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2025-01-01"] * 2, "y": [1.0, 2.0]}),
            r"duplicate \(unique_id, ds\) \('a', 2025-01-01\) in rows 0, 1",
        ),
        (
            pd.DataFrame({"unique_id": ["a", None], "ds": ["2025-01-01"] * 2, "y": [1.0, 2.0]}),
            "unique_id is missing or empty in row 1",
        ),
        (
            pd.DataFrame({"unique_id": ["a"], "ds": ["not a date"], "y": [1.0]}),
            "ds is not a date",
        ),
        (
            pd.DataFrame({"unique_id": ["a"], "ds": [None], "y": [1.0]}),
            "ds is missing in row 0",
        ),
        (
            pd.DataFrame({"unique_id": ["a"], "ds": ["2025-01-01"], "y": [np.inf]}),
            "y is missing, NaN or not a finite number in row 0",
        ),
    ],
    ids=["missing-column", "nan-y", "duplicate", "no-id", "bad-date", "no-date", "infinite-y"],
)
def test_invalid_actuals_are_refused_with_the_problem_named(
    engine: Engine, rows: pd.DataFrame, message: str
) -> None:
    """Each mistake raises ValueError (the API's 422) naming it, and writes nothing."""
    with pytest.raises(ValueError, match=message):
        upsert_actuals(engine, rows)
    assert actuals_frame(engine).empty


def test_invalid_forecasts_are_refused_with_the_problem_named(engine: Engine) -> None:
    """Missing bound columns, NaN yhat, a series without an origin: ValueError, nothing logged."""
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['yhat_lo_95', 'yhat_hi_95'\]"):
        log(engine, frame=forecast((80,)), levels=(80, 95))
    broken = forecast()
    broken.loc[3, "yhat"] = np.nan
    with pytest.raises(ValueError, match="yhat is missing, NaN or not a finite number in row 3"):
        log(engine, frame=broken)
    with pytest.raises(ValueError, match=r"origins lacks the series \['other'\]"):
        log(
            engine,
            frame=forecast().head(7).assign(unique_id="other"),
        )
    with pytest.raises(ValueError, match="levels must lie strictly between 0 and 100"):
        log(engine, levels=(80, 100))
    assert served_history(engine, "store_1", pd.Timestamp.now()).empty
