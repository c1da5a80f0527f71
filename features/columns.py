"""Which columns of a sales export are read, and what the lines of a till or web shop mean.

Exports carry many columns a forecast must not use: e-mail addresses, notes, receipt and order
numbers. The rules, applied in this order (the README repeats them):

- `drop_cols` are never read. With `keep_cols`, only those and the mapped columns (series,
  store, date, time of day, quantity, status) are read; the others are ignored with one note.
- An extra text column that varies within a series is ignored with a note (one that is fixed
  per series becomes a static attribute; one whose cells are mostly numbers is a numeric
  column with bad cells, and refused with their rows).
- A numeric column that looks like an identifier is ignored with a note rather than becoming an
  exogenous variable: its name holds a word such as receipt, order, id, number, nr, Beleg, Bon,
  invoice, transaction, zip or phone; or the file is a transaction log (several lines per series
  and day) and the column holds whole numbers of which more than a third are distinct. Naming
  the column with `keep_cols` keeps it.
- A status column marks cancelling lines (a Storno, void or return line that undoes another:
  it counts as -|quantity|) and undone lines (an order refunded or voided as a whole: it counts
  0). Partial refunds count as sold. Shopify writes the status on an order's first line only:
  with an order column, the order's other lines take that status.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import DataProblem, DataValidationError, DataWarning
from features.parsing import cell_examples, is_text, parse_numbers
from features.read_options import ReadOptions
from features.schema import TARGET

_ID_WORDS = frozenset(
    {
        "id", "ids", "no", "nr", "num", "number", "nummer", "receipt", "order", "invoice",
        "beleg", "bon", "ticket", "transaction", "txn", "zip", "plz", "postcode", "postal",
        "phone", "telefon", "tel", "mobile", "ean", "gtin", "upc", "barcode", "rechnung",
        "auftrag", "bestellung",
    }
)  # fmt: skip
_ID_SUFFIXES = ("nummer", "nr")
_WORD = re.compile(r"[A-ZÄÖÜ]?[a-zäöüß]+|[A-ZÄÖÜ]+(?![a-zäöüß])|\d+")
_TRUE_FALSE = {"true": "1", "false": "0", "yes": "1", "no": "0", "y": "1", "n": "0"}
_CLOCK = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")

#: Status words of a line that undoes another line (it counts as -|quantity|).
CANCELLING = frozenset(
    {"storno", "void", "return", "retour", "retoure", "rückgabe", "refund", "erstattung",
     "cancellation", "korrektur", "gutschrift"}
)  # fmt: skip
#: Status words of a line that was itself undone (it counts as 0).
UNDONE = frozenset(
    {"refunded", "voided", "cancelled", "canceled", "storniert", "returned", "erstattet"}
)
_PARTIAL = frozenset({"partially", "partial", "teilweise", "teil"})


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def select_columns(
    frame: pd.DataFrame, options: ReadOptions, path: Path
) -> tuple[pd.DataFrame, list[str]]:
    """Drop `drop_cols`, and with `keep_cols` every unmapped column not named; note what went."""
    named = [*options.keep_cols, *options.drop_cols]
    unknown = [c for c in dict.fromkeys(named) if c not in frame.columns]
    if unknown:
        raise DataValidationError(
            [
                DataProblem(
                    "missing_columns",
                    f"column(s) {', '.join(map(repr, unknown))} named by --keep-col/--drop-col "
                    f"not found; the file has: {', '.join(map(str, frame.columns[:40]))}",
                    file=str(path),
                    hint="spell the column as the file's header does",
                )
            ]
        )
    mapped = set(options.mapped_cols)
    drop = [c for c in options.drop_cols if c not in mapped]
    notes = []
    if options.keep_cols:
        wanted = mapped | set(options.keep_cols)
        ignored = [c for c in frame.columns if c not in wanted and c not in drop]
        if ignored:
            notes.append(
                f"{len(ignored)} column(s) ignored (not named by --keep-col): {', '.join(ignored)}"
            )
        drop += ignored
    return frame.drop(columns=drop), notes


def looks_like_identifier(name: str, values: pd.Series, transaction_log: bool) -> bool:
    """Whether a numeric column names things (receipts, orders, zip codes), not a demand driver.

    See the module docstring for the rule.
    """
    words = _words(name)
    if any(w in _ID_WORDS or w.endswith(_ID_SUFFIXES) for w in words):
        return True
    present = values.dropna()
    if not transaction_log or len(present) < 20:
        return False
    whole = bool(np.all(np.mod(present.to_numpy(dtype="float64"), 1) == 0))
    return whole and present.nunique() > len(present) / 3


def is_clock_column(text: pd.Series) -> bool:
    """Whether every filled cell is a time of day such as "07:15" or "07:15:02"."""
    filled = text.astype("str").str.strip()
    filled = filled[filled != ""]
    return bool(len(filled)) and bool(filled.str.match(_CLOCK).all())


def parse_clock(text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Times of day as timedeltas (blank cells are midnight) and the cells that are not times."""
    cleaned = text.astype("str").str.strip()
    blank = (cleaned == "").to_numpy()
    padded = cleaned.where(~cleaned.str.match(r"^\d{1,2}:\d{2}$"), cleaned + ":00")
    values = pd.to_timedelta(padded.where(~blank, "0:00:00"), errors="coerce")
    invalid = values.isna().to_numpy() | ~(cleaned.str.match(_CLOCK).to_numpy() | blank)
    invalid |= (values >= pd.Timedelta(days=1)).to_numpy()
    return values.where(~invalid, pd.Timedelta(0)), invalid


def line_signs(status: pd.Series, order: pd.Series | None) -> tuple[np.ndarray, np.ndarray]:
    """Per line: whether its status marks it as cancelling another line, or as undone itself.

    With an order column, a line with a blank status takes the status of its order.
    """
    status = status.astype("str").str.strip()
    if order is not None:
        given = status.where(status != "", None)
        status = given.groupby(order.astype("str"), sort=False).transform("first").fillna("")
    words = status.str.lower().map(_words)
    partial = words.map(lambda ws: any(w in _PARTIAL for w in ws)).to_numpy(dtype=bool)
    undone = words.map(lambda ws: any(w in UNDONE for w in ws)).to_numpy(dtype=bool) & ~partial
    cancelling = words.map(
        lambda ws: any(w in CANCELLING or w.endswith("storno") for w in ws)
    ).to_numpy(dtype=bool)
    return cancelling & ~undone & ~partial, undone


def detected_clock(table: pd.DataFrame, extra: list[str], ds: pd.Series) -> str | None:
    """A text column holding only times of day, when the dates themselves carry none."""
    dated = ds.dropna()
    if dated.empty or dated.ne(dated.dt.normalize()).any():
        return None
    return next((c for c in extra if is_text(table[c]) and is_clock_column(table[c])), None)


def sort_extra_columns(  # type: ignore[no-untyped-def]
    table, extra, ids, good_id, decimal, transaction_log, report, options, notes
) -> tuple[dict[str, pd.Series], list[str]]:
    """Sort extra columns into exogenous numbers, static attributes and ignored columns.

    The rules are in `features.columns`; a column named by keep_cols is never ignored.
    """
    exogenous: dict[str, pd.Series] = {}
    static_columns: list[str] = []
    ignored: dict[str, list[str]] = {"text": [], "identifier": [], "empty": []}
    kept = set(options.keep_cols)
    for column in extra:
        values = table[column]
        if not is_text(values):
            numbers = values.astype("float64")
        else:
            text = values.astype("str").str.strip()
            parsed = parse_numbers(text.str.lower().replace(_TRUE_FALSE), decimal=decimal)
            numbers = parsed.values
            if parsed.invalid.any():
                if text[good_id].groupby(ids[good_id]).nunique().le(1).all():
                    static_columns.append(column)
                elif column in kept or parsed.invalid.sum() < (~parsed.missing).sum() / 2:
                    report(
                        "non_numeric_column",
                        f"column '{column}' mixes numbers and text, e.g. "
                        f"{cell_examples(parsed.invalid, text)}; extra columns must be numeric "
                        "(price, promo...) or fixed per series (category, store...)",
                        column,
                        parsed.invalid,
                        "fix those cells, or move the column to the attributes file",
                    )
                else:
                    ignored["text"].append(column)
                continue
        if numbers.isna().all() and column not in kept:
            ignored["empty"].append(column)
        elif column not in kept and looks_like_identifier(column, numbers, transaction_log):
            ignored["identifier"].append(column)
        else:
            exogenous[column] = numbers
    reasons = {
        "text": "text that varies within a series",
        "identifier": "numbers that name receipts, orders or the like",
        "empty": "no values",
    }
    parts = [f"{', '.join(cols)} ({reasons[kind]})" for kind, cols in ignored.items() if cols]
    if parts:
        notes.append(
            f"{sum(map(len, ignored.values()))} column(s) ignored: {'; '.join(parts)}; "
            "name one with --keep-col to use it"
        )
    return exogenous, static_columns


def net_day_totals(
    panel: pd.DataFrame, n_netted: int, options: ReadOptions, notes: list[str]
) -> pd.DataFrame:
    """Lines of a day are already summed; clip the net day totals at 0 and say what happened."""
    if n_netted:
        marked = f", or so marked in '{options.status_col}'" if options.status_col else ""
        notes.append(
            f"{n_netted} voided, refunded or returned line(s) (negative quantity{marked}) were "
            "netted within their day before the day total was clipped at 0"
        )
    negative = panel[TARGET] < 0
    if negative.any():
        message = (
            f"{int(negative.sum())} day total(s) with more returned than sold were set to 0 "
            "(--negative clip)"
        )
        warnings.warn(message, DataWarning, stacklevel=4)
        notes.append(message)
        panel = panel.assign(**{TARGET: panel[TARGET].clip(lower=0)})
    return panel
