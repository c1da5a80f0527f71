"""Checks of the frames written to the ledger, raising ValueError that names the problem and the
rows (counted from 0, like the list in the request), which the API answers with a 422."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from features.schema import ID, TIME

__all__ = [
    "check_unique_keys",
    "checked_dates",
    "checked_ids",
    "checked_numbers",
    "naive_utc",
    "require_columns",
    "rows_named",
]

#: How many offending rows an error message names.
SHOWN = 5


def rows_named(mask: pd.Series | np.ndarray) -> str:
    """The first offending row positions (counting from 0, as the request's list does)."""
    positions = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(p) for p in positions[:SHOWN])
    more = f" and {len(positions) - SHOWN} more" if len(positions) > SHOWN else ""
    return f"row{'s' if len(positions) > 1 else ''} {shown}{more}"


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise when `frame` lacks any of `columns`."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")


def checked_ids(values: pd.Series, what: str) -> pd.Series:
    """Series ids as strings; none missing or blank."""
    bad = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
    if bad.any():
        raise ValueError(f"{what}: unique_id is missing or empty in {rows_named(bad)}")
    return values.astype(str)


def checked_dates(values: pd.Series, what: str) -> pd.Series:
    """Dates as naive datetime64[us] (aware ones converted to UTC); none missing."""
    try:
        parsed = pd.to_datetime(values)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{what}: ds is not a date ({error})") from None
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    if parsed.isna().any():
        raise ValueError(f"{what}: ds is missing in {rows_named(parsed.isna())}")
    return parsed.astype("datetime64[us]")


def checked_numbers(values: pd.Series, column: str, what: str, *, required: bool) -> pd.Series:
    """Values as float64, all finite; missing ones allowed (NaN) unless `required`."""
    numeric = pd.to_numeric(values, errors="coerce").astype("float64")
    bad = ~np.isfinite(numeric.to_numpy()) & (values.notna().to_numpy() | required)
    if bad.any():
        problem = "missing, NaN or not a finite number" if required else "not a finite number"
        raise ValueError(f"{what}: {column} is {problem} in {rows_named(bad)}")
    return numeric


def check_unique_keys(frame: pd.DataFrame, what: str) -> None:
    """Raise when a (unique_id, ds) pair occurs twice."""
    duplicated = frame.duplicated([ID, TIME], keep=False)
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise ValueError(
            f"{what}: duplicate (unique_id, ds) ({first[ID]!r}, {first[TIME].date()}) "
            f"in {rows_named(duplicated)}"
        )


def naive_utc(value: Any, what: str) -> datetime:
    """A naive-UTC datetime for binding, from anything pandas reads as one timestamp."""
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"{what} is missing")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()
