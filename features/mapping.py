"""How an unknown sales export is read and which of its columns play which role.

A planner uploads whatever the till or web shop wrote. `read_export` reads it as `read_sales`
will (delimiter sniffed, decimal mark detected, UTF-8 tried before cp1252) and says what it
found; `suggest_mapping` proposes the columns for `ReadOptions` (item, store, date, time of day,
quantity, status, order, and price- or promotion-like extras to keep). Suggestions are guesses
from names and values, meant to be shown and corrected, never applied silently. They look at the
first `SAMPLE_ROWS` rows only, so a large file is described quickly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from features.columns import is_clock_column, line_signs, looks_like_identifier
from features.errors import DataValidationError
from features.ingest import read_table
from features.parsing import detect_decimal_comma, is_text, missing_mask, parse_dates, parse_numbers
from features.read_options import ReadOptions

#: Encodings tried in order: UTF-8 (with or without BOM), then the Windows code page of tills.
ENCODINGS = ("utf-8-sig", "cp1252")
#: Rows looked at to guess kinds and roles.
SAMPLE_ROWS = 5_000
#: Values shown per column.
SAMPLES = 5

ColumnKind = Literal["date", "number", "text", "time-of-day"]

_ITEM_WORDS = ("sku", "unique_id", "artikel", "article", "item", "product", "produkt", "ware")
_STORE_WORDS = ("store", "shop", "filiale", "location", "branch", "standort", "markt", "outlet")
_DATE_WORDS = ("date", "datum", "created", "ds", "day", "tag", "timestamp", "verkauft", "sold")
_QUANTITY_WORDS = (
    "quantity", "qty", "menge", "units", "anzahl", "stück", "stk", "pieces", "y", "absatz",
)  # fmt: skip
_STATUS_WORDS = ("status", "state", "storno", "type", "art")
_KEEP_WORDS = ("price", "preis", "promo", "promotion", "aktion", "angebot", "rabatt", "discount")
_WORD = re.compile(r"[a-zäöüß_]+|\d+")


@dataclass(frozen=True)
class Export:
    """A sales export as read: every cell (text for CSV) and how the file was read.

    `delimiter`, `decimal` and `encoding` are None for Parquet, whose cells are typed.
    """

    table: pd.DataFrame
    delimiter: str | None
    decimal: str | None
    encoding: str | None


@dataclass(frozen=True)
class ColumnSketch:
    """One column: its name, the kind its values look like, and a few of them."""

    name: str
    kind: ColumnKind
    samples: tuple[str, ...]
    filled: float


@dataclass(frozen=True)
class SuggestedMapping:
    """Columns proposed for each role of `ReadOptions` (None or empty where nothing fits)."""

    item_cols: tuple[str, ...] = ()
    store_col: str | None = None
    date_col: str | None = None
    time_of_day_col: str | None = None
    quantity_col: str | None = None
    status_col: str | None = None
    order_col: str | None = None
    keep_cols: tuple[str, ...] = field(default=())
    duplicates: Literal["error", "sum"] = "error"


def read_export(path: str | Path) -> Export:
    """Read an export as `read_sales` would, trying UTF-8 and then cp1252 for text files.

    Raises:
        DataValidationError: the file cannot be read in any of the encodings (the UTF-8 error).
    """
    first_error: DataValidationError | None = None
    for encoding in ENCODINGS:
        try:
            table = read_table(Path(path), ReadOptions(encoding=encoding))
        except DataValidationError as err:
            if err.codes != ["not_utf8"]:
                raise
            first_error = first_error or err
            continue
        delimiter = table.attrs.get("delimiter")
        if delimiter is None:  # Parquet
            return Export(table, None, None, None)
        text = [table[c] for c in table.columns[:200] if is_text(table[c])]
        comma = delimiter != "," and detect_decimal_comma([t.head(SAMPLE_ROWS) for t in text])
        return Export(table, delimiter, "," if comma else ".", encoding.removesuffix("-sig"))
    assert first_error is not None
    raise first_error


def _filled_text(values: pd.Series) -> pd.Series:
    text = values.astype("str")
    return text[~missing_mask(text)].str.strip()


def column_kind(values: pd.Series, decimal: str = ".") -> ColumnKind:
    """Whether a column's filled cells are all dates, numbers or times of day, or else text."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date"
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return "number"
    filled = _filled_text(values)
    if filled.empty:
        return "text"
    if is_clock_column(filled):
        return "time-of-day"
    dated = filled.str.count(r"[-./]").min() >= 2  # 02.02.2026 is a date, not 2,022,026
    if dated and not parse_dates(filled).invalid.any():
        return "date"
    if not parse_numbers(filled, decimal=decimal).invalid.any():
        return "number"
    if not parse_dates(filled).invalid.any():
        return "date"
    return "text"


def sketch_columns(export: Export) -> list[ColumnSketch]:
    """Each column's kind, share of filled cells and up to `SAMPLES` distinct values."""
    head = export.table.head(SAMPLE_ROWS)
    sketches = []
    for name in head.columns:
        values = head[name]
        filled = _filled_text(values)
        samples = tuple(str(v) for v in pd.unique(filled)[:SAMPLES])
        share = len(filled) / len(head) if len(head) else 0.0
        kind = column_kind(values, export.decimal or ".")
        sketches.append(ColumnSketch(str(name), kind, samples, round(share, 4)))
    return sketches


def _words(name: str) -> list[str]:
    return _WORD.findall(name.lower())


def _named(name: str, words: Sequence[str], *, inside: bool = False) -> bool:
    """Whether the column name holds one of `words` (as a word, or inside one when `inside`)."""
    found = _words(name)
    return any(w in words or (inside and any(k in w for k in words)) for w in found)


def suggest_mapping(export: Export, sketches: Sequence[ColumnSketch]) -> SuggestedMapping:
    """Columns proposed for each role, from their names, kinds and values (see module doc)."""
    head = export.table.head(SAMPLE_ROWS)
    full = [s for s in sketches if s.filled >= 0.99]
    date = _best(
        [s for s in sketches if s.kind == "date" and s.filled >= 0.95],
        lambda s: (_named(s.name, _DATE_WORDS), s.filled),
    )
    clock = _best([s for s in full if s.kind == "time-of-day"], lambda s: s.filled)
    quantity = _best(
        [
            s
            for s in sketches
            if s.kind == "number" and s.filled >= 0.95 and _named(s.name, _QUANTITY_WORDS)
        ],
        lambda s: s.filled,
    )
    texts = [s for s in full if s.kind in ("text", "number") and s.name != quantity]
    item = _best([s for s in texts if _named(s.name, _ITEM_WORDS)], lambda s: _item_rank(s.name))
    stores = [
        s
        for s in texts
        if s.name != item and _named(s.name, _STORE_WORDS) and _few_values(head[s.name])
    ]
    store = _best(stores, lambda s: s.filled)
    status = _best(
        [s for s in sketches if s.kind == "text" and _marks_lines(head[s.name])],
        lambda s: (_named(s.name, _STATUS_WORDS), s.filled),
    )
    taken = {item, store, date, clock, quantity, status}
    order = None
    if status is not None:
        order = _best(
            [
                s
                for s in full
                if s.name not in taken
                and s.kind in ("text", "number")
                and _status_on_first_line(head[s.name], head[status])
            ],
            lambda s: head[s.name].nunique(),
        )
    keep = tuple(
        s.name
        for s in sketches
        if s.kind == "number"
        and s.filled > 0
        and s.name not in taken
        and _named(s.name, _KEEP_WORDS, inside=True)
        and not looks_like_identifier(s.name, pd.Series(dtype="float64"), False)
    )
    series = [c for c in (item, store) if c]
    return SuggestedMapping(
        duplicates="sum" if date and series and _lines(head, series, date) else "error",
        item_cols=(item,) if item else (),
        store_col=store,
        date_col=date,
        time_of_day_col=clock,
        quantity_col=quantity,
        status_col=status,
        order_col=order,
        keep_cols=keep,
    )


def _best(candidates, key) -> str | None:  # type: ignore[no-untyped-def]
    """The name of the first candidate with the highest key (file order breaks ties)."""
    if not candidates:
        return None
    return max(reversed(candidates), key=key).name  # reversed: max keeps the last of ties


def _item_rank(name: str) -> int:
    """Codes (sku, unique_id) before names (Artikel, product)."""
    words = _words(name)
    return max(
        (len(_ITEM_WORDS) - _ITEM_WORDS.index(w) for w in words if w in _ITEM_WORDS), default=0
    )


def _lines(head: pd.DataFrame, series: list[str], date: str) -> bool:
    """Whether the file has several lines per series and day (a line export, summed per day)."""
    values = head[date]
    days = values if not is_text(values) else parse_dates(values.astype("str")).values
    key = head[series].astype("str").assign(_day=pd.Series(days).dt.normalize().to_numpy())
    return bool(key.duplicated().any())


def _few_values(values: pd.Series) -> bool:
    """Stores repeat: at most a tenth as many distinct values as rows (or at most 50)."""
    distinct = values.nunique()
    return distinct <= max(1, min(50, len(values) // 10))


def _marks_lines(values: pd.Series) -> bool:
    """Whether some cells mark a line as cancelling another (Storno) or as undone (refunded)."""
    cancelling, undone = line_signs(values.fillna("").astype("str"), None)
    return bool(cancelling.any() or undone.any())


def _status_on_first_line(order: pd.Series, status: pd.Series) -> bool:
    """Whether, in every order of several lines, only the first line carries the status.

    That is how Shopify writes an order's fields; a till that writes "Storno" on a later line of
    a receipt does not pass, since that status belongs to its own line only.
    """
    key = order.astype("str").str.strip()
    if key.nunique() == len(key):
        return False
    filled = ~missing_mask(status.fillna("").astype("str"))
    first = ~key.duplicated().to_numpy()
    several = key.duplicated(keep=False).to_numpy()
    return bool(np.all(filled[several] == first[several]))
