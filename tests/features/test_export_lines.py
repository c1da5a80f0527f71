"""Line exports read as planners' files come: unused columns, times, voids and closing days.

Small files written into `tmp_path`, read with `read_sales` (and `build_demand_dataset` for the
weekly cases); the rules under test are the ones `features.columns` states.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from features.columns import looks_like_identifier
from features.demand import build_demand_dataset
from features.errors import DataValidationError, DataWarning
from features.frequency import closing_weekdays
from features.ingest import ReadOptions, SalesHistory, read_sales
from features.schema import ID, TARGET, TIME

DAYS = ("2024-03-04", "2024-03-05", "2024-03-06")
LINES = ReadOptions(duplicates="sum", negative="clip")


def _write(folder: Path, lines: list[str], name: str = "export.csv") -> Path:
    path = folder / name
    path.write_text("\n".join([*lines, ""]), encoding="utf-8")
    return path


def _read(path: Path, options: ReadOptions) -> SalesHistory:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return read_sales(path, options=options)


def _y(history: SalesHistory, series: str, day: str) -> float:
    panel = history.panel
    return float(panel.loc[(panel[ID] == series) & (panel[TIME] == day), TARGET].iloc[0])


def _problem(path: Path, options: ReadOptions, code: str):  # type: ignore[no-untyped-def]
    with pytest.raises(DataValidationError) as caught:
        read_sales(path, options=options)
    return next(p for p in caught.value.problems if p.code == code)


def test_text_columns_that_vary_are_ignored_in_one_note(tmp_path: Path) -> None:
    """E-mail and notes columns no longer refuse the file: one note names them, once."""
    lines = ["unique_id,ds,y,email,note,category"]
    lines += [f"a,{d},{i},x{i}@example.org,call {i},bread" for i, d in enumerate(DAYS)]
    history = _read(_write(tmp_path, lines), ReadOptions())
    assert history.exogenous == []
    assert history.static.columns.tolist() == [ID, "category"]
    ignored = [n for n in history.notes if "ignored" in n]
    assert ignored == [
        "2 column(s) ignored: email, note (text that varies within a series); "
        "name one with --keep-col to use it"
    ]


def test_keep_col_reads_only_the_named_columns(tmp_path: Path) -> None:
    """With keep_cols, unnamed columns are ignored (one note) even when numeric."""
    lines = ["unique_id,ds,y,price,temperature,email"]
    lines += [f"a,{d},{i},1.5,{10 + i},x@example.org" for i, d in enumerate(DAYS)]
    history = _read(_write(tmp_path, lines), ReadOptions(keep_cols=("price",)))
    assert history.exogenous == ["price"]
    assert "2 column(s) ignored (not named by --keep-col): temperature, email" in history.notes


def test_drop_col_and_unknown_names(tmp_path: Path) -> None:
    """drop_cols leaves a column out; a misspelt name is refused naming it and the header."""
    lines = ["unique_id,ds,y,price,revenue"] + [
        f"a,{d},{i},1.5,{i * 1.5}" for i, d in enumerate(DAYS)
    ]
    path = _write(tmp_path, lines)
    assert _read(path, ReadOptions(drop_cols=("revenue",))).exogenous == ["price"]
    problem = _problem(path, ReadOptions(keep_cols=("Price",)), "missing_columns")
    assert "'Price'" in problem.message and "revenue" in problem.message


@pytest.mark.parametrize(
    ("name", "identifier"),
    [
        ("Bon-Nr", True),
        ("Receipt Number", True),
        ("orderId", True),
        ("Belegnummer", True),
        ("Billing Zip", True),
        ("price", False),
        ("Bonus", False),
        ("Paid", False),
    ],
)
def test_identifier_names(name: str, identifier: bool) -> None:
    """Receipt, order and zip columns are recognised by name; price and bonus are not."""
    assert looks_like_identifier(name, pd.Series([1.0, 2.0, 3.0]), False) is identifier


def test_receipt_numbers_are_ignored_by_their_values_in_a_transaction_log(tmp_path: Path) -> None:
    """A nameless column of mostly distinct whole numbers in a line export is not a feature."""
    lines = ["unique_id,ds,y,ref,price"]
    lines += [
        f"a,{d} 0{h}:00,1,{1000 + 7 * k + h},1.2" for k, d in enumerate(DAYS) for h in range(9)
    ]
    history = _read(_write(tmp_path, lines), LINES)
    assert history.exogenous == ["price"]
    assert any("ref (numbers that name receipts" in n for n in history.notes)
    kept = _read(_write(tmp_path, lines), ReadOptions(duplicates="sum", keep_cols=("ref", "price")))
    assert kept.exogenous == ["ref", "price"]


def test_a_separate_time_column_is_found_and_added(tmp_path: Path) -> None:
    """Datum;Uhrzeit lines read without a flag: times of day join the dates, days are summed."""
    lines = ["Artikel;Datum;Uhrzeit;Menge"]
    lines += [f"Brezel;0{d}.03.2024;{h}:15;{h}" for d in (4, 5, 6) for h in (7, 9)]
    options = ReadOptions(id_cols=("Artikel",), time_col="Datum", target_col="Menge")
    path = _write(tmp_path, lines)
    problem = _problem(path, options, "time_of_day")  # without sum: times of day are reported
    assert problem.column == "Datum"
    history = _read(path, replace(options, duplicates="sum"))
    assert history.panel[TARGET].tolist() == [16.0] * 3
    assert "times of day in column 'Uhrzeit' were added to the dates" in history.notes


def test_a_bad_time_of_day_is_located(tmp_path: Path) -> None:
    """A time that is not one is refused with its file, column and row."""
    lines = ["Artikel;Datum;Uhrzeit;Menge"]
    lines += ["Brezel;04.03.2024;07:15;1", "Brezel;05.03.2024;25:99;1", "Brezel;06.03.2024;;2"]
    options = ReadOptions(
        id_cols=("Artikel",), time_col="Datum", target_col="Menge", clock_col="Uhrzeit"
    )
    problem = _problem(_write(tmp_path, lines), options, "bad_time")
    assert (problem.column, problem.rows, problem.file) == (
        "Uhrzeit",
        (3,),
        str(tmp_path / "export.csv"),
    )
    assert "'25:99'" in problem.message


def test_zoned_timestamps_count_on_the_local_date(tmp_path: Path) -> None:
    """00:30 at +01:00 is a sale of that local day, not of the UTC day before."""
    lines = ["unique_id,ds,y"]
    lines += ["a,2026-03-01T10:15:00+01:00,1", "a,2026-03-02T00:30:00+01:00,2"]
    lines += ["a,2026-03-02 23:50:00 +0100,3", "a,2026-03-03T08:00:00+01:00,4"]
    history = _read(_write(tmp_path, lines), LINES)
    assert history.panel[TARGET].tolist() == [1.0, 5.0, 4.0]


def test_voided_lines_are_netted_before_the_day_is_clipped(tmp_path: Path) -> None:
    """+5 and -3 on one day is 2 sold (not 5); a day of only returns is 0, with notes."""
    lines = ["unique_id,ds,y"]
    lines += ["a,2024-03-04,5", "a,2024-03-04,-3", "a,2024-03-05,-2", "a,2024-03-06,4"]
    path = _write(tmp_path, lines)
    with pytest.warns(DataWarning, match="1 day total"):
        history = read_sales(path, options=LINES)
    assert history.panel[TARGET].tolist() == [2.0, 0.0, 4.0]
    assert any(n.startswith("2 voided, refunded or returned line(s)") for n in history.notes)
    problem = _problem(path, ReadOptions(duplicates="sum"), "negative_y")
    assert problem.rows == (4,) and "negative net quantity" in problem.message


def test_status_marks_storno_and_refunded_lines(tmp_path: Path) -> None:
    """A Storno line counts -|qty| even when written positive; a refunded order counts 0."""
    lines = ["order,sku,day,qty,status"]
    lines += ["#1,a,2024-03-04,4,paid", "#2,a,2024-03-04,1,Storno", "#3,a,2024-03-05,2,refunded"]
    lines += [
        "#3,a,2024-03-05,3,",
        "#4,a,2024-03-05,1,paid",
        "#5,a,2024-03-06,2,partially_refunded",
    ]
    options = ReadOptions(
        id_cols=("sku",),
        time_col="day",
        target_col="qty",
        status_col="status",
        order_col="order",
        duplicates="sum",
    )
    history = _read(_write(tmp_path, lines), options)
    assert history.panel[TARGET].tolist() == [3.0, 1.0, 2.0]
    assert history.exogenous == []


def test_a_bad_quantity_in_a_mapped_column_is_still_located(tmp_path: Path) -> None:
    """Genuinely bad values in mapped columns keep their file, row and column."""
    lines = ["Name,Lineitem sku,Created at,Lineitem quantity,Email"]
    lines += [
        "#1,MUG,2026-03-01 10:00:00 +0100,1,a@x.org",
        "#2,MUG,2026-03-02 10:00:00 +0100,zwei,b@x",
    ]
    lines += ["#3,MUG,2026-03-03 10:00:00 +0100,1,c@x.org"]
    options = ReadOptions(
        id_cols=("Lineitem sku",),
        time_col="Created at",
        target_col="Lineitem quantity",
        duplicates="sum",
    )
    problem = _problem(_write(tmp_path, lines), options, "non_numeric_y")
    assert (problem.column, problem.rows, problem.unique_ids) == (
        "Lineitem quantity",
        (3,),
        ("MUG",),
    )


def _six_day_weeks(tmp_path: Path, last: str, sundays: bool = False) -> SalesHistory:
    days = pd.date_range("2024-01-01", last, freq="D")
    lines = ["unique_id,ds,y"]
    lines += [
        f"a,{d.date()},{3 if d.day_of_week < 6 else 1}"
        for d in days
        if sundays or d.day_of_week < 6
    ]
    return _read(_write(tmp_path, lines), ReadOptions())


def test_a_week_ending_on_the_closing_day_is_kept(tmp_path: Path) -> None:
    """A shop closed on Sundays keeps its last week (Monday to Saturday) at weekly frequency."""
    history = _six_day_weeks(tmp_path, "2024-03-02")  # a Saturday
    assert closing_weekdays(history.panel) == (6,)
    demand = build_demand_dataset(history, freq="W")
    assert demand.manifest.end == "2024-02-26" and demand.manifest.dropped_units == 0
    assert demand.panel[TARGET].tolist() == [18.0] * 9


def test_a_shop_open_on_sundays_still_loses_an_unfinished_week(tmp_path: Path) -> None:
    """Closing days are learned: a 7-day shop's data ending on a Saturday loses that week."""
    history = _six_day_weeks(tmp_path, "2024-03-02", sundays=True)
    assert closing_weekdays(history.panel) == ()
    demand = build_demand_dataset(history, freq="W")
    assert demand.manifest.end == "2024-02-19" and demand.manifest.dropped_units == 18
