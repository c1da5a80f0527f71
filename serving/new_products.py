"""New products in the API: series the served model does not know, posted with attributes.

POST /v1/actuals registers such a series (the ledger's new_series table) with its first sales;
POST /v1/forecasts and GET /v1/series then answer for it from the bundle's launch profiles
(training.new_products), scaled by its actuals so far, marked `"method": "new_product"`. All of
it is read from the ledger, so every worker and a restarted server know it. It is not part of
the hierarchy's aggregates until a retrain includes it; from then on the model forecasts it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from features.schema import BOTTOM_LEVEL, HIERARCHY_LEVEL, ID, TIME
from serving import ledger
from serving.accuracy import compute_anticipation
from serving.errors import InvalidRequest, UnknownSeries
from serving.forecasting import Served, checked_request, json_body
from serving.schemas import Accuracy
from serving.state import LiveModel
from training.new_products import METHOD, bucket_of

#: Longest attribute name or value accepted.
MAX_ATTRIBUTE_LENGTH = 200


@dataclass(frozen=True)
class NewSeriesBook:
    """The ledger's new series (unique_id + attributes) and their actuals, at one moment."""

    series: pd.DataFrame
    actuals: pd.DataFrame

    @property
    def ids(self) -> set[str]:
        return set(self.series[ID])


class NewProducts:
    """The ledger's new series, read again only when new series or actuals were posted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: Any = None
        self._book = NewSeriesBook(pd.DataFrame({ID: []}), pd.DataFrame({ID: [], TIME: []}))

    def book(self, engine: Engine) -> NewSeriesBook:
        """The new series and their actuals (two index lookups when nothing changed)."""
        key = (ledger.new_series_mark(engine), ledger.actuals_mark(engine))
        with self._lock:
            if key != self._key:
                series = ledger.new_series_frame(engine)
                actuals = ledger.actuals_frame(engine, series[ID].tolist())
                self._key, self._book = key, NewSeriesBook(series, actuals)
            return self._book


def new_series_of_post(
    live: LiveModel,
    rows: pd.DataFrame,
    attributes: Mapping[str, Mapping[str, str]] | None,
    registered: set[str],
) -> dict[str, dict[str, str]]:
    """The new series a post of actuals registers (id -> attributes), or the error naming
    the row or field: an id the model does not know needs attributes, once."""
    attributes = dict(attributes or {})
    unknown = sorted(set(rows[ID]) - set(live.level_of) - registered - set(attributes))
    if unknown:
        index = int(np.flatnonzero(rows[ID].isin(set(unknown)))[0])
        raise UnknownSeries(
            unknown,
            f"body.rows.{index}.unique_id",
            ": the model does not know them; give their attributes in body.attributes "
            "(e.g. category and store) to forecast them as new products",
        )
    for uid in attributes:
        if uid in live.level_of:
            raise InvalidRequest(
                f"series {uid!r} is known to the model; its attributes come from training",
                f"body.attributes.{uid}",
            )
        if uid not in set(rows[ID]):
            raise InvalidRequest(
                f"series {uid!r} has no rows in this post", f"body.attributes.{uid}"
            )
    if not attributes:
        return {}
    launch = live.bundle.launch
    if launch is None:
        raise InvalidRequest(
            f"model version {live.version} has no launch profiles (trained before new products "
            "were supported, or on too short a history); retrain to forecast new series",
            "body.attributes",
        )
    for uid, values in attributes.items():
        missing = [name for name in launch.attribute_names_ if not str(values.get(name, ""))]
        if missing:
            raise InvalidRequest(
                f"new series {uid!r} lacks attribute(s) {missing}",
                f"body.attributes.{uid}.{missing[0]}",
            )
        for name, value in values.items():
            if len(name) > MAX_ATTRIBUTE_LENGTH or len(str(value)) > MAX_ATTRIBUTE_LENGTH:
                raise InvalidRequest(
                    f"attribute names and values are at most {MAX_ATTRIBUTE_LENGTH} characters",
                    f"body.attributes.{uid}.{name[:40]}",
                )
    return {uid: {k: str(v) for k, v in values.items()} for uid, values in attributes.items()}


def checked_ids(
    live: LiveModel,
    book: NewSeriesBook | None,
    unique_ids: list[str],
    horizon: int | None,
    max_series: int,
) -> tuple[list[str], list[str], int]:
    """`checked_request` with new products: (ids the model knows, new series, horizon)."""
    ids = list(dict.fromkeys(unique_ids))
    launched = book.ids if book is not None and live.bundle.launch is not None else set()
    new = [uid for uid in ids if uid not in live.level_of and uid in launched]
    if len(ids) > max_series or not new:
        known, horizon = checked_request(live, ids, horizon, max_series)
        return known, [], horizon
    rest = [uid for uid in ids if uid not in set(new)]
    known, horizon = checked_request(live, rest or [], horizon, max_series)
    return known, new, horizon


def compute_new(
    live: LiveModel, book: NewSeriesBook, ids: list[str], horizon: int, levels: list[int]
) -> tuple[Served, dict[str, dict[str, Any]]]:
    """The launch-profile forecasts of new series `ids`, and what marks each in the answer
    (method, n_observed, profile_group, bucket)."""
    launch = live.bundle.launch
    assert launch is not None
    wanted = book.series[book.series[ID].isin(set(ids))]
    frame = launch.predict(wanted, book.actuals, horizon, levels)
    frame = frame.set_index(ID).loc[ids].reset_index()
    first = frame.groupby(ID, sort=False).first()
    marks = {
        uid: {
            "method": METHOD,
            "n_observed": int(first.loc[uid, "n_observed"]),
            "profile_group": str(first.loc[uid, "profile_group"]),
            "bucket": bucket_of(int(first.loc[uid, "n_observed"])),
        }
        for uid in ids
    }
    served = Served(
        ids=ids,
        hierarchy_levels=[BOTTOM_LEVEL] * len(ids),
        origins=[pd.Timestamp(first.loc[uid, "origin"]) for uid in ids],
        horizon=horizon,
        interval_levels=list(levels),
        days=frame[TIME].to_numpy(dtype="datetime64[us]"),
        yhat=frame["yhat"].to_numpy(dtype="float64"),
        bounds={
            lv: (
                frame[f"yhat_lo_{lv}"].to_numpy(dtype="float64"),
                frame[f"yhat_hi_{lv}"].to_numpy(dtype="float64"),
            )
            for lv in levels
        },
        served_at=dt.datetime.now(dt.UTC),
    )
    return served, marks


def expected_of(live: LiveModel, bucket: str) -> dict[str, float | None]:
    """What the launch backtest promises a new series with this bucket of observed periods."""
    launch = live.bundle.launch
    table = launch.expected_ if launch is not None else pd.DataFrame()
    if table.empty:
        return {}
    table = table[(table["method"] == METHOD) & (table["bucket"] == bucket)]
    rows = table[table["population"] == "launched"]
    row = (rows if len(rows) else table).iloc[0]
    return {
        name: None if pd.isna(row[name]) else float(row[name])
        for name in ("mase", "wape", "bias", "coverage_80", "coverage_95")
    }


def series_rows(live: LiveModel, book: NewSeriesBook) -> pd.DataFrame:
    """Rows for the series table (GET /v1/series) of the new series the model does not know."""
    series = book.series[~book.series[ID].isin(set(live.level_of))]
    if series.empty or live.bundle.launch is None:
        return series.iloc[0:0]
    span = book.actuals.groupby(ID, sort=False)[TIME].agg(["min", "max", "size"])
    span.columns = ["first_ds", "last_ds", "n_observations"]
    table = series.set_index(ID, drop=False).join(span)
    table["n_observations"] = table["n_observations"].fillna(0).astype("int64")
    return table.assign(**{HIERARCHY_LEVEL: BOTTOM_LEVEL, "method": METHOD})


def json_forecasts(
    engine: Engine, live: LiveModel, served: Served, marks: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The answer's forecast entries of new series: points, the launch backtest's promise per
    bucket as the expected accuracy, realized accuracy once their served forecasts are scored."""
    expected = {uid: Accuracy(**expected_of(live, mark["bucket"])) for uid, mark in marks.items()}
    found = compute_anticipation(engine, live, served.ids, expected)
    entries = json_body(live, served, "", found, "")["forecasts"]
    for entry in entries:
        mark = marks[entry["unique_id"]]
        entry.update(
            model=METHOD,
            method=METHOD,
            n_observed=mark["n_observed"],
            profile_group=mark["profile_group"],
        )
    return entries
