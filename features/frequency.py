"""Which calendar grid a sales history sits on, and moving it to a coarser one.

The native frequency is inferred once, here, from the dates themselves (pandas' `infer_freq`
needs one regular index and warns under pandas 3.1); after this it travels as an argument.
Every series is classified on its own, so a file that mixes daily and monthly series, or weekly
series dated on different weekdays, is reported series by series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.schema import FREQUENCIES, FREQUENCY_ORDER, ID, TARGET, TIME, period_start

#: Series of one family can share a panel (a sparse daily series may look weekly).
_FAMILY = {"D": "day", "W": "day", "M": "month", "Q": "month", "Y": "month"}
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass(frozen=True)
class NativeFrequency:
    """The grid a panel's dates sit on (`code` in D/W/M/Q/Y) or why it has none."""

    code: str | None
    anchor: str | None
    per_series: pd.Series
    problem: str | None = None
    offending_ids: tuple[str, ...] = ()


def coarser_or_equal(target: str, native: str) -> bool:
    """Whether data at `native` frequency can be summed up to `target` periods."""
    return FREQUENCY_ORDER.index(target) >= FREQUENCY_ORDER.index(native)


def classify_series(panel: pd.DataFrame) -> pd.DataFrame:
    """Per series: its grid (D, W, M, Q, Y; empty for a single date), weekday and minimum spacing.

    Works on sorted, de-duplicated, midnight-normalised dates; vectorised over all series.
    """
    ds = panel[TIME]
    ids = panel[ID]
    first_in_series = ids.ne(ids.shift())
    gap_days = ds.diff().dt.days.where(~first_in_series)
    month_index = ds.dt.year * 12 + ds.dt.month
    gap_months = month_index.diff().where(~first_in_series)
    month_edge = ds.dt.is_month_start | ds.dt.is_month_end
    per_row = pd.DataFrame(
        {
            ID: ids,
            "gap": gap_days,
            "not_weekly": (gap_days % 7).ne(0) & gap_days.notna(),
            "same_month": gap_months.eq(0),
            "not_quarterly": (gap_months % 3).ne(0) & gap_months.notna(),
            "not_yearly": (gap_months % 12).ne(0) & gap_months.notna(),
            "off_edge": ~month_edge,
            "weekday": ds.dt.day_of_week,
        }
    )
    grouped = per_row.groupby(ID, sort=False)
    stats = grouped.agg(
        n=("gap", "size"),
        min_gap=("gap", "min"),
        not_weekly=("not_weekly", "any"),
        same_month=("same_month", "any"),
        not_quarterly=("not_quarterly", "any"),
        not_yearly=("not_yearly", "any"),
        off_edge=("off_edge", "any"),
        weekday=("weekday", "first"),
    )
    month_grid = ~stats["off_edge"] & ~stats["same_month"]
    code = np.select(
        [
            stats["n"] < 2,
            month_grid & ~stats["not_yearly"],
            month_grid & ~stats["not_quarterly"],
            month_grid,
            ~stats["not_weekly"],
        ],
        ["", "Y", "Q", "M", "W"],
        default="D",
    )
    return pd.DataFrame(
        {"freq": code, "weekday": stats["weekday"], "min_gap": stats["min_gap"]}, index=stats.index
    )


def infer_native_frequency(panel: pd.DataFrame) -> NativeFrequency:
    """The finest grid shared by every series, or a located reason why there is none."""
    per_series = classify_series(panel)
    known = per_series[per_series["freq"] != ""]
    if known.empty:
        return NativeFrequency(code="D", anchor="D", per_series=per_series["freq"])
    families = known["freq"].map(_FAMILY)
    if families.nunique() > 1:
        minority = families.value_counts().index[-1]
        bad = tuple(known.index[families == minority])
        kinds = ", ".join(sorted(set(known["freq"])))
        return NativeFrequency(
            None,
            None,
            per_series["freq"],
            problem=f"series are on different calendars ({kinds}): some daily or weekly, "
            "some monthly or coarser",
            offending_ids=bad,
        )
    finest = min(known["freq"], key=FREQUENCY_ORDER.index)
    if finest == "W":
        weekdays = known["weekday"]
        if weekdays.nunique() > 1:
            common = weekdays.mode().iloc[0]
            bad = tuple(known.index[weekdays != common])
            return NativeFrequency(
                None,
                None,
                per_series["freq"],
                problem="weekly series are dated on different weekdays "
                f"(most on {_WEEKDAYS[common].title()}day-based weeks)",
                offending_ids=bad,
            )
        return NativeFrequency("W", f"W-{_WEEKDAYS[int(weekdays.iloc[0])]}", per_series["freq"])
    if finest == "D" and known["min_gap"].min() >= 7:
        irregular = tuple(known.index[known["freq"] == "D"])
        return NativeFrequency(
            None,
            None,
            per_series["freq"],
            problem="dates are at least a week apart but not on a regular weekly or monthly grid "
            "(for monthly data, date every row on the 1st or the last day of its month)",
            offending_ids=irregular,
        )
    return NativeFrequency(finest, FREQUENCIES[finest], per_series["freq"])


def to_period_labels(ds: pd.Series, native: str, anchor: str | None, target: str) -> pd.Series:
    """Label each date with the start of its `target` period; a native grid keeps its own labels."""
    if target == native:
        if native in ("M", "Q", "Y"):
            return period_start(ds, native)  # month-end dates become month starts
        return ds
    return period_start(ds, target)


def period_grid(start: pd.Timestamp, end: pd.Timestamp, alias: str) -> pd.DatetimeIndex:
    """Every period label from `start` to `end` inclusive at the pandas offset `alias`."""
    return pd.date_range(start=start, end=end, freq=alias, unit="us")


def period_alias(code: str, anchor: str | None) -> str:
    """The pandas offset that steps from one period label to the next."""
    if code == "W" and anchor:
        return anchor
    return FREQUENCIES[code]


def native_span_days(code: str) -> int:
    """Days a native period covers at most (for checking that coarser periods are complete)."""
    return {"D": 1, "W": 7, "M": 31, "Q": 92, "Y": 366}[code]


#: Weeks of history that decide the regular closing days, and the fewest that may.
CLOSING_WEEKS = 8
_MIN_CLOSING_WEEKS = 4


def closing_weekdays(panel: pd.DataFrame) -> tuple[int, ...]:
    """Weekdays (0 = Monday) without a single sale in each of the last `CLOSING_WEEKS` weeks.

    A shop closed on Sundays has no sales (or only zeros) on every recent Sunday; the rule needs
    daily data covering at least four weeks, and a weekday counts only if nothing sold on it.
    """
    last = panel[TIME].max()
    weeks = min(CLOSING_WEEKS, int((last - panel[TIME].min()).days + 1) // 7)
    if weeks < _MIN_CLOSING_WEEKS:
        return ()
    recent = panel[panel[TIME] > last - pd.Timedelta(days=7 * weeks)]
    selling = set(recent.loc[recent[TARGET] > 0, TIME].dt.day_of_week.unique().tolist())
    closed = tuple(day for day in range(7) if day not in selling)
    return closed if len(closed) < 7 else ()


def covered_through(day: pd.Timestamp, closed: tuple[int, ...], step: int) -> pd.Timestamp:
    """The day after (step 1) or before (step -1) which only regular closing days follow."""
    for _ in range(6):
        neighbour = day + pd.Timedelta(days=step)
        if neighbour.day_of_week not in closed:
            break
        day = neighbour
    return day
