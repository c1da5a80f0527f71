"""Read sales and attribute files (CSV or Parquet) into the canonical long frames.

`read_sales` is the front door for whatever a till or web shop exports: any delimiter, decimal
comma, UTF-8 with or without BOM, a column mapping for exports that say `sku, date, qty`, and
line exports whose extra columns are sorted out by `features.columns`. Every
problem found is collected into one `DataValidationError` naming file, column, rows and series;
a user's mistake never escapes as a raw pandas or pyarrow traceback.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.attributes import validate_attributes
from features.columns import select_columns
from features.errors import DataProblem, DataValidationError
from features.raw_files import COMPRESSED, check_regular, check_width, read_bytes
from features.read_options import ReadOptions
from features.schema import ID, TARGET, TIME
from features.validation import validate_sales

_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 64 * 1024
#: A file already in `unique_id, ds, y` form (ReadOptions is frozen, so one shared default).
_DEFAULT_OPTIONS = ReadOptions()


@dataclass(frozen=True)
class SourceFile:
    """A file that went into a dataset, identified by its content hash."""

    path: str
    sha256: str
    bytes: int

    @classmethod
    def of(cls, path: Path) -> SourceFile:
        """Fingerprint a file on disk."""
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return cls(path=str(path), sha256=digest.hexdigest(), bytes=path.stat().st_size)


@dataclass(frozen=True)
class SalesHistory:
    """A validated sales history: the long panel at its native frequency plus static attributes."""

    panel: pd.DataFrame
    static: pd.DataFrame
    freq: str
    freq_alias: str
    sources: tuple[SourceFile, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def exogenous(self) -> list[str]:
        """Names of the exogenous columns (everything beyond unique_id, ds, y)."""
        return [c for c in self.panel.columns if c not in (ID, TIME, TARGET)]


def _problem(code: str, message: str, path: Path, **kwargs: object) -> DataValidationError:
    return DataValidationError([DataProblem(code, message, file=str(path), **kwargs)])  # type: ignore[arg-type]


def _sniff_delimiter(sample: str) -> str:
    """The field delimiter of a CSV sample: the csv sniffer, then the most consistent candidate."""
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        lines = [line for line in sample.splitlines()[:20] if line.strip()]
        counts = {d: [line.count(d) for line in lines] for d in _DELIMITERS}
        usable = {d: c for d, c in counts.items() if c and c[0] > 0}
        if not usable:
            return ","
        return max(usable, key=lambda d: (len(set(usable[d])) == 1, usable[d][0]))


def _read_csv_text(path: Path, options: ReadOptions) -> pd.DataFrame:
    """Every cell of a CSV file as text, with file-level problems turned into located errors."""
    raw = read_bytes(path)
    if not raw.strip():
        raise _problem("empty_file", "the file is empty", path, hint="export the sales again")
    try:
        sample = raw[:_SNIFF_BYTES].decode(options.encoding, errors="strict")
    except UnicodeDecodeError as err:
        if len(raw) > _SNIFF_BYTES and err.start >= _SNIFF_BYTES - 4:
            sample = raw[: err.start].decode(options.encoding)
        else:
            raise _not_text(path, raw, err, options.encoding) from None
    except LookupError:
        raise _problem("bad_option", f"unknown text encoding '{options.encoding}'", path) from None
    delimiter = options.delimiter or _sniff_delimiter(sample)
    check_width(sample, delimiter, path)
    try:
        try:
            table = _read_csv_cells(raw, delimiter, options.encoding)
        except pd.errors.ParserWarning:
            row, trailing_only = _first_long_row(sample, delimiter)
            if not trailing_only:
                raise _malformed(
                    path, "a row has more fields than the header has columns", row
                ) from None
            # Tills that end every data row with a delimiter: the empty last field is dropped.
            width = len(next(csv.reader(io.StringIO(sample), delimiter=delimiter)))
            table = _read_csv_cells(raw, delimiter, options.encoding, usecols=range(width))
    except UnicodeDecodeError as err:
        raise _not_text(path, raw, err, options.encoding) from None
    except pd.errors.ParserError as err:
        detail = re.sub(r"^Error tokenizing data\. C error: ", "", str(err)).strip()
        line = re.search(r"line (\d+)", detail)
        quote = re.search(r"string starting at row (\d+)", detail)
        row = int(line.group(1)) if line else int(quote.group(1)) + 1 if quote else None
        if quote:
            detail = "a quote is opened and never closed"
        raise _malformed(path, detail, row) from None
    except pd.errors.EmptyDataError:
        raise _problem(
            "empty_file", "the file has no header and no rows", path, hint="export it again"
        ) from None
    blank = [c for c in table.columns if str(c).startswith("Unnamed: ") and table[c].eq("").all()]
    table = table.drop(columns=blank)  # a trailing delimiter on every line adds a nameless column
    table.columns = [str(c).strip() for c in table.columns]
    table.attrs["delimiter"] = delimiter
    return table


def _read_csv_cells(
    raw: bytes, delimiter: str, encoding: str, usecols: range | None = None
) -> pd.DataFrame:
    """Every cell as text; rows with an extra field raise ParserWarning instead of shifting."""
    with warnings.catch_warnings():
        # index_col=False stops pandas from silently turning a first column into the index
        # when a row has one field too many; it warns instead, and the caller decides.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        return pd.read_csv(
            io.BytesIO(raw),
            sep=delimiter,
            dtype="str",
            keep_default_na=False,
            na_filter=False,
            encoding=encoding,
            skip_blank_lines=True,
            index_col=False,
            usecols=usecols,
        )


def _malformed(path: Path, detail: str, row: int | None) -> DataValidationError:
    return _problem(
        "malformed_csv",
        f"the file is not a well-formed table: {detail}",
        path,
        rows=(row,) if row else (),
        hint="check that row for a stray delimiter or an unclosed quote",
    )


def _first_long_row(sample: str, delimiter: str) -> tuple[int | None, bool]:
    """The first row with more fields than the header, and whether every such extra is empty."""
    rows = csv.reader(io.StringIO(sample), delimiter=delimiter)
    header = next(rows, [])
    first, trailing_only = None, True
    for number, fields in enumerate(rows, start=2):
        if len(fields) > len(header):
            first = first or number
            trailing_only = trailing_only and all(not f.strip() for f in fields[len(header) :])
    return first, trailing_only and first is not None


def _not_text(
    path: Path, raw: bytes, err: UnicodeDecodeError, encoding: str
) -> DataValidationError:
    line = raw[: err.start].count(b"\n") + 1
    return _problem(
        "not_utf8",
        f"the file is not {encoding} text (byte 0x{raw[err.start]:02x} on line {line})",
        path,
        rows=(line,),
        hint="save it as UTF-8, or pass the encoding it was written in (e.g. --encoding cp1252)",
    )


def _read_parquet_text(path: Path) -> pd.DataFrame:
    """A Parquet file as a frame; dates and numbers keep their types, zoned times become local."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as err:
        raise _problem(
            "not_parquet",
            f"the file cannot be read as Parquet ({err})",
            path,
            hint="export it again as Parquet, or as CSV with a .csv name",
        ) from None
    frame = table.to_pandas()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_localize(None)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def read_table(path: str | Path, options: ReadOptions = _DEFAULT_OPTIONS) -> pd.DataFrame:
    """Read a CSV (text cells) or Parquet (typed cells) file, or raise a located error."""
    path = Path(path)
    check_regular(path)
    suffix = "".join(path.suffixes[-2:]).lower()
    compressed = tuple(f"{kind}{ext}" for kind in (".csv", ".txt", ".tsv") for ext in COMPRESSED)
    if suffix.endswith((".parquet", ".pq")):
        frame = _read_parquet_text(path)
    elif (
        suffix.endswith((".csv", ".txt", ".tsv", ".gz", ".bz2", ".zip", *compressed))
        or not path.suffix
    ):
        frame = _read_csv_text(path, options)
    else:
        raise _problem(
            "unsupported_format",
            f"files of type '{path.suffix}' are not supported",
            path,
            hint="export the sales as CSV or Parquet",
        )
    if frame.empty:
        raise _problem(
            "empty_file",
            "the file has a header but no rows",
            path,
            hint="export a period that has sales",
        )
    return frame


def rename_columns(
    frame: pd.DataFrame, options: ReadOptions, path: Path, *, needs_target: bool = True
) -> pd.DataFrame:
    """Map the export's column names onto unique_id, ds, y, naming any that are missing.

    With a store column the id becomes "item@store" and `item` and `store` are kept beside it,
    so they become static attributes as in the demo data.
    """
    series_cols = options.series_cols
    roles = [options.time_col] + ([options.target_col] if needs_target else [])
    roles += [c for c in (options.clock_col, options.status_col, options.order_col) if c]
    missing = [c for c in [*series_cols, *roles] if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:12]))
        flags = {
            options.time_col: "--time-col",
            options.target_col: "--target-col",
            options.store_col: "--store-col",
            options.clock_col: "--time-of-day-col",
            options.status_col: "--status-col",
            options.order_col: "--order-col",
        }
        raise _problem(
            "missing_columns",
            f"required column(s) {', '.join(repr(c) for c in missing)} not found; "
            f"the file has: {found}",
            path,
            hint="rename them in the file or map them, e.g. "
            + " ".join(f"{flags.get(c, '--id-col')} <name>" for c in missing),
        )
    frame = frame.copy()
    if options.store_col:
        item = _joined(frame, options.id_cols)
        store = frame[options.store_col].astype("str").str.strip()
        replaced = [c for c in ("item", "store") if c in frame.columns and c not in series_cols]
        frame = frame.drop(columns=replaced)
        frame["item"], frame["store"] = item, store
    if len(series_cols) > 1:
        joined = _joined(frame, series_cols)
        frame = frame.drop(columns=[c for c in series_cols if c not in ("item", "store")])
        frame = frame.drop(columns=[ID], errors="ignore")
        frame.insert(0, ID, joined)
    elif series_cols[0] != ID:
        frame = frame.drop(columns=[ID], errors="ignore").rename(columns={series_cols[0]: ID})
    renames = {options.time_col: TIME}
    if needs_target:
        renames[options.target_col] = TARGET
    clash = [new for old, new in renames.items() if old != new and new in frame.columns]
    frame = frame.drop(columns=clash).rename(columns=renames)
    return frame


def _joined(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """The values of `columns` joined with "@" (a product in a store: "croissant@shop-1")."""
    parts = [frame[c].astype("str").str.strip() for c in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "@" + part
    return joined


def read_sales(
    sales: str | Path,
    attributes: str | Path | None = None,
    options: ReadOptions = _DEFAULT_OPTIONS,
) -> SalesHistory:
    """Read, check and normalise a sales export (and its optional attributes table).

    Raises:
        DataValidationError: every problem found, each naming the file, column, rows and series.
    """
    sales_path = Path(sales)
    table = read_table(sales_path, options)
    attribute_table = None
    sources = [SourceFile.of(sales_path)]
    if attributes is not None:
        attribute_table = read_table(Path(attributes), options)
        sources.append(SourceFile.of(Path(attributes)))
    return sales_from_frames(
        table,
        attribute_table,
        options,
        source=str(sales_path),
        attributes_source=str(attributes) if attributes is not None else None,
        sources=tuple(sources),
    )


def sales_from_frames(
    sales: pd.DataFrame,
    attributes: pd.DataFrame | None = None,
    options: ReadOptions = _DEFAULT_OPTIONS,
    *,
    source: str = "<sales frame>",
    attributes_source: str | None = None,
    sources: tuple[SourceFile, ...] = (),
) -> SalesHistory:
    """Check and normalise sales (and attributes) already in memory, e.g. in a notebook.

    Raises:
        DataValidationError: every problem found, each naming the column, rows and series.
    """
    delimiter = options.delimiter or sales.attrs.get("delimiter")
    selected, notes = select_columns(sales, options, Path(source))
    table = rename_columns(selected, options, Path(source))
    checked = validate_sales(table, options, source, delimiter=delimiter)
    static = checked.static
    notes.extend(checked.notes)
    if attributes is not None:
        where = attributes_source or "<attributes frame>"
        attribute_table = _rename_attribute_ids(attributes, options, Path(where))
        static, attribute_notes = validate_attributes(attribute_table, checked.panel, static, where)
        notes.extend(attribute_notes)
    return SalesHistory(
        panel=checked.panel,
        static=static,
        freq=checked.freq,
        freq_alias=checked.freq_alias,
        sources=sources,
        notes=tuple(notes),
    )


def _rename_attribute_ids(frame: pd.DataFrame, options: ReadOptions, path: Path) -> pd.DataFrame:
    """Attribute tables use the same id column(s) as the sales file, or already say unique_id."""
    series_cols = options.series_cols
    if ID in frame.columns and (
        len(series_cols) == 1 or not all(c in frame.columns for c in series_cols)
    ):
        return frame.astype("str")
    missing = [c for c in series_cols if c not in frame.columns]
    if missing:
        raise _problem(
            "missing_columns",
            f"the attributes table needs the series column(s) {', '.join(map(repr, missing))} "
            f"(or '{ID}'); it has: {', '.join(map(str, frame.columns[:12]))}",
            path,
        )
    frame = frame.astype("str")
    if len(series_cols) > 1:
        frame.insert(0, ID, _joined(frame, series_cols))
        return frame
    return frame.rename(columns={series_cols[0]: ID})


def id_columns(values: Sequence[str] | str | None) -> tuple[str, ...]:
    """Normalise an --id-col value (one name, a comma list or several flags) to a tuple."""
    if values is None:
        return (ID,)
    if isinstance(values, str):
        values = [values]
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return tuple(names) or (ID,)
