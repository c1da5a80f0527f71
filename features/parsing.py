"""Turn the text cells of a sales export into numbers and timestamps, remembering what failed.

Exports from tills, web shops and spreadsheets disagree on decimal marks, date orders and time
zones. These functions parse a column of strings and return the values together with boolean
masks of the cells that were missing or could not be read, so the caller can say where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Cell texts that mean "no value" in common exports.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "-", "#n/a", "#na", "nil"})

_OFFSET = re.compile(r"[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})$")
_COMMA_DECIMAL = re.compile(r"^[+-]?\d{1,3}(\.\d{3})*,\d+$|^[+-]?\d+,\d+$")
_POINT_DECIMAL = re.compile(r"^[+-]?\d+\.\d+$")
_COMMA_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")

#: Date formats tried in order when none is given; ISO 8601 first because it is unambiguous.
DATE_FORMATS = ("ISO8601", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d-%m-%Y")


@dataclass(frozen=True)
class ParsedNumbers:
    """Numbers parsed from text, with the cells that were empty and those that were not numeric."""

    values: pd.Series
    missing: np.ndarray
    invalid: np.ndarray


@dataclass(frozen=True)
class ParsedDates:
    """Timestamps parsed from text, with masks of empty and unreadable cells and assumptions."""

    values: pd.Series
    missing: np.ndarray
    invalid: np.ndarray
    date_format: str | None
    tz_aware: np.ndarray
    offsets: tuple[str, ...]
    notes: tuple[str, ...] = ()


def missing_mask(text: pd.Series) -> np.ndarray:
    """Cells that hold no value: empty, blank or a common NA token."""
    stripped = text.str.strip().str.lower()
    return stripped.isin(MISSING_TOKENS).to_numpy() | text.isna().to_numpy()


def detect_decimal_comma(columns: list[pd.Series]) -> bool:
    """Whether the numeric columns use a comma as the decimal mark ("1,5" rather than "1.5")."""
    comma = point = 0
    for text in columns:
        sample = text.dropna().str.strip()
        sample = sample[sample != ""].head(20_000)
        comma += int(sample.str.match(_COMMA_DECIMAL).sum())
        point += int(sample.str.match(_POINT_DECIMAL).sum())
    return comma > 0 and comma >= point


def parse_numbers(text: pd.Series, *, decimal: str = ".") -> ParsedNumbers:
    """Parse a column of text as float64; `decimal` is "." or "," (then "." groups thousands)."""
    missing = missing_mask(text)
    cleaned = text.str.strip().str.replace("\u00a0", "", regex=False).str.replace(" ", "")
    if decimal == ",":
        cleaned = cleaned.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:  # "1,234.5" groups thousands with commas; a lone "1,5" stays unreadable
        grouped = cleaned.str.match(_COMMA_THOUSANDS)
        cleaned = cleaned.where(~grouped, cleaned.str.replace(",", "", regex=False))
    values = pd.to_numeric(cleaned.where(~missing, None), errors="coerce").astype("float64")
    invalid = values.isna().to_numpy() & ~missing
    return ParsedNumbers(values=values, missing=missing, invalid=invalid)


def _parse_unique(uniques: pd.Series, date_format: str | None) -> tuple[pd.Series, str | None]:
    """Parse distinct date strings, trying the known formats when none is given."""
    if date_format is not None:
        return pd.to_datetime(uniques, format=date_format, errors="coerce"), date_format
    best: tuple[pd.Series, str | None] | None = None
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(uniques, format=fmt, errors="coerce")
        if best is None or parsed.notna().sum() > best[0].notna().sum():
            best = (parsed, fmt)
        if parsed.notna().all():
            break
    assert best is not None
    return best


def parse_dates(text: pd.Series, *, date_format: str | None = None) -> ParsedDates:
    """Parse a column of date texts into tz-naive timestamps (local wall-clock time).

    Offsets such as "+01:00" are dropped when every cell carries one, so a shop's local dates stay
    its dates; the caller decides whether a mix of zoned and unzoned cells is an error.
    """
    missing = missing_mask(text)
    stripped = text.str.strip()
    offset_match = stripped.str.extract(_OFFSET, expand=False)
    tz_aware = offset_match.notna().to_numpy() & ~missing
    offsets = tuple(sorted(set(offset_match.dropna().str.replace(":", "", regex=False))))
    wall_clock = stripped.str.replace(r"\s*(Z|[+-]\d{2}:?\d{2})$", "", regex=True).where(
        tz_aware, stripped
    )
    codes, uniques = pd.factorize(wall_clock.where(~missing, None), use_na_sentinel=True)
    parsed_uniques, used_format = _parse_unique(pd.Series(uniques, dtype="str"), date_format)
    parsed_uniques = parsed_uniques.astype("datetime64[us]")
    lookup = np.append(parsed_uniques.to_numpy(), np.datetime64("NaT", "us"))
    values = pd.Series(lookup[codes], index=text.index, dtype="datetime64[us]")  # -1 -> NaT
    invalid = values.isna().to_numpy() & ~missing
    notes: list[str] = []
    if date_format is None and used_format in ("%d/%m/%Y", "%m/%d/%Y") and not invalid.any():
        other = "%m/%d/%Y" if used_format == "%d/%m/%Y" else "%d/%m/%Y"
        if (
            pd.to_datetime(pd.Series(uniques, dtype="str"), format=other, errors="coerce")
            .notna()
            .all()
        ):
            order = "day/month" if used_format == "%d/%m/%Y" else "month/day"
            notes.append(
                f"dates such as {uniques[0]} are ambiguous and were read as {order}/year; "
                f"pass the date format {other} if that is wrong"
            )
    return ParsedDates(
        values=values,
        missing=missing,
        invalid=invalid,
        date_format=used_format,
        tz_aware=tz_aware,
        offsets=offsets,
        notes=tuple(notes),
    )


def offset_minutes(offset: str) -> int:
    """Minutes east of UTC for an offset text such as "Z", "+0100" or "-05:30"."""
    if offset == "Z":
        return 0
    digits = offset.replace(":", "")
    sign = -1 if digits[0] == "-" else 1
    return sign * (int(digits[1:3]) * 60 + int(digits[3:5]))


def cell_examples(mask: np.ndarray, text: pd.Series) -> str:
    """Up to three distinct offending cells, quoted, for a message."""
    values = pd.unique(text[mask].astype("str"))[:3]
    return ", ".join(repr(v) for v in values)


def is_text(column: pd.Series) -> bool:
    """Whether a column holds text cells (a CSV column) rather than typed values (Parquet)."""
    return pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column)
