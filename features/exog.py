"""Exogenous features: price and promotion, static attributes, and known-future coverage checks.

A planned price or promotion for period t is known in advance and may be used as is; anything
derived from other periods looks strictly into the past. price_promo_features columns:
    price present  price, price_rel_mean_{w} (price / mean price of the w periods before),
                   price_change (relative to the previous period; ratios are NaN at prices <= 0)
    promo present  promo, promo_lag_1, periods_since_promo (since the last promotion strictly
                   before the row; NaN if none)
An absent price or promo column contributes no columns.

`default_plan` is the future assumed when none is posted: each series' last known price (and any
other exogenous value) carried forward, no promotion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from features.calendar_features import add_periods, check_freq
from features.errors import MAX_LISTED, DataError
from features.lags import check_horizon, series_codes, shift_within
from features.schema import ID, TIME

PRICE = "price"
PROMO = "promo"
PRICE_WINDOWS = (28,)


def _column(panel: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric panel column as float64, missing values as NaN."""
    return panel[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where the denominator is missing or not positive."""
    ok = den > 0
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=ok)


def _price_columns(
    price: np.ndarray, codes: np.ndarray, windows: Sequence[int]
) -> dict[str, np.ndarray]:
    """Price as given, relative to its trailing mean over earlier periods, and its change."""
    previous = shift_within(price, codes, 1)
    columns = {PRICE: price}
    grouped = pd.Series(previous).groupby(codes, sort=True)
    for w in windows:
        trailing = grouped.rolling(w, min_periods=1).mean().to_numpy()
        columns[f"price_rel_mean_{w}"] = _ratio(price, trailing)
    columns["price_change"] = _ratio(price, previous) - 1.0
    return columns


def _promo_columns(promo: np.ndarray, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Promotion flag, the previous period's flag, and periods since the last earlier promotion."""
    position = np.arange(len(promo), dtype=np.float64)
    marks = np.where(promo > 0, position, np.nan)
    last = np.fmax.accumulate(shift_within(marks, codes, 1)) if len(promo) else marks
    first_row = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])[codes]
    last[last < first_row] = np.nan  # the latest promotion belongs to an earlier series
    return {
        PROMO: promo,
        "promo_lag_1": shift_within(promo, codes, 1),
        "periods_since_promo": position - last,
    }


def price_promo_features(
    panel: pd.DataFrame, *, windows: Sequence[int] = PRICE_WINDOWS
) -> pd.DataFrame:
    """Price and promotion features (see the module docstring); absent inputs give no columns."""
    windows = list(dict.fromkeys(windows))
    bad = [w for w in windows if not isinstance(w, int | np.integer) or w < 1]
    if bad:
        raise ValueError(f"Price windows must be positive integers, got {bad}.")
    codes = series_codes(panel)
    columns: dict[str, np.ndarray] = {}
    if PRICE in panel.columns:
        columns |= _price_columns(_column(panel, PRICE), codes, windows)
    if PROMO in panel.columns:
        columns |= _promo_columns(_column(panel, PROMO), codes)
    return pd.DataFrame(columns, index=panel.index)


def join_static(panel: pd.DataFrame, static: pd.DataFrame) -> pd.DataFrame:
    """Static attributes of each row's series (attributes only, row-aligned with `panel`).

    Text becomes categoricals with the table's sorted values as categories, whatever rows exist.
    """
    if ID not in static.columns:
        raise DataError(f"The static table lacks the {ID!r} column.")
    dupes = static[ID][static[ID].duplicated()].unique()[:MAX_LISTED]
    if len(dupes):
        raise DataError(f"The static table has several rows for series {list(dupes)}.")
    clash = [c for c in static.columns if c != ID and c in panel.columns]
    if clash:
        raise DataError(f"Static attributes {clash} clash with panel columns: rename them.")
    rows = pd.Index(static[ID]).get_indexer(panel[ID])
    absent = pd.unique(panel[ID].to_numpy()[rows < 0])
    if len(absent):
        shown = ", ".join(map(repr, absent[:MAX_LISTED]))
        raise DataError(
            f"{len(absent)} series have no static attributes (e.g. {shown}): add them to the table."
        )
    columns: dict[str, pd.Categorical | np.ndarray] = {}
    for name in static.columns.drop(ID):
        values = static[name]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            columns[name] = values.to_numpy()[rows]
        else:
            cat = pd.Categorical(values.astype("str").where(values.notna()))
            columns[name] = pd.Categorical.from_codes(cat.codes[rows], cat.categories)
    return pd.DataFrame(columns, index=panel.index)


def _start_days(
    start: pd.Timestamp | str | Mapping[str, object] | pd.Series | None,
    ids: np.ndarray,
    future: pd.DataFrame,
) -> np.ndarray:
    """First forecast date of each series (datetime64[D]); by default the earliest future date."""
    if start is None:
        if future.empty:
            raise DataError("The future frame is empty: it needs the exogenous values to come.")
        return np.full(len(ids), future[TIME].min().to_datetime64().astype("datetime64[D]"))
    if isinstance(start, Mapping | pd.Series):
        per_id = pd.Series(start)
        unknown = [i for i in ids[:MAX_LISTED] if i not in per_id.index]
        if unknown:
            raise DataError(f"No forecast start given for series {unknown}.")
        return pd.to_datetime(per_id.reindex(ids)).to_numpy().astype("datetime64[D]")
    return np.full(len(ids), pd.Timestamp(start).to_datetime64().astype("datetime64[D]"))


def check_future_coverage(
    future: pd.DataFrame,
    ids: Iterable[str],
    h: int,
    freq: str,
    exog_cols: Sequence[str],
    *,
    start: pd.Timestamp | str | Mapping[str, object] | pd.Series | None = None,
) -> None:
    """Raise a DataError naming the series and dates lacking known-future exogenous values.

    `start`: first forecast date, one for all or per id (default: earliest in `future`); the
    error's `missing` attribute holds the (unique_id, ds, column) triples.
    """
    check_freq(freq)
    check_horizon(h)
    exog_cols = list(exog_cols)
    ids = np.asarray(list(dict.fromkeys(ids)), dtype=object)
    if not exog_cols or not len(ids):
        return
    absent = [c for c in (ID, TIME, *exog_cols) if c not in future.columns]
    if absent:
        raise DataError(f"The future frame lacks column(s) {absent}.")
    if not pd.api.types.is_datetime64_dtype(future[TIME].dtype):
        raise DataError(f"The future frame's {TIME} must be tz-naive datetimes.")
    starts = _start_days(start, ids, future)
    steps = np.tile(np.arange(h), len(ids))
    dates = add_periods(np.repeat(starts, h), steps, freq).astype(future[TIME].dtype)
    expected = pd.DataFrame({ID: np.repeat(ids, h).astype(str), TIME: dates})
    given = future[[ID, TIME, *exog_cols]].astype({ID: "str"})
    merged = expected.merge(given, on=[ID, TIME], how="left")
    missing = merged.melt(id_vars=[ID, TIME], value_vars=exog_cols, var_name="column")
    missing = missing.loc[missing["value"].isna(), [ID, TIME, "column"]]
    if missing.empty:
        return
    missing = missing.sort_values([ID, TIME, "column"], ignore_index=True)
    series = missing[ID].unique()
    lines = []
    for uid in series[:MAX_LISTED]:
        rows = missing[missing[ID] == uid]
        days = rows[TIME].dt.strftime("%Y-%m-%d").unique()
        more = f" and {len(days) - MAX_LISTED} more" if len(days) > MAX_LISTED else ""
        cols = ", ".join(rows["column"].unique())
        lines.append(f"{uid!r}: {cols} on {', '.join(days[:MAX_LISTED])}{more}")
    extra = f"; and {len(series) - MAX_LISTED} more series" if len(series) > MAX_LISTED else ""
    error = DataError(
        f"Known-future values of {exog_cols} are missing for the {h}-period horizon "
        f"(freq {freq}) of {len(series)} series: {'; '.join(lines)}{extra}. Provide them for "
        "every forecast period, or leave those columns out of the model."
    )
    error.missing = missing
    raise error


def _int_times(values: pd.Series) -> np.ndarray:
    """Timestamps as int64 microseconds, whatever their unit."""
    return values.to_numpy().astype("datetime64[us]").view("int64")


def _carried(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each row's last non-missing value up to itself within its series (rows sorted by series)."""
    position = np.where(np.isnan(values), -1, np.arange(len(values)))
    last = np.maximum.accumulate(position) if len(values) else position
    ok = (last >= 0) & (codes[np.maximum(last, 0)] == codes)
    return np.where(ok, values[np.maximum(last, 0)], np.nan)


def default_plan(
    history: pd.DataFrame,
    rows: pd.DataFrame,
    columns: Sequence[str],
    *,
    flags: Sequence[str] = (PROMO,),
) -> pd.DataFrame:
    """`rows` (unique_id, ds) with the exogenous `columns` as known or as assumed from `history`.

    A row whose (unique_id, ds) is in `history` gets its values there. Any other row gets its
    series' last value at an earlier date carried forward, except the `flags` (promotion), which
    are 0: no promotion is assumed that was not planned. Only history at or before each row's
    date is read, so the plan never leaks what came later. Rows before a series' first known
    value take that first value; a series absent from `history` raises a DataError.
    """
    columns = list(columns)
    out = rows[[ID, TIME]].reset_index(drop=True)
    if not columns:
        return out
    absent = [c for c in (ID, TIME, *columns) if c not in history.columns]
    if absent:
        raise DataError(f"The history lacks the exogenous column(s) {absent}.")
    n_known = len(history)
    codes, _ = pd.factorize(
        np.concatenate([history[ID].to_numpy(object), out[ID].to_numpy(object)])
    )
    known_code, row_code = codes[:n_known], codes[n_known:]
    unknown = ~np.isin(row_code, known_code)
    if unknown.any():
        shown = list(pd.unique(out[ID].to_numpy(object)[unknown])[:MAX_LISTED])
        raise DataError(f"No exogenous history for series {shown}.")
    known_time, row_time = _int_times(history[TIME]), _int_times(out[TIME])
    order = np.lexsort((known_time, known_code))
    known_code, known_time = known_code[order], known_time[order]
    grid = np.unique(np.concatenate([known_time, row_time]))
    width = len(grid) + 1
    known_key = known_code * width + np.searchsorted(grid, known_time)
    row_key = row_code * width + np.searchsorted(grid, row_time)
    at = np.searchsorted(known_key, row_key, side="right") - 1  # the last one on or before
    same = (at >= 0) & (known_code[np.maximum(at, 0)] == row_code)
    at = np.maximum(at, 0)
    exact = same & (known_key[at] == row_key)
    for column in columns:
        values = _carried(history[column].to_numpy("float64", na_value=np.nan)[order], known_code)
        planned = np.where(same, values[at], np.nan)
        if column in flags:
            planned = np.where(exact, planned, 0.0)
        seen = np.flatnonzero(~np.isnan(values))
        series, earliest = np.unique(known_code[seen], return_index=True)  # sorted by time
        first = np.full(codes.max() + 1, np.nan)
        first[series] = values[seen[earliest]]
        out[column] = np.where(np.isnan(planned), first[row_code], planned)
    return out
