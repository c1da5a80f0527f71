"""Calendar and holiday features on dates whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from panels import make_panel

from features.calendar_features import add_periods, calendar_features, holiday_features
from features.errors import DataError
from features.schema import FREQUENCY_ORDER, TIME


def _days(*dates: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(dates)))


def test_daily_date_parts_of_known_dates() -> None:
    cal = calendar_features(_days("2024-12-25", "2024-02-29", "2024-12-28", "2025-01-01"), "D")
    assert cal["day_of_week"].tolist() == [2, 3, 5, 2]  # Wednesday, Thursday, Saturday, Wednesday
    assert cal["day_of_month"].tolist() == [25, 29, 28, 1]
    assert cal["day_of_year"].tolist() == [360, 60, 363, 1]
    assert cal["week_of_year"].tolist() == [52, 9, 52, 1]
    assert cal["month"].tolist() == [12, 2, 12, 1]
    assert cal["quarter"].tolist() == [4, 1, 4, 1]
    assert cal["year"].tolist() == [2024, 2024, 2024, 2025]
    assert cal["is_weekend"].tolist() == [0, 0, 1, 0]
    assert cal["is_month_start"].tolist() == [0, 0, 0, 1]
    assert cal["is_month_end"].tolist() == [0, 1, 0, 0]


def test_columns_suit_each_frequency() -> None:
    ds = pd.Series(pd.to_datetime(["2024-01-01"]))
    columns = {freq: list(calendar_features(ds, freq).columns) for freq in FREQUENCY_ORDER}
    assert "day_of_week" in columns["D"]
    assert "fourier_week_sin_1" in columns["D"]
    assert not any(c.startswith("fourier_week") for c in columns["W"])
    assert columns["W"][:6] == [
        "week_of_year",
        "month",
        "quarter",
        "year",
        "contains_month_start",
        "contains_month_end",
    ]
    assert columns["M"][:4] == ["month", "quarter", "year", "days_in_month"]
    assert columns["Q"] == [
        "quarter",
        "year",
        "fourier_year_sin_1",
        "fourier_year_cos_1",
        "fourier_year_cos_2",  # the sine of the Nyquist harmonic is always 0, so it is left out
    ]
    assert columns["Y"] == ["year"]


def test_weekly_month_turns() -> None:
    weeks = _days("2024-12-23", "2024-12-30", "2024-07-01", "2024-06-24", "2024-07-08")
    cal = calendar_features(weeks, "W")
    assert cal["contains_month_start"].tolist() == [0, 1, 1, 0, 0]
    assert cal["contains_month_end"].tolist() == [0, 1, 0, 1, 0]
    assert cal["week_of_year"].tolist() == [52, 1, 27, 26, 28]


@pytest.mark.parametrize(("freq", "steps"), [("D", 7), ("W", 52), ("M", 12), ("Q", 4)])
def test_fourier_terms_are_periodic_unit_circles(freq: str, steps: int) -> None:
    start = np.array(["2024-01-01"], dtype="datetime64[D]")
    ds = pd.Series(add_periods(start, np.arange(3 * steps), freq).astype("datetime64[us]"))
    cal = calendar_features(ds, freq, fourier_terms=2)
    name = "week" if freq == "D" else "year"
    sin, cos = cal[f"fourier_{name}_sin_1"], cal[f"fourier_{name}_cos_1"]
    np.testing.assert_allclose(sin**2 + cos**2, 1.0)
    if freq != "W":  # weeks do not divide the year evenly
        np.testing.assert_allclose(sin.iloc[:steps], sin.iloc[steps : 2 * steps], atol=1e-12)
    assert cal.filter(like="fourier").abs().max().max() <= 1.0


def test_fourier_terms_can_be_turned_off_or_increased() -> None:
    ds = _days("2024-03-01")
    assert not calendar_features(ds, "D", fourier_terms=0).filter(like="fourier").shape[1]
    assert "fourier_year_cos_5" in calendar_features(ds, "M", fourier_terms=5)
    assert "fourier_year_sin_6" not in calendar_features(ds, "M", fourier_terms=8)


def test_rows_and_index_follow_the_input() -> None:
    panel = make_panel("D")
    panel.index = panel.index + 100
    cal = calendar_features(panel[TIME], "D")
    assert cal.index.equals(panel.index)
    assert (cal["day_of_month"].to_numpy() == panel[TIME].dt.day.to_numpy()).all()
    by_index = calendar_features(pd.DatetimeIndex(panel[TIME]), "D")
    assert by_index.index.equals(pd.RangeIndex(len(panel)))


@pytest.mark.parametrize(
    "ds",
    [
        pd.Series(["2024-01-01"]),
        pd.Series(pd.to_datetime(["2024-01-01", None])),
        pd.Series(pd.date_range("2024-01-01", periods=2, tz="UTC")),
    ],
)
def test_bad_dates_are_refused(ds: pd.Series) -> None:
    with pytest.raises(DataError):
        calendar_features(ds, "D")


def test_unknown_frequency_is_refused() -> None:
    with pytest.raises(DataError, match="'H'"):
        calendar_features(_days("2024-01-01"), "H")


# --- holidays ------------------------------------------------------------------------------------


def test_daily_holidays_in_germany() -> None:
    ds = _days("2024-12-24", "2024-12-25", "2024-12-27", "2024-12-31", "2024-07-15", "2024-05-10")
    hol = holiday_features(ds, "D", country="DE")
    assert hol["is_holiday"].tolist() == [0, 1, 0, 0, 0, 0]
    assert hol["days_to_next_holiday"].tolist() == [1, 0, 5, 1, 30, 10]  # Jan 1st, clipped
    assert hol["days_since_last_holiday"].tolist() == [30, 0, 1, 5, 30, 1]
    # Friday after Boxing Day (Thursday) and after Ascension Day: lone working days
    assert hol["is_bridge_day"].tolist() == [0, 0, 1, 0, 0, 1]


def test_distances_clip_where_asked() -> None:
    hol = holiday_features(_days("2024-07-15"), "D", country="DE", max_days=100)
    assert hol["days_since_last_holiday"].tolist() == [56]  # Whit Monday, 2024-05-20
    assert hol["days_to_next_holiday"].tolist() == [80]  # German Unity Day, 2024-10-03
    with pytest.raises(ValueError, match="max_days"):
        holiday_features(_days("2024-07-15"), "D", country="DE", max_days=400)


def test_subdivisions_add_regional_holidays() -> None:
    epiphany = _days("2024-01-06")
    assert holiday_features(epiphany, "D", country="DE")["is_holiday"].tolist() == [0]
    bavaria = holiday_features(epiphany, "D", country="DE", subdiv="BY")
    assert bavaria["is_holiday"].tolist() == [1]


@pytest.mark.parametrize(
    ("freq", "start", "count", "working"),
    [
        ("W", "2024-12-23", 2, 3),  # Christmas Day and Boxing Day
        ("W", "2024-12-30", 1, 4),  # New Year's Day in the week that crosses the year
        ("M", "2024-05-01", 3, 20),  # Labour Day, Ascension Day, Whit Monday
        ("M", "2024-12-01", 2, 20),
        ("Q", "2024-10-01", 3, 63),  # German Unity Day and Christmas
        ("Y", "2024-01-01", 9, 253),
    ],
)
def test_coarser_frequencies_count_holidays_in_the_period(
    freq: str, start: str, count: int, working: int
) -> None:
    hol = holiday_features(_days(start), freq, country="DE")
    assert list(hol.columns) == ["holidays_in_period", "working_days_in_period"]
    assert hol["holidays_in_period"].tolist() == [count]
    assert hol["working_days_in_period"].tolist() == [working]


def test_country_codes_are_case_insensitive() -> None:
    lower = holiday_features(_days("2024-07-04"), "D", country="us")
    assert lower["is_holiday"].tolist() == [1]


@pytest.mark.parametrize("country", ["XX", "Germany"])
def test_unknown_country_is_a_data_error(country: str) -> None:
    with pytest.raises(DataError, match=f"'{country}'") as info:
        holiday_features(_days("2024-01-01"), "D", country=country)
    assert isinstance(info.value, ValueError)
    assert "holidays.list_supported_countries()" in str(info.value)


def test_unknown_subdivision_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"'ZZ'.*BY"):
        holiday_features(_days("2024-01-01"), "D", country="DE", subdiv="ZZ")


def test_holidays_follow_the_rows_of_a_panel() -> None:
    panel = make_panel("W")
    hol = holiday_features(panel[TIME], "W", country="FR")
    assert hol.index.equals(panel.index)
    per_date = hol.groupby(panel[TIME].to_numpy()).nunique()
    assert (per_date == 1).all().all()
