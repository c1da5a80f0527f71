"""Valid exports in all their shapes load into the canonical panel (the gallery's counterparts).

Each test writes a small file as a till, web shop or spreadsheet would (delimiter, decimal mark,
encoding, line ends, column names, time zones) into `tmp_path` and checks what `read_sales`
makes of it: values, dtypes, sort order, static attributes and the notes and warnings it adds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from features.errors import DataWarning
from features.ingest import ReadOptions, SalesHistory, read_sales
from features.schema import ID, TARGET, TIME

DAYS = ("2024-03-04", "2024-03-05", "2024-03-06")
GERMAN_TILL = ReadOptions(id_cols=("Artikel",), time_col="Datum", target_col="Menge")


def _write(
    folder: Path, name: str, lines: list[str], *, encoding: str = "utf-8", newline: str = "\n"
) -> Path:
    """Write `lines` as a file the way an export would (encoding and line ends as given)."""
    path = folder / name
    path.write_bytes(newline.join([*lines, ""]).encode(encoding))
    return path


def _assert_canonical(history: SalesHistory) -> None:
    """The panel contract: ds tz-naive datetime64, y float64, sorted by (unique_id, ds)."""
    panel = history.panel
    assert list(panel.columns[:3]) == [ID, TIME, TARGET]
    assert pd.api.types.is_datetime64_dtype(panel[TIME])
    assert not isinstance(panel[TIME].dtype, pd.DatetimeTZDtype)
    assert panel[TARGET].dtype == "float64"
    assert pd.api.types.is_string_dtype(panel[ID])
    assert panel.index.equals(pd.RangeIndex(len(panel)))
    ordered = panel.sort_values([ID, TIME], ignore_index=True)
    pd.testing.assert_frame_equal(panel, ordered)
    assert not panel.duplicated([ID, TIME]).any()


def _column(history: SalesHistory, name: str) -> list[object]:
    return history.panel[name].tolist()


def test_semicolon_file_with_decimal_comma(tmp_path: Path) -> None:
    """A German till's ';' file with "1,5" and "1.234,5" is read as 1.5 and 1234.5."""
    path = _write(
        tmp_path,
        "kasse.csv",
        [
            "unique_id;ds;y;price",
            "coffee@shop-1;2024-03-04;1,5;1.234,5",
            "coffee@shop-1;2024-03-05;2;0,99",
            "coffee@shop-1;2024-03-06;1.234,5;2,0",
        ],
    )
    history = read_sales(path)
    _assert_canonical(history)
    assert _column(history, TARGET) == [1.5, 2.0, 1234.5]
    assert _column(history, "price") == [1234.5, 0.99, 2.0]
    assert history.exogenous == ["price"]


def test_german_dates_and_columns_with_a_mapping(tmp_path: Path) -> None:
    """A till's own column names and dd.mm.yyyy dates load once the columns are mapped."""
    path = _write(
        tmp_path,
        "kasse.csv",
        [
            "Artikel;Datum;Menge",
            "Brötchen;04.03.2024;120",
            "Brötchen;05.03.2024;98,5",
            "Brötchen;06.03.2024;104",
        ],
    )
    history = read_sales(path, options=GERMAN_TILL)
    _assert_canonical(history)
    assert _column(history, ID) == ["Brötchen"] * 3
    assert _column(history, TIME) == [pd.Timestamp(d) for d in DAYS]
    assert _column(history, TARGET) == [120.0, 98.5, 104.0]


@pytest.mark.parametrize("name", ["sales.tsv", "sales.txt", "sales.csv"])
def test_tab_separated(tmp_path: Path, name: str) -> None:
    """A tab-separated export loads whatever its suffix."""
    lines = ["unique_id\tds\ty\tprice"] + [f"a\t{d}\t{i}\t1.5" for i, d in enumerate(DAYS)]
    history = read_sales(_write(tmp_path, name, lines))
    _assert_canonical(history)
    assert _column(history, TARGET) == [0.0, 1.0, 2.0]
    assert _column(history, "price") == [1.5] * 3


@pytest.mark.parametrize(
    ("sep", "header", "options"),
    [(",", "unique_id,ds,y", ReadOptions()), (";", "Artikel;Datum;Menge", GERMAN_TILL)],
    ids=["comma", "semicolon-mapped"],
)
def test_utf8_with_bom_finds_the_first_column(
    tmp_path: Path, sep: str, header: str, options: ReadOptions
) -> None:
    """Excel's "CSV UTF-8" adds a BOM; the first column's name must still be found."""
    lines = ["\ufeff" + header] + [
        sep.join(["Brötchen", d, str(i + 1)]) for i, d in enumerate(DAYS)
    ]
    path = _write(tmp_path, "excel.csv", lines)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    history = read_sales(path, options=options)
    _assert_canonical(history)
    assert _column(history, ID) == ["Brötchen"] * 3
    assert _column(history, TARGET) == [1.0, 2.0, 3.0]


def test_crlf_line_endings(tmp_path: Path) -> None:
    """Windows line ends leave no stray carriage return in the last column."""
    lines = ["unique_id,ds,y,category"]
    lines += [f"rye@shop-1,{d},{i},bread" for i, d in enumerate(DAYS)]
    lines += [f"croissant@shop-1,{d},{i},viennoiserie" for i, d in enumerate(DAYS)]
    path = _write(tmp_path, "till.csv", lines, newline="\r\n")
    assert b"\r\n" in path.read_bytes()
    history = read_sales(path)
    _assert_canonical(history)
    assert history.static.to_dict("list") == {
        ID: ["croissant@shop-1", "rye@shop-1"],
        "category": ["viennoiserie", "bread"],
    }
    assert _column(history, TARGET) == [0.0, 1.0, 2.0] * 2


def test_parquet_with_zoned_timestamps_keeps_local_dates(tmp_path: Path) -> None:
    """A Parquet export with Europe/Berlin midnights keeps the shop's local dates."""
    zoned = pd.to_datetime(list(DAYS)).tz_localize("Europe/Berlin")
    frame = pd.DataFrame({ID: ["a"] * 3, TIME: zoned, TARGET: [1, 2, 3], "price": [1.2, 1.2, 1.3]})
    path = tmp_path / "shop.parquet"
    frame.to_parquet(path)
    history = read_sales(path)
    _assert_canonical(history)
    assert _column(history, TIME) == [pd.Timestamp(d) for d in DAYS]
    assert _column(history, TARGET) == [1.0, 2.0, 3.0]
    assert _column(history, "price") == [1.2, 1.2, 1.3]


def test_column_mapping(tmp_path: Path) -> None:
    """A web shop's sku, date, qty columns are mapped onto unique_id, ds, y."""
    lines = ["sku,date,qty,price"] + [f"MUG-BLUE,{d},{i},9.90" for i, d in enumerate(DAYS)]
    options = ReadOptions(id_cols=("sku",), time_col="date", target_col="qty")
    history = read_sales(_write(tmp_path, "shop.csv", lines), options=options)
    _assert_canonical(history)
    assert list(history.panel.columns) == [ID, TIME, TARGET, "price"]
    assert _column(history, ID) == ["MUG-BLUE"] * 3


def test_two_id_columns_are_joined_with_at(tmp_path: Path) -> None:
    """Product and store columns name one series "sku@store", in sales and attributes alike."""
    lines = ["sku,store,date,qty"]
    for store in ("shop-2", "shop-1"):
        lines += [f"croissant,{store},{d},{i}" for i, d in enumerate(DAYS)]
    sales = _write(tmp_path, "sales.csv", lines)
    attributes = _write(
        tmp_path,
        "products.csv",
        ["sku,store,category", "croissant,shop-1,viennoiserie", "croissant,shop-2,viennoiserie"],
    )
    options = ReadOptions(id_cols=("sku", "store"), time_col="date", target_col="qty")
    history = read_sales(sales, attributes, options=options)
    _assert_canonical(history)
    assert sorted(set(_column(history, ID))) == ["croissant@shop-1", "croissant@shop-2"]
    assert "sku" not in history.panel.columns
    assert "store" not in history.panel.columns
    assert history.static.set_index(ID)["category"].to_dict() == {
        "croissant@shop-1": "viennoiserie",
        "croissant@shop-2": "viennoiserie",
    }


def test_negative_clip_sets_zero_and_warns(tmp_path: Path) -> None:
    """With negative="clip" refunds count as 0 sold, with a DataWarning and a note."""
    lines = ["unique_id,ds,y", "a,2024-03-04,4", "a,2024-03-05,-2", "a,2024-03-06,3"]
    path = _write(tmp_path, "returns.csv", lines)
    with pytest.warns(DataWarning, match="1 negative quantities were set to 0"):
        history = read_sales(path, options=ReadOptions(negative="clip"))
    _assert_canonical(history)
    assert _column(history, TARGET) == [4.0, 0.0, 3.0]
    assert any("set to 0" in note for note in history.notes)


def test_duplicates_sum_adds_up_rows_and_transactions(tmp_path: Path) -> None:
    """With duplicates="sum" a transaction log and repeated days become one row per day."""
    lines = [
        "unique_id,ds,y,price",
        "croissant,2024-03-04 07:12:33,2,1.00",
        "croissant,2024-03-04 09:03:51,4,1.20",
        "croissant,2024-03-05 06:58:10,3,1.00",
        "croissant,2024-03-06,1,1.00",
        "croissant,2024-03-06,5,1.00",
        "coffee,2024-03-06 10:22:41,1,2.50",
        "coffee,2024-03-04 07:12:33,1,2.50",
        "coffee,2024-03-05 07:01:09,2,2.50",
    ]
    path = _write(tmp_path, "transactions.csv", lines)
    history = read_sales(path, options=ReadOptions(duplicates="sum"))
    _assert_canonical(history)
    expected = pd.DataFrame(
        {
            ID: ["coffee"] * 3 + ["croissant"] * 3,
            TIME: [pd.Timestamp(d) for d in DAYS] * 2,
            TARGET: [1.0, 2.0, 1.0, 6.0, 3.0, 6.0],
            "price": [2.5, 2.5, 2.5, 1.1, 1.0, 1.0],
        }
    )
    pd.testing.assert_frame_equal(
        history.panel, expected, check_dtype=False, check_index_type=False
    )
    assert any("added up" in note for note in history.notes)


def test_short_series_drop_leaves_them_out_and_warns(tmp_path: Path) -> None:
    """With short_series="drop" a two-day product is left out with a DataWarning."""
    lines = ["unique_id,ds,y,category"]
    lines += [f"croissant,{d},{i},pastry" for i, d in enumerate(DAYS)]
    lines += ["stollen,2024-03-05,6,cake", "stollen,2024-03-06,11,cake"]
    path = _write(tmp_path, "sales.csv", lines)
    with pytest.warns(DataWarning, match="stollen"):
        history = read_sales(path, options=ReadOptions(short_series="drop"))
    _assert_canonical(history)
    assert set(_column(history, ID)) == {"croissant"}
    assert history.static[ID].tolist() == ["croissant"]


def test_text_column_fixed_per_series_becomes_static(tmp_path: Path) -> None:
    """A category column inside the sales file becomes a static attribute, not a feature."""
    lines = ["unique_id,ds,y,category,store"]
    lines += [f"rye,{d},{i},bread,Filiale 1" for i, d in enumerate(DAYS)]
    lines += [f"croissant,{d},{i},viennoiserie,Filiale 2" for i, d in enumerate(DAYS)]
    history = read_sales(_write(tmp_path, "sales.csv", lines))
    _assert_canonical(history)
    assert history.exogenous == []
    assert history.static.to_dict("list") == {
        ID: ["croissant", "rye"],
        "category": ["viennoiserie", "bread"],
        "store": ["Filiale 2", "Filiale 1"],
    }


def test_yes_no_promo_becomes_one_zero(tmp_path: Path) -> None:
    """A promo column written yes/no (any case) becomes a numeric 1/0 feature."""
    flags = ["yes", "no", "Yes", "NO", "no", "YES"]
    lines = ["unique_id,ds,y,promo"]
    lines += [f"a,2024-03-{4 + i:02d},{i},{flag}" for i, flag in enumerate(flags)]
    history = read_sales(_write(tmp_path, "sales.csv", lines))
    _assert_canonical(history)
    assert history.exogenous == ["promo"]
    assert history.panel["promo"].dtype == "float64"
    assert _column(history, "promo") == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("offsets", "shown"),
    [
        (("+01:00",) * 3, "+0100"),
        (("+01:00", "+01:00", "+02:00"), "+0100, +0200"),  # one shop across the DST change
        (("Z",) * 3, "Z"),
    ],
    ids=["same-offset", "summer-time", "utc"],
)
def test_offsets_on_every_row_are_dropped(
    tmp_path: Path, offsets: tuple[str, ...], shown: str
) -> None:
    """A zone offset on every timestamp is dropped: the shop's local dates are kept, with a note."""
    days = ("2024-03-30", "2024-03-31", "2024-04-01")
    lines = ["unique_id,ds,y"]
    lines += [f"a,{d}T00:00:00{o},{i}" for i, (d, o) in enumerate(zip(days, offsets, strict=True))]
    history = read_sales(_write(tmp_path, "shop.csv", lines))
    _assert_canonical(history)
    assert _column(history, TIME) == [pd.Timestamp(d) for d in days]
    assert any(f"({shown}) dropped" in note for note in history.notes)


def test_ambiguous_day_month_dates_add_a_note(tmp_path: Path) -> None:
    """Dates like 04/03/2024 are read day-first, and a note says how to read them otherwise."""
    lines = ["unique_id,ds,y"] + [f"a,{d:02d}/03/2024,{d}" for d in (4, 5, 6)]
    history = read_sales(_write(tmp_path, "sales.csv", lines))
    _assert_canonical(history)
    assert _column(history, TIME) == [pd.Timestamp(d) for d in DAYS]
    assert any("ambiguous" in note and "%m/%d/%Y" in note for note in history.notes)


def test_unambiguous_day_month_dates_add_no_note(tmp_path: Path) -> None:
    """A day above 12 settles the order, so no note is added."""
    lines = ["unique_id,ds,y"] + [f"a,{d:02d}/03/2024,{d}" for d in (11, 12, 13)]
    history = read_sales(_write(tmp_path, "sales.csv", lines))
    assert _column(history, TIME)[-1] == pd.Timestamp("2024-03-13")
    assert not any("ambiguous" in note for note in history.notes)


def test_dtypes_and_sort_order_of_an_unsorted_export(tmp_path: Path) -> None:
    """Rows in any order come back sorted by (unique_id, ds) with the contract's dtypes."""
    lines = [
        "unique_id,ds,y",
        "b,2024-03-06,1",
        "a,2024-03-05,2",
        "b,2024-03-04,3",
        "a,2024-03-04,4",
        "b,2024-03-05,5",
        "a,2024-03-06,6",
    ]
    path = _write(tmp_path, "sales.csv", lines)
    history = read_sales(path)
    _assert_canonical(history)
    assert _column(history, ID) == ["a"] * 3 + ["b"] * 3
    assert _column(history, TARGET) == [4.0, 2.0, 6.0, 3.0, 5.0, 1.0]
    assert (history.freq, history.freq_alias) == ("D", "D")
    (source,) = history.sources
    assert source.path == str(path)
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert source.bytes == path.stat().st_size


def test_trailing_delimiter_on_data_rows_is_ignored(tmp_path: Path) -> None:
    """Tills that end every sale row with ';' still load."""
    lines = ["Artikel;Datum;Menge"] + [f"Brötchen;0{d}.03.2024;{d};" for d in (4, 5, 6)]
    history = read_sales(_write(tmp_path, "kasse.csv", lines), options=GERMAN_TILL)
    assert _column(history, TARGET) == [4.0, 5.0, 6.0]


def test_trailing_delimiter_on_every_line_adds_no_column(tmp_path: Path) -> None:
    """A trailing delimiter on every line (header included) adds no empty feature."""
    lines = ["unique_id,ds,y,"] + [f"a,{d},{i}," for i, d in enumerate(DAYS)]
    history = read_sales(_write(tmp_path, "sales.csv", lines))
    assert list(history.panel.columns) == [ID, TIME, TARGET]


def test_quoted_thousands_in_a_comma_file_are_read_as_thousands(tmp_path: Path) -> None:
    """An English export writes 1,020 kg as "1,020" in a comma file: that is 1020, not 1.02."""
    lines = ["unique_id,ds,y"] + [f'a,{d},"1,0{i}0"' for i, d in enumerate(DAYS)]
    history = read_sales(_write(tmp_path, "sales.csv", lines))
    assert _column(history, TARGET)[:3] == [1000.0, 1010.0, 1020.0]


def test_series_without_attributes_are_filed_as_unassigned(tmp_path: Path) -> None:
    """A product missing from the attributes table still counts in every total, with a warning."""
    sales = _write(
        tmp_path, "sales.csv", ["unique_id,ds,y"] + [f"{u},{d},1" for u in "ab" for d in DAYS]
    )
    attributes = _write(tmp_path, "attributes.csv", ["unique_id,category", "a,bread"])
    with pytest.warns(DataWarning, match="unassigned"):
        history = read_sales(sales, attributes)
    assert history.static.set_index(ID)["category"].to_dict() == {"a": "bread", "b": "unassigned"}
