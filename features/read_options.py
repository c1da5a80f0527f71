"""ReadOptions: how a sales export is read and how strictly it is checked.

A leaf module (schema only), so both the file reader (`ingest`) and the checks (`validation`)
can take the options without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from features.schema import ID, TARGET, TIME


@dataclass(frozen=True)
class ReadOptions:
    """How to read a sales export; the defaults fit a file already in `unique_id, ds, y` form.

    Attributes:
        id_cols: column(s) naming a series; several are joined with "@" (e.g. sku and store).
        time_col: the date column. target_col: the quantity sold.
        delimiter, decimal: sniffed from the file when None.
        negative: "error" refuses negative quantities; "clip" sets them to 0 with a warning.
        duplicates: "error" refuses repeated (series, date) rows; "sum" adds them up (transaction
            exports) after flooring timestamps to the day.
        min_observations: a series with fewer dated rows is too short to model.
        short_series: "error" refuses short series; "drop" leaves them out with a warning.
        freq: the frequency the dataset will be built at, if known; a file that mixes calendars
            passes when every series can be summed up to it.
        store_col: the store column of a multi-shop export; the id becomes "item@store" and the
            static attributes get `item` and `store`, as in the demo data.
        clock_col: a separate time-of-day column (e.g. "Uhrzeit") added to the date column;
            detected when None and a text column holds only times such as "07:15".
        status_col: a line status column; lines marked as a cancellation (Storno, void, return)
            count as -|quantity|, lines marked as undone (refunded, voided) count 0.
        order_col: the order (receipt) column of an export that writes the status on an order's
            first line only (Shopify); the other lines of the order take that status.
        keep_cols: when given, only these extra columns (and the mapped ones) are read.
        drop_cols: extra columns never read.
    """

    id_cols: tuple[str, ...] = (ID,)
    time_col: str = TIME
    target_col: str = TARGET
    delimiter: str | None = None
    decimal: str | None = None
    encoding: str = "utf-8-sig"
    date_format: str | None = None
    negative: Literal["error", "clip"] = "error"
    duplicates: Literal["error", "sum"] = "error"
    min_observations: int = 3
    short_series: Literal["error", "drop"] = "error"
    freq: str | None = None
    store_col: str | None = None
    clock_col: str | None = None
    status_col: str | None = None
    order_col: str | None = None
    keep_cols: tuple[str, ...] = ()
    drop_cols: tuple[str, ...] = ()

    @property
    def series_cols(self) -> tuple[str, ...]:
        """The columns whose values, joined with "@", name a series (item first, then store)."""
        return (*self.id_cols, self.store_col) if self.store_col else self.id_cols

    @property
    def mapped_cols(self) -> tuple[str, ...]:
        """Every column the options give a role (series, date, time, quantity, status)."""
        roles = (*self.series_cols, self.time_col, self.target_col, self.clock_col)
        return tuple(c for c in (*roles, self.status_col, self.order_col) if c)
