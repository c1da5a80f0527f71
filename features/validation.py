"""Check a sales table cell by cell and series by series, collecting every problem with its place.

Row numbers in reports count as a spreadsheet does: the header is row 1, the first sale row 2.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.columns import (
    detected_clock,
    line_signs,
    net_day_totals,
    parse_clock,
    sort_extra_columns,
)
from features.errors import DataProblem, DataValidationError, DataWarning
from features.frequency import coarser_or_equal, infer_native_frequency, period_alias
from features.parsing import (
    cell_examples,
    detect_decimal_comma,
    is_text,
    missing_mask,
    offset_minutes,
    parse_dates,
    parse_numbers,
)
from features.read_options import ReadOptions
from features.schema import ID, TARGET, TIME


@dataclass(frozen=True)
class CheckedSales:
    """The outcome of `validate_sales`: a clean panel, static columns found in it, and notes."""

    panel: pd.DataFrame
    static: pd.DataFrame
    freq: str
    freq_alias: str
    notes: tuple[str, ...]


def located_rows(mask: np.ndarray, row_numbers: np.ndarray) -> dict[str, object]:
    """Location fields of a problem: the first offending spreadsheet rows and their count."""
    hits = row_numbers[mask]
    return {"rows": tuple(int(r) for r in hits[:20]), "count": int(hits.size)}


def offending_ids(mask: np.ndarray, ids: pd.Series) -> tuple[str, ...]:
    return tuple(str(u) for u in pd.unique(ids[mask].dropna())[:20])


def validate_sales(
    table: pd.DataFrame, options: ReadOptions, source: str, *, delimiter: str | None = None
) -> CheckedSales:
    """Check a renamed sales table; return the canonical panel or raise every problem at once."""
    problems: list[DataProblem] = []
    notes: list[str] = []
    table = table.reset_index(drop=True)
    row_numbers = np.arange(len(table)) + 2

    # Name columns as the user's file does ("qty", not "y") so they can find them.
    labels = {ID: "+".join(options.series_cols), TIME: options.time_col, TARGET: options.target_col}

    def report(code: str, message: str, column: str | None, mask: np.ndarray, hint: str) -> None:
        problems.append(
            DataProblem(
                code,
                message,
                file=source,
                column=labels.get(column, column) if column else None,
                unique_ids=offending_ids(mask & ~bad_id, ids),
                hint=hint,
                **located_rows(mask, row_numbers),  # type: ignore[arg-type]
            )
        )

    ids = table[ID].astype("str").str.strip()
    bad_id = missing_mask(ids)
    if bad_id.any():
        report("missing_id", f"{bad_id.sum()} row(s) have no series id", ID, bad_id, "fill it in")

    # Dates.
    if pd.api.types.is_datetime64_any_dtype(table[TIME]):
        ds = table[TIME].astype("datetime64[us]")
        bad_date = ds.isna().to_numpy()
        if bad_date.any():
            report("missing_date", f"{bad_date.sum()} row(s) have no date", TIME, bad_date, "")
    else:
        dates_text = table[TIME].astype("str")
        parsed = parse_dates(dates_text, date_format=options.date_format)
        ds = parsed.values
        notes.extend(parsed.notes)
        if parsed.missing.any():
            report(
                "missing_date",
                f"{parsed.missing.sum()} row(s) have no date",
                TIME,
                parsed.missing,
                "fill in the date of each sale",
            )
        if parsed.invalid.any():
            report(
                "bad_date",
                f"{parsed.invalid.sum()} date(s) could not be read, "
                f"e.g. {cell_examples(parsed.invalid, dates_text)}",
                TIME,
                parsed.invalid,
                "write dates as YYYY-MM-DD, or pass --date-format (e.g. %d.%m.%Y)",
            )
        zoned = parsed.tz_aware
        dated = ~parsed.missing & ~parsed.invalid
        spread = _offset_spread(parsed.offsets)
        if zoned.any() and (~zoned & dated).any():
            report(
                "mixed_timezones",
                "some timestamps carry a time zone and others do not, e.g. "
                f"{cell_examples(zoned, dates_text)} next to "
                f"{cell_examples(~zoned & dated, dates_text)}",
                TIME,
                ~zoned & dated,
                "export every timestamp in the same zone (or all without one)",
            )
        elif spread > 60:
            report(
                "mixed_timezones",
                f"timestamps come from different time zones ({', '.join(parsed.offsets)})",
                TIME,
                zoned,
                "export every timestamp in the shop's local time",
            )
        elif zoned.any():
            notes.append(
                f"time-zone offsets ({', '.join(parsed.offsets)}) dropped: each timestamp counts "
                "on its wall-clock date in its own offset (the shop's local date)"
            )
        bad_date = parsed.missing | parsed.invalid

    roles = (ID, TIME, TARGET, options.status_col, options.order_col)
    extra = [c for c in table.columns if c not in roles]
    clock = options.clock_col or detected_clock(table, extra, ds)
    if clock is not None:
        extra.remove(clock)
        times, bad_time = parse_clock(table[clock])
        if bad_time.any():
            report(
                "bad_time",
                f"{bad_time.sum()} time(s) of day could not be read, e.g. "
                f"{cell_examples(bad_time, table[clock].astype('str'))}",
                clock,
                bad_time,
                "write times of day as HH:MM or HH:MM:SS",
            )
        ds = ds + times
        bad_date = bad_date | bad_time
        if options.clock_col is None:
            notes.append(f"times of day in column '{clock}' were added to the dates")

    # Quantities and other numeric columns.
    text_numeric = [table[c].astype("str") for c in [TARGET, *extra] if is_text(table[c])]
    decimal = options.decimal or (
        "," if delimiter != "," and detect_decimal_comma(text_numeric) else "."
    )
    y, bad_y = _check_target(table[TARGET], decimal, report)
    cancelling = undone = np.zeros(len(table), dtype=bool)
    if options.status_col:
        order = table[options.order_col] if options.order_col else None
        cancelling, undone = line_signs(table[options.status_col], order)
        y = y.where(~cancelling, -y.abs()).where(~undone, 0.0)
    netted = (y < 0).to_numpy() | undone
    if options.duplicates != "sum":
        y, bad_negative = _check_negative_rows(y, table[TARGET], report, options, notes)
        bad_y = bad_y | bad_negative

    good_id = ~bad_id
    day = pd.DataFrame({ID: ids, TIME: ds.dt.normalize()})[good_id & ~bad_date]
    transaction_log = bool(day.duplicated().any())
    exogenous, static_columns = sort_extra_columns(
        table, extra, ids, good_id, decimal, transaction_log, report, options, notes
    )

    panel = pd.DataFrame({ID: ids, TIME: ds, TARGET: y, **exogenous})
    usable = ~(bad_id | bad_date | bad_y)
    panel = panel[usable]
    usable_rows = row_numbers[usable]

    has_time = panel[TIME].ne(panel[TIME].dt.normalize()).to_numpy()
    if options.duplicates == "sum":
        panel = panel.assign(**{TIME: panel[TIME].dt.normalize()})
        day_total = panel.groupby([ID, TIME], sort=False)[TARGET].transform("sum")
        negative_day = (day_total < 0).to_numpy()
        if negative_day.any() and options.negative == "error":
            problems.append(
                DataProblem(
                    "negative_y",
                    f"{panel[negative_day][[ID, TIME]].drop_duplicates().shape[0]} day(s) "
                    "have a negative net quantity (more returned or voided than sold)",
                    file=source,
                    column=labels[TARGET],
                    rows=tuple(int(r) for r in usable_rows[negative_day][:20]),
                    count=int(negative_day.sum()),
                    unique_ids=tuple(pd.unique(panel[ID][negative_day])[:20]),
                    hint="pass --negative clip to count those days as 0 sold",
                )
            )
    elif has_time.any():
        problems.append(
            DataProblem(
                "time_of_day",
                "timestamps carry a time of day, e.g. "
                f"{panel[TIME][has_time].iloc[0]}; Anticipate works with days or longer periods",
                file=source,
                column=labels[TIME],
                rows=tuple(int(r) for r in usable_rows[has_time][:20]),
                count=int(has_time.sum()),
                hint="pass --duplicates sum to add up the transactions of each day",
            )
        )

    duplicated = panel.duplicated([ID, TIME], keep=False).to_numpy()
    if duplicated.any() and options.duplicates == "error":
        problems.append(
            DataProblem(
                "duplicate_rows",
                f"{duplicated.sum()} rows repeat a (series, date) pair",
                file=source,
                column=f"{labels[ID]}, {labels[TIME]}",
                rows=tuple(int(r) for r in usable_rows[duplicated][:20]),
                count=int(duplicated.sum()),
                unique_ids=tuple(pd.unique(panel[ID][duplicated])[:20]),
                hint="remove the repeats, or pass --duplicates sum to add them up",
            )
        )
    elif duplicated.any():
        rules = {TARGET: "sum", **{c: "mean" for c in exogenous}}
        panel = panel.groupby([ID, TIME], as_index=False, sort=False).agg(rules)
        notes.append(f"{duplicated.sum()} rows sharing a series and day were added up")

    if problems:
        raise DataValidationError(problems, source=source)
    if options.duplicates == "sum":
        panel = net_day_totals(panel, int(netted[usable].sum()), options, notes)

    panel = panel.sort_values([ID, TIME], ignore_index=True)
    panel = _check_length(panel, options, source, notes)
    freq, alias = _check_frequency(panel, options, source, notes)
    static = _static_from_sales(table, ids, usable, static_columns, panel)
    panel[ID] = panel[ID].astype("str")
    return CheckedSales(panel=panel, static=static, freq=freq, freq_alias=alias, notes=tuple(notes))


def _offset_spread(offsets: tuple[str, ...]) -> int:
    minutes = [offset_minutes(o) for o in offsets]
    return max(minutes) - min(minutes) if minutes else 0


def _check_target(column, decimal, report):  # type: ignore[no-untyped-def]
    """Parse y and report missing, non-numeric and infinite quantities."""
    if is_text(column):
        parsed = parse_numbers(column.astype("str"), decimal=decimal)
        y, missing, invalid = parsed.values, parsed.missing, parsed.invalid
        text = column.astype("str")
    else:
        y = pd.to_numeric(column, errors="coerce").astype("float64")
        missing, invalid = y.isna().to_numpy(), np.zeros(len(y), dtype=bool)
        text = column.astype("str")
    if missing.any():
        report(
            "missing_y",
            f"{missing.sum()} row(s) have no quantity",
            TARGET,
            missing,
            "write 0 for days without sales, or remove the rows",
        )
    if invalid.any():
        report(
            "non_numeric_y",
            f"{invalid.sum()} quantities are not numbers, e.g. {cell_examples(invalid, text)}",
            TARGET,
            invalid,
            "write plain numbers; for a decimal comma in a comma-separated file pass --decimal ,",
        )
    infinite = np.isinf(y.to_numpy())
    if infinite.any():
        report("non_finite_y", "quantities are infinite", TARGET, infinite, "fix those cells")
    return y, missing | invalid | infinite


def _check_negative_rows(y, column, report, options, notes):  # type: ignore[no-untyped-def]
    """One row per day: refuse negative quantities, or clip them to 0 with a warning."""
    negative = (y < 0).to_numpy()
    if negative.any() and options.negative == "error":
        report(
            "negative_y",
            f"{negative.sum()} quantities are negative, e.g. "
            f"{cell_examples(negative, column.astype('str'))}",
            TARGET,
            negative,
            "remove returns from the export, or pass --negative clip to count them as 0 sold",
        )
        return y, negative
    if negative.any():
        message = f"{negative.sum()} negative quantities were set to 0 (--negative clip)"
        warnings.warn(message, DataWarning, stacklevel=4)
        notes.append(message)
        y = y.clip(lower=0)
    return y, np.zeros(len(y), dtype=bool)


def _check_length(
    panel: pd.DataFrame, options: ReadOptions, source: str, notes: list[str]
) -> pd.DataFrame:
    counts = panel.groupby(ID, sort=False)[TIME].size()
    short = counts[counts < options.min_observations]
    if short.empty:
        return panel
    if options.short_series == "error":
        raise DataValidationError(
            [
                DataProblem(
                    "short_series",
                    f"{len(short)} series have fewer than {options.min_observations} dated rows, "
                    "too short to model",
                    file=source,
                    unique_ids=tuple(short.index.astype("str")[:20]),
                    hint="add more history, or pass --short-series drop to leave them out",
                )
            ],
            source=source,
        )
    message = (
        f"{len(short)} series with fewer than {options.min_observations} rows were left out: "
        + ", ".join(map(str, short.index[:5]))
    )
    warnings.warn(message, DataWarning, stacklevel=3)
    notes.append(message)
    return panel[~panel[ID].isin(short.index)].reset_index(drop=True)


def _check_frequency(
    panel: pd.DataFrame, options: ReadOptions, source: str, notes: list[str]
) -> tuple[str, str]:
    native = infer_native_frequency(panel)
    if native.code is not None and native.anchor is not None:
        return native.code, period_alias(native.code, native.anchor)
    kinds = set(native.per_series[native.per_series != ""])
    target = options.freq
    if target is not None and all(coarser_or_equal(target, k) for k in kinds):
        finest = min(kinds, key="DWMQY".index)
        notes.append(f"{native.problem}; all are summed up to {target} periods as asked")
        return finest, period_alias(finest, None)
    raise DataValidationError(
        [
            DataProblem(
                "inconsistent_frequency",
                str(native.problem),
                file=source,
                column=options.time_col,
                unique_ids=native.offending_ids[:20],
                hint="export all series at one frequency, or build at a coarser one with --freq",
            )
        ],
        source=source,
    )


def _static_from_sales(
    table: pd.DataFrame,
    ids: pd.Series,
    usable: np.ndarray,
    columns: list[str],
    panel: pd.DataFrame,
) -> pd.DataFrame:
    """Text columns that are fixed per series (category, store...) become static attributes."""
    frame = pd.DataFrame({ID: ids[usable]})
    for column in columns:
        frame[column] = table[column][usable].astype("str").str.strip()
    frame = frame.drop_duplicates(ID)
    frame = frame[frame[ID].isin(panel[ID].unique())]
    return frame.sort_values(ID, ignore_index=True).astype("str")
