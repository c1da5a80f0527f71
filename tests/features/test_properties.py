"""Properties over arbitrary tables: bad input only ever raises DataValidationError, and building
datasets at any frequency and hierarchy level never loses or invents units sold."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.demand import build_demand_dataset
from features.errors import DataError, DataValidationError, DataWarning
from features.hierarchy import Hierarchy
from features.ingest import ReadOptions, read_sales, sales_from_frames
from features.schema import FREQUENCY_ORDER, HIERARCHY_LEVEL, ID, TARGET, TIME
from features.trend import build_trend_dataset

CELL_IDS = st.sampled_from(["a", "b", "c", " b ", "", "NA", "ä-brot", "x@shop-1"])
CELL_DATES = st.one_of(
    st.dates(
        min_value=pd.Timestamp("2023-01-01").date(), max_value=pd.Timestamp("2023-03-31").date()
    ).map(str),
    st.sampled_from(
        [
            "",
            "2023-02-30",
            "01/02/2023",
            "2023-01-05T10:00:00+01:00",
            "2023-01-05 13:45",
            "2023-01-06T00:00:00+09:00",
            "yesterday",
            "2023-01-01Z",
            "45123",
        ]
    ),
)
CELL_NUMBERS = st.one_of(
    st.integers(min_value=-3, max_value=50).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "n/a", "1,5", "1.234,5", "3 Stk", "-0", "1e3", "yes", "inf", "-"]),
)

ROW = st.fixed_dictionaries(
    {ID: CELL_IDS, TIME: CELL_DATES, TARGET: CELL_NUMBERS, "price": CELL_NUMBERS}
)


@st.composite
def malformed_csv(draw: st.DrawFn) -> tuple[bytes, ReadOptions]:
    """CSV bytes of random rows, random columns dropped, random delimiters and encodings."""
    rows = draw(st.lists(ROW, min_size=0, max_size=25))
    columns = draw(st.lists(st.sampled_from([ID, TIME, TARGET, "price"]), unique=True, min_size=1))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    frame = pd.DataFrame(rows, columns=[ID, TIME, TARGET, "price"])[columns]
    text = frame.to_csv(index=False, sep=delimiter)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])), errors="replace")
    if draw(st.booleans()):
        cut = draw(st.integers(min_value=0, max_value=len(data)))
        data = data[:cut] + draw(st.binary(max_size=8)) + data[cut:]
    options = ReadOptions(
        negative=draw(st.sampled_from(["error", "clip"])),
        duplicates=draw(st.sampled_from(["error", "sum"])),
        short_series=draw(st.sampled_from(["error", "drop"])),
        min_observations=draw(st.integers(min_value=1, max_value=4)),
    )
    return data, options


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed_csv())
def test_any_table_loads_or_raises_a_data_validation_error(case: tuple[bytes, ReadOptions]) -> None:
    """Whatever a till exports, the user gets a clean panel or a located report, never a crash."""
    data, options = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sales.csv"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            try:
                history = read_sales(path, options=options)
            except DataValidationError as err:
                assert err.problems and all(p.code and p.message for p in err.problems)
                return
    panel = history.panel
    assert list(panel.columns[:3]) == [ID, TIME, TARGET]
    assert pd.api.types.is_datetime64_any_dtype(panel[TIME])
    assert np.isfinite(panel[TARGET]).all() and (panel[TARGET] >= 0).all()
    assert not panel.duplicated([ID, TIME]).any()
    assert panel.equals(panel.sort_values([ID, TIME], ignore_index=True))


@st.composite
def valid_sales(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A valid daily history of a few series with integer sales, gaps, and store/category."""
    n_series = draw(st.integers(min_value=1, max_value=6))
    sales, attributes = [], []
    for index in range(n_series):
        uid = f"item{index}"
        start = draw(st.integers(min_value=0, max_value=60))
        length = draw(st.integers(min_value=3, max_value=200))
        days = pd.date_range("2023-01-01", periods=length, freq="D") + pd.Timedelta(days=start)
        keep = draw(st.lists(st.booleans(), min_size=length, max_size=length))
        keep[0] = keep[1] = keep[-1] = True
        days = days[np.array(keep)]
        units = draw(st.lists(st.integers(0, 40), min_size=len(days), max_size=len(days)))
        sales.append(pd.DataFrame({ID: uid, TIME: days, TARGET: np.array(units, dtype=float)}))
        attributes.append(
            {
                ID: uid,
                "store": draw(st.sampled_from(["s1", "s2"])),
                "category": draw(st.sampled_from(["bread", "cake", "drinks"])),
            }
        )
    frame = pd.concat(sales, ignore_index=True)
    if frame[TARGET].sum() == 0:
        frame.loc[0, TARGET] = 1.0
    return frame, pd.DataFrame(attributes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_sales(), st.sampled_from(FREQUENCY_ORDER), st.booleans())
def test_every_frequency_and_level_keeps_the_units_sold(
    case: tuple[pd.DataFrame, pd.DataFrame], freq: str, keep_partial: bool
) -> None:
    """Summing to weeks, months, quarters or years and over stores and categories loses nothing."""
    sales, attributes = case
    history = sales_from_frames(sales, attributes.astype("str"))
    demand = build_demand_dataset(history, freq=freq, keep_partial_periods=True)
    total = sales[TARGET].sum()
    assert demand.panel[TARGET].sum() == total
    assert demand.panel.groupby(ID)[TARGET].sum().to_dict() == {
        k: v for k, v in sales.groupby(ID)[TARGET].sum().items() if v > 0
    }
    if not keep_partial:
        try:
            trimmed = build_demand_dataset(history, freq=freq)
        except DataError as err:  # the data covers no whole period at this frequency
            assert "no complete" in str(err)
        else:
            assert trimmed.panel[TARGET].sum() + trimmed.manifest.dropped_units == total
    hierarchy = Hierarchy.parse("store,store/category,category")
    trend = build_trend_dataset(demand, hierarchy=hierarchy, windows=(1, 2))
    per_level = trend.frame.groupby(HIERARCHY_LEVEL)[TARGET].sum()
    assert set(per_level.index) == {"total", "store", "store/category", "category", "series"}
    assert (per_level == total).all()
