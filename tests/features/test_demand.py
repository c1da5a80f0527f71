"""The demand dataset: regular per-series panels at any frequency, from validated sales."""

from __future__ import annotations

import pandas as pd
import pytest

from features.demand import build_demand_dataset
from features.errors import DataError
from features.ingest import sales_from_frames
from features.schema import ID, TARGET, TIME


def _sales(rows: list[tuple[str, str, float]], **exog: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[ID, TIME, TARGET])
    frame[TIME] = pd.to_datetime(frame[TIME])
    for name, values in exog.items():
        frame[name] = values
    return frame


@pytest.fixture
def gappy_sales() -> pd.DataFrame:
    """Two series with missing days, leading zeros, and a price and promo column."""
    return _sales(
        [
            ("a", "2024-01-01", 1.0),
            ("a", "2024-01-02", 2.0),
            ("a", "2024-01-04", 3.0),
            ("b", "2024-01-01", 0.0),
            ("b", "2024-01-02", 0.0),
            ("b", "2024-01-03", 4.0),
            ("b", "2024-01-07", 5.0),
        ],
        price=[2.0, 2.0, 2.5, 5.0, 5.0, 5.0, 6.0],
        promo=[0, 1, 0, 0, 0, 0, 1],
    )


def test_missing_days_are_filled_with_zero_sold(gappy_sales: pd.DataFrame) -> None:
    """A day without a row means nothing was sold, so it appears with y = 0."""
    demand = build_demand_dataset(sales_from_frames(gappy_sales))
    a = demand.panel[demand.panel[ID] == "a"].set_index(TIME)[TARGET]
    assert a.loc["2024-01-03"] == 0.0
    assert a.index.to_series().diff().dropna().eq(pd.Timedelta(days=1)).all()


def test_series_start_at_first_sale_and_run_to_the_end(gappy_sales: pd.DataFrame) -> None:
    """No leading zeros before a product's first sale; every series runs to the last date."""
    panel = build_demand_dataset(sales_from_frames(gappy_sales)).panel
    spans = panel.groupby(ID)[TIME].agg(["min", "max"])
    assert spans.loc["b", "min"] == pd.Timestamp("2024-01-03")
    assert spans.loc["a", "max"] == spans.loc["b", "max"] == pd.Timestamp("2024-01-07")
    assert len(panel[panel[ID] == "a"]) == 7


def test_fill_value_none_leaves_gaps_missing(gappy_sales: pd.DataFrame) -> None:
    """Users whose gaps are unknown rather than zero can keep them as NaN."""
    panel = build_demand_dataset(sales_from_frames(gappy_sales), fill_value=None).panel
    a = panel[panel[ID] == "a"].set_index(TIME)[TARGET]
    assert pd.isna(a.loc["2024-01-03"])
    assert a.loc["2024-01-04"] == 3.0


def test_exogenous_columns_are_aligned(gappy_sales: pd.DataFrame) -> None:
    """Filled days carry the last known price forward and no promotion."""
    panel = build_demand_dataset(sales_from_frames(gappy_sales)).panel
    a = panel[panel[ID] == "a"].set_index(TIME)
    assert a.loc["2024-01-03", "price"] == 2.0
    assert a.loc["2024-01-05", "price"] == 2.5
    assert a.loc["2024-01-03", "promo"] == 0.0
    assert panel[["price", "promo"]].notna().all().all()


def test_daily_sales_sum_to_weeks_labelled_by_monday() -> None:
    """Weekly demand is the sum of the days of each ISO week, labelled by its Monday."""
    days = pd.date_range("2024-01-01", "2024-01-28", freq="D")
    sales = pd.DataFrame({ID: "a", TIME: days, TARGET: range(1, len(days) + 1)})
    demand = build_demand_dataset(sales_from_frames(sales), freq="W")
    assert demand.panel[TIME].dt.day_of_week.eq(0).all()
    assert demand.panel[TARGET].tolist() == [28.0, 77.0, 126.0, 175.0]
    assert demand.manifest.freq == "W"


def test_incomplete_periods_at_the_edges_are_left_out_and_reported() -> None:
    """A week the data only half covers would look like a collapse in demand, so it is dropped."""
    days = pd.date_range("2024-01-03", "2024-01-24", freq="D")  # Wednesday to Wednesday
    sales = pd.DataFrame({ID: "a", TIME: days, TARGET: 1.0})
    demand = build_demand_dataset(sales_from_frames(sales), freq="W")
    assert demand.panel[TIME].tolist() == [pd.Timestamp("2024-01-08"), pd.Timestamp("2024-01-15")]
    assert demand.manifest.dropped_units == 8.0
    assert any("incomplete W" in note for note in demand.manifest.notes)
    kept = build_demand_dataset(sales_from_frames(sales), freq="W", keep_partial_periods=True)
    assert kept.panel[TARGET].sum() == len(days)


def test_month_end_dates_become_month_periods() -> None:
    """Monthly exports dated on the last day of the month are read as monthly data."""
    ends = pd.date_range("2023-01-31", periods=12, freq="ME")
    sales = pd.DataFrame({ID: "a", TIME: ends, TARGET: 1.0})
    history = sales_from_frames(sales)
    assert history.freq == "M"
    demand = build_demand_dataset(history)
    assert demand.panel[TIME].dt.day.eq(1).all()
    assert len(demand.panel) == 12


def test_finer_frequency_than_the_data_is_refused() -> None:
    """Weekly sales cannot be split into days; the error says so instead of inventing data."""
    mondays = pd.date_range("2024-01-01", periods=10, freq="W-MON")
    history = sales_from_frames(pd.DataFrame({ID: "a", TIME: mondays, TARGET: 1.0}))
    assert history.freq == "W"
    with pytest.raises(DataError, match="never split into finer"):
        build_demand_dataset(history, freq="D")
    with pytest.raises(DataError, match="unknown frequency"):
        build_demand_dataset(history, freq="H")


def test_series_that_never_sold_are_left_out_with_a_note() -> None:
    """A product with only zero rows has no demand to model and is reported, not kept."""
    days = pd.date_range("2024-01-01", periods=5)
    sales = pd.concat(
        [
            pd.DataFrame({ID: "a", TIME: days, TARGET: 1.0}),
            pd.DataFrame({ID: "never", TIME: days, TARGET: 0.0}),
        ]
    )
    demand = build_demand_dataset(sales_from_frames(sales))
    assert set(demand.panel[ID]) == {"a"}
    assert any("never sold" in note for note in demand.manifest.notes)


def test_manifest_describes_the_data_and_its_hash_is_stable(gappy_sales: pd.DataFrame) -> None:
    """The manifest lets a training run record exactly which data it used."""
    first = build_demand_dataset(sales_from_frames(gappy_sales)).manifest
    again = build_demand_dataset(sales_from_frames(gappy_sales)).manifest
    assert first.content_hash == again.content_hash
    assert (first.n_series, first.n_rows, first.start, first.end) == (
        2,
        12,
        "2024-01-01",
        "2024-01-07",
    )
    assert first.exogenous == ["price", "promo"]
    changed = gappy_sales.assign(**{TARGET: gappy_sales[TARGET] + 1})
    assert (
        build_demand_dataset(sales_from_frames(changed)).manifest.content_hash != first.content_hash
    )
