"""How an unknown export is read and which columns are proposed for which role."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.errors import DataValidationError
from features.mapping import column_kind, read_export, sketch_columns, suggest_mapping
from features.synthetic import make_demo_sales, write_demo_files

EXPORTS = Path(__file__).parent / "data" / "exports"


def test_till_export_reads_as_cp1252_with_semicolons_and_decimal_commas() -> None:
    """UTF-8 fails on the till's umlauts, so cp1252 is used, and the answer says so."""
    export = read_export(EXPORTS / "kasse_export.csv")
    assert (export.delimiter, export.decimal, export.encoding) == (";", ",", "cp1252")
    assert "Brötchen" in set(export.table["Artikel"])


def test_till_export_suggests_the_mapping_the_readme_documents() -> None:
    """Artikel@Filiale by Datum + Uhrzeit, Menge sold, Storno in Status, the price kept."""
    export = read_export(EXPORTS / "kasse_export.csv")
    kinds = {c.name: c.kind for c in sketch_columns(export)}
    assert kinds["Datum"] == "date" and kinds["Uhrzeit"] == "time-of-day"
    assert kinds["Menge"] == "number" and kinds["Artikel"] == "text"
    suggested = suggest_mapping(export, sketch_columns(export))
    assert suggested.item_cols == ("Artikel",)
    assert suggested.store_col == "Filiale"
    assert (suggested.date_col, suggested.time_of_day_col) == ("Datum", "Uhrzeit")
    assert suggested.quantity_col == "Menge"
    assert suggested.status_col == "Status"
    assert suggested.order_col is None  # a Storno line's status is its own, not its receipt's
    assert suggested.keep_cols == ("Einzelpreis",)  # not Umsatz (revenue) nor Bon-Nr
    assert suggested.duplicates == "sum"


def test_shopify_export_suggests_sku_created_at_and_the_order_for_its_status() -> None:
    """The status sits on an order's first line only, so the order column is proposed."""
    export = read_export(EXPORTS / "shopify_orders.csv")
    assert (export.delimiter, export.decimal, export.encoding) == (",", ".", "utf-8")
    suggested = suggest_mapping(export, sketch_columns(export))
    assert suggested.item_cols == ("Lineitem sku",)
    assert suggested.date_col == "Created at"
    assert suggested.quantity_col == "Lineitem quantity"
    assert suggested.status_col == "Financial Status"
    assert suggested.order_col == "Name"
    assert suggested.store_col is None  # Location is empty
    assert "Lineitem price" in suggested.keep_cols


def test_demo_file_in_canonical_form_suggests_its_own_columns(tmp_path: Path) -> None:
    """unique_id, ds, y map onto themselves; price and promo are kept."""
    demo = make_demo_sales(seed=1, n_stores=1, n_bakery_items=2, n_web_items=1, n_days=70)
    paths = write_demo_files(demo, tmp_path)
    export = read_export(paths["sales"])
    suggested = suggest_mapping(export, sketch_columns(export))
    assert suggested.item_cols == ("unique_id",)
    assert (suggested.date_col, suggested.quantity_col) == ("ds", "y")
    assert suggested.keep_cols == ("price", "promo")
    assert suggested.duplicates == "error"


@pytest.mark.parametrize(
    ("cells", "decimal", "kind"),
    [
        (["02.02.2026", "03.02.2026"], ",", "date"),
        (["1,5", "2", ""], ",", "number"),
        (["07:15", "18:02:11"], ".", "time-of-day"),
        (["2026-03-02 00:26:57 +0100"], ".", "date"),
        (["Brötchen", "12"], ".", "text"),
        (["", ""], ".", "text"),
    ],
)
def test_column_kind_follows_the_filled_cells(cells: list[str], decimal: str, kind: str) -> None:
    """A column is a date, number or time only if every filled cell is one."""
    assert column_kind(pd.Series(cells, dtype="str"), decimal) == kind


def test_unreadable_file_raises_the_located_error(tmp_path: Path) -> None:
    """An empty file is refused naming the file, as read_sales would."""
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataValidationError) as caught:
        read_export(path)
    assert caught.value.codes == ["empty_file"]
    assert caught.value.problems[0].file == str(path)
