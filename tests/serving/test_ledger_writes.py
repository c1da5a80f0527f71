"""The server's writes to the ledger: group commit, one stored copy per distinct forecast, what an
actuals post reports as changed, and the cheap reads of new actuals (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pg_cluster import empty_engine, postgres_url
from sqlalchemy import Engine, func, select

from serving import anticipation, ledger
from serving.db import Forecast, ForecastRequest, migrate

__all__ = ["postgres_url"]

ORIGIN = dt.datetime(2025, 1, 7)
DAYS = [ORIGIN + dt.timedelta(days=k) for k in range(1, 4)]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = empty_engine(request, tmp_path)
    migrate(engine)
    yield engine
    engine.dispose()


def rows(ids: list[str], shift: float = 0.0, **kwargs: object) -> ledger.ServedRows:
    """A 3-day forecast of `ids`: yhat 10, 11, 12 (+ shift), 80 % bounds +/- 1."""
    yhat = np.tile([10.0, 11.0, 12.0], len(ids)) + shift
    return ledger.ServedRows(
        unique_ids=ids,
        hierarchy_levels=["series"] * len(ids),
        origins=[ORIGIN] * len(ids),
        horizon=3,
        ds=DAYS * len(ids),
        yhat=yhat,
        bounds={80: (yhat - 1, yhat + 1)},
        **kwargs,  # type: ignore[arg-type]
    )


def item(served: ledger.ServedRows, version: str = "1") -> dict[str, object]:
    return {
        "request_id": uuid.uuid4().hex,
        "model_name": "m",
        "model_version": version,
        "served": served,
    }


def count(engine: Engine, what: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(what)).scalar_one())


def test_a_batch_is_one_transaction_and_repeats_are_stored_once(engine: Engine) -> None:
    """Five requests, two distinct forecasts: 5 requests and links, 2 forecasts of 3 points."""
    batch = [item(rows(["a"])) for _ in range(3)] + [item(rows(["a", "b"], shift=1.0))] * 1
    batch.append(item(rows(["a"])))
    ledger.log_served_many(engine, batch)
    counts = ledger.ledger_counts(engine)
    assert counts["requests"] == 5 and counts["served_series"] == 6
    assert counts["served_points"] == 18
    assert (counts["forecasts"], counts["forecast_points"]) == (3, 9)
    with engine.connect() as connection:
        served = connection.execute(select(Forecast.unique_id, Forecast.n_served)).all()
    assert sorted(served) == [("a", 1), ("a", 4), ("b", 1)]
    broken = [item(rows(["c"])), item(rows(["d"], shift=np.inf))]
    with pytest.raises(ValueError, match="non-finite values"):
        ledger.log_served_many(engine, broken)
    assert ledger.ledger_counts(engine)["requests"] == 5  # all or nothing
    ledger.log_served_many(engine, [])


def test_repeats_score_and_audit_like_separate_copies(engine: Engine) -> None:
    """A forecast served by three requests scores three points per actual, in the audit too."""
    for _ in range(3):
        ledger.log_served(engine, uuid.uuid4().hex, "m", "1", rows(["a"]))
    result = ledger.upsert_actuals(
        engine, pd.DataFrame({"unique_id": ["a"], "ds": [DAYS[0]], "y": [10.5]})
    )
    assert result.scored_points == 3 and result.changed_ids == ("a",)
    ledger.log_served(engine, uuid.uuid4().hex, "m", "1", rows(["a"]))  # scored when written
    points = ledger.scored_points(engine)
    assert len(points) == 4 and points["request_id"].nunique() == 4
    audit = ledger.served_history(engine, "a", pd.Timestamp.now())
    assert len(audit) == 12 and audit["y"].notna().sum() == 4
    report = ledger.accuracy_report(engine, expected=None).overall.realized.iloc[0]
    assert (report["n_forecasts"], report["n_points"]) == (4, 4)
    assert report["wape"] == pytest.approx(0.5 / 10.5)


def test_served_at_and_the_model_come_from_the_item(engine: Engine) -> None:
    """`served_at` (aware, converted to UTC) and api_key_id are what the request row keeps."""
    at = dt.datetime(2025, 1, 8, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ledger.log_served_many(engine, [item(rows(["a"], served_at=at), version="7")])
    with engine.connect() as connection:
        request = connection.execute(select(ForecastRequest)).mappings().one()
    assert request["served_at"] == dt.datetime(2025, 1, 8, 8, 30)
    assert (request["model_version"], request["interval_levels"]) == ("7", "[80]")
    assert ledger.served_history(engine, "a", at)["model_version"].unique().tolist() == ["7"]


@pytest.mark.parametrize(
    ("served", "message"),
    [
        (ledger.ServedRows(["a"], ["s"], [ORIGIN], 3, DAYS[:2], np.ones(3), {}), "needs 3"),
        (
            ledger.ServedRows(
                ["a"], ["s"], [ORIGIN], 3, [d.replace(hour=6) for d in DAYS], np.ones(3), {}
            ),
            "calendar date",
        ),
        (ledger.ServedRows(["a"], ["s"], [DAYS[1]], 3, DAYS, np.ones(3), {}), "on or before"),
        (
            ledger.ServedRows(
                ["a"], ["s"], [ORIGIN], 3, DAYS, np.ones(3), {100: (np.ones(3),) * 2}
            ),
            "strictly between 0 and 100",
        ),
        (ledger.ServedRows(["a"], [], [ORIGIN], 3, DAYS, np.ones(3), {}), "one hierarchy level"),
    ],
    ids=["lengths", "time-of-day", "before-origin", "level-100", "no-level"],
)
def test_inconsistent_served_rows_are_refused(
    engine: Engine, served: ledger.ServedRows, message: str
) -> None:
    """The server's own rows are still checked for what would corrupt the ledger."""
    with pytest.raises(ValueError, match=message):
        ledger.log_served(engine, "r1", "m", "1", served)
    assert count(engine, ForecastRequest) == 0


def test_actuals_since_returns_only_what_changed_after_a_mark(engine: Engine) -> None:
    """Marks are revisions: a post that changes nothing keeps the mark."""
    assert ledger.actuals_mark(engine) == 0
    first = pd.DataFrame({"unique_id": ["a", "b"], "ds": DAYS[:2], "y": [1.0, 2.0]})
    ledger.upsert_actuals(engine, first)
    mark = ledger.actuals_mark(engine)
    frame, again = ledger.actuals_since(engine, 0)
    assert again == mark and len(frame) == 2
    assert list(frame.columns) == ["unique_id", "ds", "y"] and frame["ds"].dtype == "datetime64[us]"
    assert ledger.upsert_actuals(engine, first).changed_ids == ()
    assert ledger.actuals_mark(engine) == mark
    fix = pd.DataFrame({"unique_id": ["b", "c"], "ds": [DAYS[1], DAYS[2]], "y": [5.0, 3.0]})
    assert ledger.upsert_actuals(engine, fix).changed_ids == ("b", "c")
    new, newest = ledger.actuals_since(engine, mark)
    assert newest > mark
    assert new.to_dict("list") == {
        "unique_id": ["b", "c"],
        "ds": [pd.Timestamp(DAYS[1]), pd.Timestamp(DAYS[2])],
        "y": [5.0, 3.0],
    }
    assert ledger.actuals_since(engine, newest)[0].empty
    assert ledger.actuals_since(engine, newest)[1] == newest
    later = ledger.actuals_frame(engine, after=DAYS[1].date())
    assert later["unique_id"].tolist() == ["c"]


def test_actuals_with_a_time_of_day_are_refused(engine: Engine) -> None:
    """The ledger keeps dates: 10:00 on a day is a mistake named with its row."""
    posted = pd.DataFrame({"unique_id": ["a", "a"], "ds": [DAYS[0], DAYS[1].replace(hour=10)]})
    with pytest.raises(ValueError, match="ds has a time of day in row 1"):
        ledger.upsert_actuals(engine, posted.assign(y=[1.0, 2.0]))
    assert ledger.actuals_frame(engine).empty


def test_concurrent_serving_and_posting_keep_the_sums_exact(engine: Engine) -> None:
    """Writers in threads (batches of forecasts, actuals day by day): the sums equal a
    recomputation from the stored points, as if the writes had run one after another."""
    history = pd.DataFrame(
        {"unique_id": "a", "ds": pd.date_range("2024-12-01", ORIGIN, freq="D"), "y": 10.0}
    )
    history["y"] += np.arange(len(history)) % 3
    stats = ledger.HistoryStats(history, 7)
    batches = [
        [item(rows(["a"], shift=k % 2, history_stats=stats)) for _ in range(5)] for k in range(6)
    ]
    posts = [pd.DataFrame({"unique_id": ["a"], "ds": [day], "y": [11.0]}) for day in DAYS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [pool.submit(ledger.log_served_many, engine, batch) for batch in batches]
        jobs += [pool.submit(ledger.upsert_actuals, engine, post) for post in posts]
        for job in jobs:
            job.result()
    points = ledger.scored_points(engine)
    assert len(points) == 30 * 3
    reference = anticipation.realized(points, history, 7, by=())
    ours = ledger.accuracy_report(engine, expected=None).overall.realized
    np.testing.assert_allclose(ours.to_numpy(float), reference.to_numpy(float), rtol=1e-9)
