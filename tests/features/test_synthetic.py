"""The demo sales generator: a deterministic, realistic bakery-chain and web-shop history."""

from __future__ import annotations

from pathlib import Path

import holidays
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from features.schema import ID, TARGET, TIME
from features.synthetic import DemoData, make_demo_sales, make_small_panel, write_demo_files

SALES_COLUMNS = [ID, TIME, TARGET, "price", "promo"]
ATTRIBUTE_COLUMNS = [ID, "item", "category", "store"]
MEDIUM = {"n_bakery_items": 12, "n_web_items": 10, "n_days": 400}


def _public_holidays(ds: pd.Series) -> pd.DatetimeIndex:
    """German public holidays in the years that `ds` spans, at the resolution of `ds`."""
    years = range(ds.min().year, ds.max().year + 1)
    days = pd.DatetimeIndex(sorted(holidays.country_holidays("DE", years=years)))
    return days.astype(ds.dtype)


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return make_demo_sales()


@pytest.fixture(scope="module")
def per_series(demo: DemoData) -> pd.DataFrame:
    grouped = demo.sales.groupby(ID)[[TIME, TARGET]]
    return grouped.agg(
        rows=(TARGET, "size"),
        first=(TIME, "min"),
        last=(TIME, "max"),
        total=(TARGET, "sum"),
        zero_share=(TARGET, lambda y: (y == 0).mean()),
    )


def test_same_seed_gives_identical_frames() -> None:
    """Two calls with the same seed return exactly the same sales and attributes."""
    first, second = make_demo_sales(seed=7, **MEDIUM), make_demo_sales(seed=7, **MEDIUM)
    pdt.assert_frame_equal(first.sales, second.sales)
    pdt.assert_frame_equal(first.attributes, second.attributes)


def test_different_seed_gives_different_data() -> None:
    """Another seed gives other quantities, so seeds give independent demo histories."""
    first, second = make_demo_sales(seed=1, **MEDIUM), make_demo_sales(seed=2, **MEDIUM)
    merged = first.sales.merge(second.sales, on=[ID, TIME])
    assert (merged[f"{TARGET}_x"] != merged[f"{TARGET}_y"]).mean() > 0.5


def test_default_call_is_big_enough_for_the_benchmark(demo: DemoData) -> None:
    """The default history has 500k-650k rows, >= 3 shops plus web, >= 150 items, >= 3 years."""
    sales, attributes = demo.sales, demo.attributes
    assert 500_000 <= len(sales) < 650_000
    shops = {store for store in attributes["store"] if store.startswith("shop-")}
    assert len(shops) >= 3
    assert "web" in set(attributes["store"])
    assert attributes["item"].nunique() >= 150
    assert (sales[TIME].max() - sales[TIME].min()).days + 1 >= 1095
    assert set(attributes["category"]) >= {"bread", "rolls", "pastry", "gift-boxes", "coffee"}


def test_frames_follow_the_data_contract(demo: DemoData) -> None:
    """Sales are a sorted long panel with the documented columns and dtypes, no NaN."""
    sales = demo.sales
    assert list(sales.columns) == SALES_COLUMNS
    assert list(demo.attributes.columns) == ATTRIBUTE_COLUMNS
    assert sales[ID].dtype == "str"
    assert sales[TIME].dtype == "datetime64[us]"
    assert sales[TARGET].dtype == "float64" and sales["price"].dtype == "float64"
    assert sales["promo"].dtype == "int64"
    assert not sales.isna().any().any()
    assert not sales.duplicated([ID, TIME]).any()
    pdt.assert_frame_equal(sales, sales.sort_values([ID, TIME], ignore_index=True))


def test_quantities_are_non_negative_integers_and_prices_are_cents(demo: DemoData) -> None:
    """y is a non-negative whole number, price positive with two decimals, promo 0 or 1."""
    sales = demo.sales
    assert (sales[TARGET] >= 0).all()
    assert (sales[TARGET] == sales[TARGET].round()).all()
    assert (sales["price"] > 0).all()
    cents = sales["price"] * 100
    assert np.allclose(cents, cents.round(), atol=1e-6)
    assert set(sales["promo"].unique()) == {0, 1}


def test_unique_ids_read_item_at_store(demo: DemoData) -> None:
    """A series id is the readable item slug, '@', then the store it sells in."""
    attributes = demo.attributes
    assert (attributes[ID] == attributes["item"] + "@" + attributes["store"]).all()
    assert attributes["item"].str.fullmatch(r"[a-z0-9-]+").all()


def test_attributes_cover_exactly_the_sales_ids(demo: DemoData) -> None:
    """There is one attribute row per series, for exactly the series that have sales."""
    assert demo.attributes[ID].is_unique
    assert set(demo.attributes[ID]) == set(demo.sales[ID])


def test_every_series_has_enough_rows_and_some_sales(per_series: pd.DataFrame) -> None:
    """Each series has at least 60 rows and sells something, so every one can be modelled."""
    assert (per_series["rows"] >= 60).all()
    assert (per_series["total"] > 0).all()


def test_some_products_launch_and_some_are_discontinued(
    demo: DemoData, per_series: pd.DataFrame
) -> None:
    """Launches start mid-history (>= 90 days before the end), stops end >= 90 days in."""
    start, end = demo.sales[TIME].min(), demo.sales[TIME].max()
    launched = per_series[per_series["first"] > start + pd.Timedelta(days=7)]
    stopped = per_series[per_series["last"] < end - pd.Timedelta(days=7)]
    assert len(launched) > 0 and len(stopped) > 0
    assert (launched["first"] <= end - pd.Timedelta(days=90)).all()
    assert (stopped["last"] >= start + pd.Timedelta(days=90)).all()


def test_bakery_shops_sell_nothing_on_public_holidays(demo: DemoData) -> None:
    """Shops are closed on public holidays: the rows exist with y = 0, the web shop still sells."""
    sales = demo.sales.merge(demo.attributes[[ID, "store"]], on=ID)
    on_holiday = sales[sales[TIME].isin(_public_holidays(sales[TIME]))]
    shops = on_holiday[on_holiday["store"] != "web"]
    assert len(shops) > 0
    assert (shops[TARGET] == 0).all()
    assert on_holiday.loc[on_holiday["store"] == "web", TARGET].sum() > 0


def test_weekly_pattern_has_weekend_peaks_and_sunday_closures(demo: DemoData) -> None:
    """Bakery Saturdays outsell Tuesdays; some shops are closed on Sundays, others open."""
    sales = demo.sales.merge(demo.attributes[[ID, "store"]], on=ID)
    shops = sales[sales["store"] != "web"]
    by_day = shops.groupby(["store", shops[TIME].dt.day_of_week])[TARGET].sum().unstack()
    assert (by_day[5] > 1.2 * by_day[1]).all()
    assert (by_day[6] == 0).any() and (by_day[6] > 0).any()


def test_promo_days_sell_more(demo: DemoData) -> None:
    """Across series, the mean quantity on promotion days beats the non-promotion mean."""
    means = demo.sales.groupby([ID, "promo"])[TARGET].mean().unstack().dropna()
    busy = means[means[0] > 1]
    assert len(busy) > 100
    assert (busy[1] / busy[0]).median() > 1.3


def test_prices_change_during_the_history(demo: DemoData) -> None:
    """Regular prices move a few times, so price effects can be learned."""
    regular = demo.sales[demo.sales["promo"] == 0]
    assert (regular.groupby(ID)["price"].nunique() > 1).mean() > 0.8


def test_till_outages_leave_days_absent(demo: DemoData) -> None:
    """Some store has calendar days without any row (absent, not NaN) inside the history."""
    sales = demo.sales.merge(demo.attributes[[ID, "store"]], on=ID)
    calendar = pd.date_range(sales[TIME].min(), sales[TIME].max(), freq="D", unit="us")
    absent = {
        store: len(calendar.difference(pd.DatetimeIndex(group[TIME].unique())))
        for store, group in sales.groupby("store")
    }
    assert sum(absent.values()) > 0
    assert all(count < 20 for count in absent.values())


def test_intermittent_series_exist(per_series: pd.DataFrame) -> None:
    """Slow movers exist: some series have zero sales on more than half of their days."""
    assert (per_series["zero_share"] > 0.5).sum() >= 5


def test_catering_orders_show_up_as_spikes(demo: DemoData) -> None:
    """Away from Christmas and holiday eves, a few series have catering days at >= 8x usual."""
    sales = demo.sales
    usual = sales.groupby(ID)[TARGET].transform(
        lambda y: y.rolling(15, center=True, min_periods=1).median()
    )
    holiday_days = _public_holidays(sales[TIME])
    near_holiday = holiday_days.union(
        pd.DatetimeIndex([day - pd.Timedelta(days=k) for day in holiday_days for k in (1, 2, 3)])
    )
    month, day = sales[TIME].dt.month, sales[TIME].dt.day
    ordinary = ~sales[TIME].isin(near_holiday) & (month < 11) & ~((month == 1) & (day <= 7))
    spikes = sales[ordinary & (usual >= 5) & (sales[TARGET] >= 8 * usual)]
    assert 10 <= spikes[ID].nunique() <= 0.1 * sales[ID].nunique()


def test_write_demo_files_round_trips_through_read_csv(tmp_path: Path) -> None:
    """The written CSVs read back with pandas into the same frames, dates as YYYY-MM-DD."""
    data = make_demo_sales(**MEDIUM)
    paths = write_demo_files(data, tmp_path / "demo")
    assert set(paths) == {"sales", "attributes"}
    assert paths["sales"].read_text(encoding="utf-8").splitlines()[1].split(",")[1] == "2023-01-02"
    sales = pd.read_csv(paths["sales"], parse_dates=[TIME])
    sales = sales.astype({TIME: "datetime64[us]", TARGET: "float64"})
    pdt.assert_frame_equal(sales, data.sales)
    pdt.assert_frame_equal(pd.read_csv(paths["attributes"]), data.attributes)


def test_small_panel_is_tiny_and_daily() -> None:
    """The test fixture panel has the asked number of daily series over the asked days."""
    data = make_small_panel(n_series=6, n_days=120)
    assert data.sales[ID].nunique() == 6 == len(data.attributes)
    assert data.sales[TIME].min() == pd.Timestamp("2023-01-02")
    assert data.sales[TIME].max() <= pd.Timestamp("2023-05-01")
    assert (data.sales.groupby(ID).size() >= 60).all()


def test_small_panel_weekly_keeps_only_complete_weeks() -> None:
    """At freq W the daily history is summed into complete Monday-labelled weeks."""
    daily = make_small_panel(n_days=120)
    weekly = make_small_panel(n_days=120, freq="W")
    assert (weekly.sales[TIME].dt.day_of_week == 0).all()
    assert weekly.sales[TIME].nunique() == 120 // 7
    in_full_weeks = daily.sales[TIME] < pd.Timestamp("2023-05-01")  # day 120 starts a week
    assert weekly.sales[TARGET].sum() == daily.sales.loc[in_full_weeks, TARGET].sum()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_days": 30}, "n_days"),
        ({"country": "XX"}, "holiday calendar"),
        ({"n_bakery_items": 0, "n_web_items": 0}, "at least one item"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict, message: str) -> None:
    """Impossible sizes and unknown countries raise a ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        make_demo_sales(**kwargs)
