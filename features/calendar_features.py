"""Calendar and holiday features: functions of the date alone, so known for any future period.

calendar_features columns (integers, then float Fourier terms):
    D  day_of_week (Mon=0), day_of_month, day_of_year, week_of_year (ISO), month, quarter, year,
       is_weekend, is_month_start, is_month_end, fourier_week_{sin,cos}_k (k <= 3)
    W  week_of_year, month, quarter, year, contains_month_start, contains_month_end
    M  month, quarter, year, days_in_month
    Q  quarter, year
    Y  year
    all but Y: fourier_year_{sin,cos}_k for k <= fourier_terms and below half the periods in a
    year (the sine of that Nyquist harmonic, always 0, is left out: Q has sin_1, cos_1, cos_2).
holiday_features columns, from the offline `holidays` calendar:
    D  is_holiday, days_to_next_holiday, days_since_last_holiday (0 on a holiday, clipped at
       max_days), is_bridge_day (a lone working day between a holiday and a day off)
    W/M/Q/Y  holidays_in_period, working_days_in_period (Mon-Fri and not a holiday)

Both compute on the distinct dates and broadcast back, so a long panel costs no more than its
calendar. Rows follow the input: a Series keeps its index, a DatetimeIndex gives a RangeIndex.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

from features.errors import DataError
from features.schema import FREQUENCIES

#: Default number of Fourier harmonics per cycle (capped by what each frequency can resolve).
FOURIER_TERMS = 3
#: Distances to holidays are clipped here: beyond a month away a holiday hardly moves demand.
MAX_HOLIDAY_DAYS = 30

_DAYS_PER_WEEK = 7
_MONTHS_PER_PERIOD = {"M": 1, "Q": 3, "Y": 12}


def check_freq(freq: str) -> None:
    """Raise a DataError unless `freq` is one of the supported frequencies (D, W, M, Q, Y)."""
    if freq not in FREQUENCIES:
        raise DataError(f"Unknown frequency {freq!r}: expected one of {', '.join(FREQUENCIES)}.")


def period_start_days(days: np.ndarray, freq: str) -> np.ndarray:
    """First day (datetime64[D]) of the period holding each day: weeks start on Monday."""
    days = days.astype("datetime64[D]")
    if freq == "D":
        return days
    if freq == "W":
        weekday = (days.astype(np.int64) + 3) % _DAYS_PER_WEEK  # 1970-01-01 was a Thursday
        return days - weekday.astype("timedelta64[D]")
    months = days.astype("datetime64[M]").astype(np.int64)
    step = _MONTHS_PER_PERIOD[freq]
    return (months - months % step).astype("datetime64[M]").astype("datetime64[D]")


def add_periods(days: np.ndarray, n: int | np.ndarray, freq: str) -> np.ndarray:
    """Period labels `n` periods after `days` (datetime64[D] period starts), vectorised."""
    days = days.astype("datetime64[D]")
    n = np.asarray(n, dtype=np.int64)
    if freq in ("D", "W"):
        step = 1 if freq == "D" else _DAYS_PER_WEEK
        return days + (n * step).astype("timedelta64[D]")
    months = days.astype("datetime64[M]") + (n * _MONTHS_PER_PERIOD[freq]).astype("timedelta64[M]")
    return months.astype("datetime64[D]")


def _distinct_dates(
    ds: pd.Series | pd.DatetimeIndex,
) -> tuple[np.ndarray, pd.DatetimeIndex, pd.Index]:
    """Codes into the distinct dates, the distinct dates, and the index of the output frame."""
    if isinstance(ds, pd.Series):
        index = ds.index
    elif isinstance(ds, pd.DatetimeIndex):
        index = pd.RangeIndex(len(ds))
    else:
        raise DataError(f"Expected a datetime Series or DatetimeIndex, got {type(ds).__name__}.")
    if not pd.api.types.is_datetime64_dtype(ds.dtype):
        raise DataError(f"Expected tz-naive datetime64 dates, got dtype {ds.dtype}.")
    codes, uniques = pd.factorize(ds)
    if (codes < 0).any():
        raise DataError("Dates contain missing values (NaT); every row needs a date.")
    return codes, pd.DatetimeIndex(uniques), index


_YEAR_RESOLUTION = {"D": 365, "W": 52, "M": 12, "Q": 4, "Y": 1}


def _fourier(fraction: np.ndarray, resolution: int, terms: int, name: str) -> dict[str, np.ndarray]:
    """Sine/cosine pairs of the position in a cycle, up to what `resolution` samples can resolve."""
    out: dict[str, np.ndarray] = {}
    for k in range(1, min(terms, resolution // 2) + 1):
        angle = 2.0 * np.pi * k * fraction
        if 2 * k != resolution:  # at the Nyquist harmonic the sine is identically zero
            out[f"fourier_{name}_sin_{k}"] = np.sin(angle)
        out[f"fourier_{name}_cos_{k}"] = np.cos(angle)
    return out


def _year_fraction(dates: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Position of each period start within its year, in [0, 1)."""
    if freq == "M":
        return (dates.month.to_numpy() - 1.0) / 12.0
    if freq == "Q":
        return (dates.quarter.to_numpy() - 1.0) / 4.0
    length = np.where(dates.is_leap_year, 366.0, 365.0)
    return (dates.day_of_year.to_numpy() - 1.0) / length


def _date_parts(dates: pd.DatetimeIndex, freq: str) -> dict[str, np.ndarray]:
    """Integer calendar columns for distinct dates, keeping those that vary at frequency `freq`."""
    month = dates.month.to_numpy().astype(np.int8)
    quarter = dates.quarter.to_numpy().astype(np.int8)
    year = dates.year.to_numpy().astype(np.int16)
    if freq == "Y":
        return {"year": year}
    if freq == "Q":
        return {"quarter": quarter, "year": year}
    if freq == "M":
        days_in_month = dates.days_in_month.to_numpy().astype(np.int8)
        return {"month": month, "quarter": quarter, "year": year, "days_in_month": days_in_month}
    week = dates.isocalendar().week.to_numpy(dtype=np.int16)
    if freq == "W":
        last_day = dates + pd.Timedelta(days=_DAYS_PER_WEEK - 1)
        turns = last_day.month.to_numpy() != dates.month.to_numpy()
        return {
            "week_of_year": week,
            "month": month,
            "quarter": quarter,
            "year": year,
            "contains_month_start": (turns | dates.is_month_start).astype(np.int8),
            "contains_month_end": (turns | last_day.is_month_end).astype(np.int8),
        }
    day_of_week = dates.day_of_week.to_numpy().astype(np.int8)
    return {
        "day_of_week": day_of_week,
        "day_of_month": dates.day.to_numpy().astype(np.int8),
        "day_of_year": dates.day_of_year.to_numpy().astype(np.int16),
        "week_of_year": week,
        "month": month,
        "quarter": quarter,
        "year": year,
        "is_weekend": (day_of_week >= 5).astype(np.int8),
        "is_month_start": dates.is_month_start.astype(np.int8),
        "is_month_end": dates.is_month_end.astype(np.int8),
    }


def calendar_features(
    ds: pd.Series | pd.DatetimeIndex, freq: str, *, fourier_terms: int = FOURIER_TERMS
) -> pd.DataFrame:
    """Date parts suited to `freq` and Fourier terms of the yearly (daily: and weekly) cycle."""
    check_freq(freq)
    if fourier_terms < 0:
        raise ValueError(f"fourier_terms must be >= 0, got {fourier_terms}.")
    codes, dates, index = _distinct_dates(ds)
    columns = _date_parts(dates, freq)
    if freq == "D":
        weekday = dates.day_of_week.to_numpy() / _DAYS_PER_WEEK
        columns |= _fourier(weekday, _DAYS_PER_WEEK, fourier_terms, "week")
    year_fraction = _year_fraction(dates, freq)
    columns |= _fourier(year_fraction, _YEAR_RESOLUTION[freq], fourier_terms, "year")
    return pd.DataFrame({name: values[codes] for name, values in columns.items()}, index=index)


def country_code(country: str) -> str:
    """The holidays package's code for `country` (case-insensitive), or a DataError naming it."""
    supported = holidays.list_supported_countries()
    code = str(country).strip().upper()
    if code not in supported:
        close = difflib.get_close_matches(code, list(supported), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DataError(
            f"Unknown holiday country code {country!r}.{hint} Use an ISO 3166 code such as "
            f"'DE', 'FR' or 'US'; the {len(supported)} supported codes (and their subdivisions) "
            "are listed by holidays.list_supported_countries()."
        )
    return code


@lru_cache(maxsize=64)
def _holiday_days(country: str, subdiv: str | None, first_year: int, last_year: int) -> np.ndarray:
    """Sorted holiday dates (datetime64[D]) of a supported country over a span of years, cached."""
    try:
        calendar = holidays.country_holidays(
            country, subdiv=subdiv, years=range(first_year, last_year + 1)
        )
    except (NotImplementedError, KeyError) as exc:
        known = holidays.list_supported_countries()[country]
        raise DataError(
            f"Unknown subdivision {subdiv!r} of holiday country {country!r}: expected one of "
            f"{', '.join(map(str, known))} (see holidays.list_supported_countries())."
        ) from exc
    days = np.array(sorted(calendar.keys()), dtype="datetime64[D]")
    days.setflags(write=False)
    return days


def _daily_holidays(days: np.ndarray, hol: np.ndarray, max_days: int) -> dict[str, np.ndarray]:
    """Holiday flag, clipped distances to the next and previous holiday, and bridge days."""
    day_num = days.astype(np.int64)
    hol_num = hol.astype(np.int64)
    padded = np.concatenate(([np.iinfo(np.int64).min // 2], hol_num, [np.iinfo(np.int64).max // 2]))
    nxt = padded[np.searchsorted(hol_num, day_num, side="left") + 1]
    prev = padded[np.searchsorted(hol_num, day_num, side="right")]
    is_holiday = np.isin(day_num, hol_num)
    weekday = (day_num + 3) % _DAYS_PER_WEEK
    off_before = np.isin(day_num - 1, hol_num) | ((weekday - 1) % _DAYS_PER_WEEK >= 5)
    off_after = np.isin(day_num + 1, hol_num) | ((weekday + 1) % _DAYS_PER_WEEK >= 5)
    touches_holiday = np.isin(day_num - 1, hol_num) | np.isin(day_num + 1, hol_num)
    bridge = (weekday < 5) & ~is_holiday & off_before & off_after & touches_holiday
    return {
        "is_holiday": is_holiday.astype(np.int8),
        "days_to_next_holiday": np.minimum(nxt - day_num, max_days).astype(np.int16),
        "days_since_last_holiday": np.minimum(day_num - prev, max_days).astype(np.int16),
        "is_bridge_day": bridge.astype(np.int8),
    }


def _period_holidays(starts: np.ndarray, hol: np.ndarray, freq: str) -> dict[str, np.ndarray]:
    """Holidays and working days (Mon-Fri, not a holiday) in each period."""
    ends = add_periods(starts, 1, freq)
    count = np.searchsorted(hol, ends) - np.searchsorted(hol, starts)
    working = np.busday_count(starts, ends, holidays=hol)
    return {
        "holidays_in_period": count.astype(np.int16),
        "working_days_in_period": working.astype(np.int16),
    }


def holiday_features(
    ds: pd.Series | pd.DatetimeIndex,
    freq: str,
    *,
    country: str,
    subdiv: str | None = None,
    max_days: int = MAX_HOLIDAY_DAYS,
) -> pd.DataFrame:
    """Public-holiday features of each date or period; an unknown country is a DataError."""
    check_freq(freq)
    if not 1 <= max_days <= 365:  # the calendar is loaded one year either side, no further
        raise ValueError(f"max_days must be between 1 and 365, got {max_days}.")
    codes, dates, index = _distinct_dates(ds)
    days = period_start_days(dates.to_numpy(), freq)
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    first, last = (int(years.min()) - 1, int(years.max()) + 1) if len(days) else (2000, 2000)
    hol = _holiday_days(country_code(country), subdiv, first, last)
    if freq == "D":
        columns = _daily_holidays(days, hol, max_days)
    else:
        columns = _period_holidays(days, hol, freq)
    return pd.DataFrame({name: values[codes] for name, values in columns.items()}, index=index)
