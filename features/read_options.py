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
