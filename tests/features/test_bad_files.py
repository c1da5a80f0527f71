"""The gallery of broken exports: each is refused with a report naming the problem and its place.

Every file under `data/bad/` is what a real till, web shop or spreadsheet produces (see the
README there). Reading one must raise `DataValidationError` (never a raw pandas or pyarrow
exception) whose problem carries the expected code and points at the file, column, spreadsheet
rows (header = row 1) and series, and whose report tells the user how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from features.errors import DataProblem, DataValidationError
from features.ingest import ReadOptions, read_sales

GALLERY = Path(__file__).parent / "data" / "bad"

#: Valid sales that the two attribute files are read against (not itself a broken file).
ATTRIBUTE_SALES = "attributes_sales.csv"

DEFAULTS = ReadOptions()
GERMAN_TILL = ReadOptions(id_cols=("Artikel", "Filiale"), time_col="Datum", target_col="Menge")


@dataclass(frozen=True)
class Bad:
    """One broken file, the problem it must produce and where that problem must point."""

    file: str
    code: str
    fix: str  # words of the hint the user must see after "Fix:"
    column: str | None = None
    rows: tuple[int, ...] = ()  # the first spreadsheet rows named, in order
    ids: tuple[str, ...] = ()  # series that must be named
    says: tuple[str, ...] = ()  # what the message must quote (values, columns, zones...)
    also: tuple[str, ...] = ()  # other codes the same file legitimately produces
    options: ReadOptions = DEFAULTS
    label: str = ""  # distinguishes two cases on one file

    @property
    def name(self) -> str:
        return f"{self.file}[{self.label}]" if self.label else self.file

    def read(self) -> object:
        if self.file.startswith("attributes_"):
            return read_sales(GALLERY / ATTRIBUTE_SALES, GALLERY / self.file, self.options)
        return read_sales(GALLERY / self.file, options=self.options)


CASES = (
    Bad(
        "negative_returns.csv",
        "negative_y",
        fix="--negative clip",
        column="y",
        rows=(5, 9),
        ids=("croissant@shop-1", "rye-bread@shop-1"),
        says=("-2", "-1"),
    ),
    Bad(
        "semicolon_text_quantity.csv",
        "non_numeric_y",
        fix="plain numbers",
        column="Menge",
        rows=(4, 18),
        ids=("Brötchen@Filiale 1", "Laugenbrezel@Filiale 1"),
        says=("3 Stk",),
        also=("missing_y",),
        options=GERMAN_TILL,
    ),
    Bad(
        "dates_unparseable.csv",
        "bad_date",
        fix="--date-format",
        column="ds",
        rows=(4, 6),
        ids=("pretzel@shop-2",),
        says=("31.02.2024", "tomorrow"),
    ),
    Bad(
        "duplicate_day.csv",
        "duplicate_rows",
        fix="--duplicates sum",
        rows=(3, 4),
        ids=("croissant@shop-1",),
    ),
    Bad(
        "missing_qty_column.csv",
        "missing_columns",
        fix="--target-col",
        says=("'y'", "sku, date, amount"),
    ),
    Bad(
        "missing_qty_column.csv",
        "missing_columns",
        fix="--target-col",
        says=("'qty'", "sku, date, amount"),
        options=ReadOptions(id_cols=("sku",), time_col="date", target_col="qty"),
        label="mapped",
    ),
    Bad("empty.csv", "empty_file", fix="export", says=("empty",)),
    Bad(
        "header_only.csv",
        "empty_file",
        fix="export",
        says=("no rows",),
    ),
    Bad(
        "ragged_row.csv",
        "malformed_csv",
        fix="stray delimiter",
        rows=(8,),
        says=("Expected 4 fields", "saw 5"),
    ),
    Bad(
        "ragged_first_row.csv",
        "malformed_csv",
        fix="stray delimiter",
        rows=(2,),
    ),
    Bad(
        "unclosed_quote.csv",
        "malformed_csv",
        fix="unclosed quote",
        rows=(8,),
    ),
    Bad("latin1_umlauts.csv", "not_utf8", fix="--encoding cp1252", rows=(8,), says=("0xf6",)),
    Bad("excel_unicode_text.txt", "not_utf8", fix="UTF-8", rows=(1,), says=("0xff",)),
    Bad(
        "mixed_timezones.csv",
        "mixed_timezones",
        fix="same zone",
        column="ds",
        rows=(6, 7, 11),
        ids=("MUG-BLUE", "MUG-RED"),
        says=("+01:00", "2024-03-08"),
    ),
    Bad(
        "far_timezones.csv",
        "mixed_timezones",
        fix="local time",
        column="ds",
        rows=(2, 3),
        ids=("matcha@berlin", "matcha@tokyo"),
        says=("+0100", "+0900"),
    ),
    Bad(
        "monthly_and_daily.csv",
        "inconsistent_frequency",
        fix="--freq",
        column="ds",
        ids=("catering@shop-1",),
        says=("different calendars",),
    ),
    Bad(
        "weekly_different_weekdays.csv",
        "inconsistent_frequency",
        fix="--freq",
        column="ds",
        ids=("bread@shop-3",),
        says=("different weekdays", "Monday"),
    ),
    Bad(
        "irregular_monthly.csv",
        "inconsistent_frequency",
        fix="--freq",
        column="ds",
        ids=("beans@cafe-mitte", "beans@cafe-ost"),
        says=("1st or the last day",),
    ),
    Bad(
        "too_short.csv",
        "short_series",
        fix="--short-series drop",
        ids=("stollen@shop-1",),
        says=("fewer than 3",),
    ),
    Bad(
        "transactions_with_times.csv",
        "time_of_day",
        fix="--duplicates sum",
        column="ds",
        rows=(2, 3, 4),
        says=("07:12:33",),
    ),
    Bad("missing_ids.csv", "missing_id", fix="fill it in", column="unique_id", rows=(5, 9)),
    Bad(
        "infinite_qty.csv",
        "non_finite_y",
        fix="fix those cells",
        column="y",
        rows=(6,),
        ids=("MUG-BLUE",),
    ),
    Bad(
        "text_in_price.csv",
        "non_numeric_column",
        fix="attributes file",
        column="price",
        rows=(4, 6),
        ids=("croissant@shop-1",),
        says=("see list",),
    ),
    Bad(
        "attributes_unknown_ids.csv",
        "unknown_ids",
        fix="typos",
        column="unique_id",
        rows=(3, 5),
        ids=("croisant@shop-1", "wedding-cake@shop-1"),
    ),
    Bad(
        "attributes_conflicting.csv",
        "duplicate_attributes",
        fix="one row per series",
        column="unique_id",
        rows=(2, 4),
        ids=("croissant@shop-1",),
    ),
    Bad(
        "not_really.parquet",
        "not_parquet",
        fix="export",
        says=("Parquet",),
    ),
    Bad("sales.xlsx", "unsupported_format", fix="CSV or Parquet", says=("'.xlsx'",)),
    Bad(
        "missing_quantities.csv",
        "missing_y",
        fix="write 0",
        column="y",
        rows=(4, 11),
        ids=("croissant@shop-1", "rye-bread@shop-1"),
    ),
    Bad(
        "totals_row.csv",
        "missing_date",
        fix="date of each sale",
        column="ds",
        rows=(14,),
        ids=("Total",),
    ),
    Bad(
        "quoted_decimal_comma.csv",
        "non_numeric_y",
        fix="--decimal",
        column="y",
        rows=(3, 4),
        ids=("flour-25kg@warehouse",),
        says=("2,5",),
    ),
)


def _cases(kind: str) -> list[object]:
    """The gallery as pytest params."""
    return [pytest.param(case, id=case.name) for case in CASES]


def _refusal(case: Bad) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        case.read()
    return info.value


def _problem(err: DataValidationError, code: str) -> DataProblem:
    return next(p for p in err.problems if p.code == code)


@pytest.mark.parametrize("case", _cases("place"))
def test_problem_names_what_and_where(case: Bad) -> None:
    """The user relies on the refusal naming the problem and its file, column, rows, series."""
    err = _refusal(case)
    assert set(err.codes) == {case.code, *case.also}, err.report()
    problem = _problem(err, case.code)
    assert problem.file is not None
    assert Path(problem.file).name == case.file
    if case.column is not None:
        assert problem.column == case.column
    assert problem.rows[: len(case.rows)] == case.rows
    for series in case.ids:
        assert series in problem.unique_ids
    for text in case.says:
        assert text in problem.message


@pytest.mark.parametrize("case", _cases("report"))
def test_report_names_file_and_fix(case: Bad) -> None:
    """The user relies on the printed report saying which file is broken and how to fix it."""
    report = str(_refusal(case))
    assert case.file in report
    assert f"[{case.code}]" in report
    assert "Fix: " in report
    assert case.fix in report.split("Fix: ", 1)[1]


@pytest.mark.parametrize("case", _cases("robust"))
def test_only_a_readable_report_escapes(case: Bad) -> None:
    """The user relies on never seeing a raw KeyError, ParserError, UnicodeDecodeError or trace."""
    try:
        case.read()
    except DataValidationError as err:
        report = str(err)
        assert report == err.report()
        assert report.startswith(f"{len(err.problems)} problem(s) found")
        assert "Traceback" not in report
        assert "Error tokenizing" not in report
        assert all(p.code and p.message for p in err.problems)
    except Exception as err:  # pragma: no cover - the failure this test exists to catch
        pytest.fail(f"{case.file} raised {type(err).__name__}: {err}")
    else:
        pytest.fail(f"{case.file} was read without complaint")


def test_every_gallery_file_is_tested_and_documented() -> None:
    """The user relies on the gallery and its README listing the same files as this table."""
    on_disk = {p.name for p in GALLERY.iterdir()} - {"README.md", ATTRIBUTE_SALES}
    tested = {case.file for case in CASES}
    assert on_disk == tested
    assert len(on_disk) >= 16
    readme = (GALLERY / "README.md").read_text(encoding="utf-8")
    for case in CASES:
        assert f"`{case.file}`" in readme
        assert f"`{case.code}`" in readme
    for path in GALLERY.iterdir():
        assert path.stat().st_size < 5_000, path.name


def test_latin1_file_really_is_not_utf8() -> None:
    """The user relies on the umlaut file being real cp1252 bytes, as a Windows till writes them."""
    raw = (GALLERY / "latin1_umlauts.csv").read_bytes()
    assert "Brötchen".encode("cp1252") in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    """The user relies on a mistyped path being reported as such, with the path."""
    with pytest.raises(DataValidationError) as info:
        read_sales(tmp_path / "sales_2024.csv")
    assert info.value.codes == ["file_not_found"]
    assert "sales_2024.csv" in str(info.value)


def test_the_cp1252_fix_in_the_hint_works() -> None:
    """The user relies on the hint's own advice (--encoding cp1252) reading the umlaut file."""
    history = read_sales(GALLERY / "latin1_umlauts.csv", options=ReadOptions(encoding="cp1252"))
    assert "Brötchen@shop-1" in set(history.panel["unique_id"])


def test_mapped_column_is_named_as_in_the_file() -> None:
    """The user relies on the report naming the column as it is called in their own file."""
    case = next(c for c in CASES if c.file == "semicolon_text_quantity.csv")
    assert _problem(_refusal(case), "non_numeric_y").column == "Menge"


def test_missing_id_names_no_blank_series() -> None:
    """The user relies on the report not pointing at a series called ''."""
    case = next(c for c in CASES if c.file == "missing_ids.csv")
    problem = _problem(_refusal(case), "missing_id")
    assert problem.unique_ids == ()
    assert "series ''" not in problem.describe()
