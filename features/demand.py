"""The demand dataset: one regular series per product and store at a chosen frequency.

From a validated `SalesHistory`: sum up to the target periods (D, W, M, Q, Y), fill periods
without a row with 0 sold, start each series at its first sale (no leading zeros), run every
series to the end of the data (a product that stopped selling shows its zeros), and align the
exogenous columns on the same grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import DataError
from features.frequency import (
    closing_weekdays,
    coarser_or_equal,
    covered_through,
    period_alias,
    period_grid,
    to_period_labels,
)
from features.ingest import SalesHistory
from features.manifest import Manifest, content_hash
from features.schema import FREQUENCY_ORDER, ID, TARGET, TIME


@dataclass(frozen=True)
class DemandDataset:
    """A regular demand panel, its static attributes, and the manifest describing both."""

    panel: pd.DataFrame
    static: pd.DataFrame
    manifest: Manifest

    @property
    def freq(self) -> str:
        """Frequency code (D, W, M, Q, Y)."""
        return self.manifest.freq


def is_binary(values: pd.Series) -> bool:
    """Whether a column only holds 0 and 1 (a flag such as promo), ignoring gaps."""
    present = values.dropna()
    return bool(len(present)) and bool(present.isin([0.0, 1.0]).all())


def regular_panel(
    frame: pd.DataFrame,
    alias: str,
    *,
    fill_value: float | None = 0.0,
    end: pd.Timestamp | None = None,
    trim_leading_zeros: bool = True,
    extend_to_end: bool = True,
) -> pd.DataFrame:
    """Put every series on the full grid of `alias` periods, vectorised over all series at once.

    `frame` has unique (unique_id, ds) rows whose ds already sit on the grid. Missing periods get
    `fill_value` (None leaves them NaN); binary exogenous flags get 0, other exogenous values are
    carried forward from the last known period (then back to the first).
    """
    exogenous = [c for c in frame.columns if c not in (ID, TIME, TARGET)]
    grid = period_grid(frame[TIME].min(), end if end is not None else frame[TIME].max(), alias)
    position = grid.get_indexer(frame[TIME])
    if (position < 0).any():
        raise DataError(f"dates off the {alias} grid, e.g. {frame[TIME][position < 0].iloc[0]}")
    codes, uniques = pd.factorize(frame[ID], sort=True)
    y = frame[TARGET].to_numpy(dtype="float64")
    never = len(grid)
    starts_at = np.where(y > 0, position, never) if trim_leading_zeros else position
    first = np.full(len(uniques), never, dtype=np.int64)
    np.minimum.at(first, codes, starts_at)
    if extend_to_end:
        last = np.full(len(uniques), len(grid) - 1, dtype=np.int64)
    else:
        last = np.full(len(uniques), -1, dtype=np.int64)
        np.maximum.at(last, codes, position)
    keep = first < never
    lengths = np.where(keep, last - first + 1, 0)
    offset = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    total = int(lengths.sum())
    out_codes = np.repeat(np.arange(len(uniques)), lengths)
    out_position = np.arange(total) - offset[out_codes] + first[out_codes]

    inside = keep[codes] & (position >= first[codes]) & (position <= last[codes])
    target_index = offset[codes[inside]] + position[inside] - first[codes[inside]]
    y_out = np.full(total, np.nan if fill_value is None else float(fill_value))
    y_out[target_index] = y[inside]
    out = pd.DataFrame(
        {
            ID: pd.Series(np.asarray(uniques, dtype=object)[out_codes], dtype="str"),
            TIME: grid[out_position],
            TARGET: y_out,
        }
    )
    for column in exogenous:
        values = np.full(total, np.nan)
        values[target_index] = frame[column].to_numpy(dtype="float64")[inside]
        series = pd.Series(values)
        if is_binary(series):
            out[column] = series.fillna(0.0)
        else:
            grouped = series.groupby(out_codes)
            out[column] = grouped.ffill().groupby(out_codes).bfill()
    return out


def aggregate_to(
    history: SalesHistory, freq: str, keep_partial_periods: bool
) -> tuple[pd.DataFrame, str, list[str], float]:
    """Sum the native panel up to `freq` periods; drop incomplete periods at either end.

    Returns the aggregated frame, the offset alias of the new grid and notes on what was dropped.
    """
    panel = history.panel
    notes: list[str] = []
    labels = to_period_labels(panel[TIME], history.freq, history.freq_alias, freq)
    alias = history.freq_alias if freq == history.freq else period_alias(freq, None)
    exogenous = history.exogenous
    if freq == history.freq and labels.equals(panel[TIME]):
        return panel, alias, notes, 0.0
    rules = {TARGET: "sum", **{c: "mean" for c in exogenous}}
    frame = panel.assign(**{TIME: labels}).groupby([ID, TIME], as_index=False, sort=True).agg(rules)
    dropped_units = 0.0
    if not keep_partial_periods and freq != history.freq:
        native_step = pd.tseries.frequencies.to_offset(history.freq_alias)
        target_step = pd.tseries.frequencies.to_offset(alias)
        first_native, last_native = panel[TIME].min(), panel[TIME].max()
        closed = closing_weekdays(panel) if history.freq == "D" else ()
        if closed:
            # A week that ends on a regular closing day (a Sunday for many shops) is complete.
            first_native = covered_through(first_native, closed, -1)
            last_native = covered_through(last_native, closed, 1)
        if closed and (first_native, last_native) != (panel[TIME].min(), panel[TIME].max()):
            names = ", ".join(pd.Timestamp(2024, 1, 1 + d).day_name() for d in closed)
            notes.append(
                f"regular closing day(s) {names} (no sales in each of the last weeks) "
                "count as covered when checking that the first and last periods are complete"
            )
        first_label, last_label = frame[TIME].min(), frame[TIME].max()
        partial = []
        if first_native - native_step >= first_label:
            partial.append(first_label)
        if last_native + native_step < last_label + target_step:
            partial.append(last_label)
        if partial:
            cut = frame[TIME].isin(partial)
            dropped_units = float(frame.loc[cut, TARGET].sum())
            frame = frame[~cut].reset_index(drop=True)
            shown = ", ".join(p.date().isoformat() for p in partial)
            notes.append(
                f"incomplete {freq} period(s) starting {shown} left out "
                f"({dropped_units:g} units): the data does not cover them fully"
            )
    return frame, alias, notes, dropped_units


def build_demand_dataset(
    history: SalesHistory,
    *,
    freq: str | None = None,
    fill_value: float | None = 0.0,
    extend_to_end: bool = True,
    keep_partial_periods: bool = False,
) -> DemandDataset:
    """Build the regular demand panel at `freq` (native when None) from a validated history.

    Raises:
        DataError: `freq` is unknown or finer than the data (days cannot be made of weeks).
    """
    freq = (freq or history.freq).upper()
    if freq not in FREQUENCY_ORDER:
        raise DataError(f"unknown frequency '{freq}'; choose one of {', '.join(FREQUENCY_ORDER)}")
    if not coarser_or_equal(freq, history.freq):
        raise DataError(
            f"cannot build {freq} periods from {history.freq} data: sales can be summed up to "
            "coarser periods, never split into finer ones"
        )
    frame, alias, notes, dropped_units = aggregate_to(history, freq, keep_partial_periods)
    if frame.empty:
        raise DataError(f"no complete {freq} period in the data; choose a finer frequency")
    panel = regular_panel(frame, alias, fill_value=fill_value, extend_to_end=extend_to_end)
    never_sold = sorted(set(history.panel[ID]) - set(panel[ID]))
    if never_sold:
        notes.append(
            f"{len(never_sold)} series never sold and were left out: {', '.join(never_sold[:5])}"
        )
    static = history.static[history.static[ID].isin(panel[ID].unique())].reset_index(drop=True)
    manifest = Manifest(
        kind="demand",
        freq=freq,
        freq_alias=alias,
        n_series=int(panel[ID].nunique()),
        n_rows=len(panel),
        start=panel[TIME].min().date().isoformat(),
        end=panel[TIME].max().date().isoformat(),
        content_hash=content_hash(panel, static),
        columns=list(panel.columns),
        exogenous=[c for c in panel.columns if c not in (ID, TIME, TARGET)],
        sources=[vars(source) for source in history.sources],
        parameters={
            "fill_value": fill_value,
            "extend_to_end": extend_to_end,
            "keep_partial_periods": keep_partial_periods,
            "native_freq": history.freq,
        },
        notes=[*history.notes, *notes],
        units_sold=float(panel[TARGET].sum()),
        dropped_units=dropped_units,
    )
    return DemandDataset(panel=panel, static=static, manifest=manifest)
