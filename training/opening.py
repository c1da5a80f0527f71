"""The opening calendar: the days each shop is closed, on which forecasts and bounds are 0.

A shop that never sells on Sundays, or on public holidays, still gets a positive forecast from
most models (a smoothed level, a pooled interval). The calendar is learned from the daily
history, per store (the membership table's `store` level; the whole business when there is
none), and applied to every bottom series of that store:

- a regular closing weekday: over the last `LOOKBACK_WEEKS` weeks of the store's history, the
  store sold nothing on any of its at least `MIN_OCCURRENCES` days of that weekday;
- public holidays of the configured country: the store is closed on them when it sold nothing
  on at least `HOLIDAY_SHARE` of the past holidays in its history (at least `MIN_HOLIDAYS`
  of them, on weekdays it is otherwise open): a web shop that sells on holidays stays open;
- overrides per store (`StoreOpening`): weekdays closed or open, whether it closes on
  holidays, and single dates closed or open; they win over what was learned.

An aggregate is closed on a day when all its members are; reconciled aggregates are the sums of
their members, so they follow. Only daily data has a calendar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd

from features.calendar_features import country_code
from features.schema import ID, TARGET, TIME
from training.errors import TrainingError

__all__ = ["WEEKDAYS", "OpeningCalendar", "StoreOpening", "Weekday", "learn_calendar"]

#: A weekday as a planner writes it in the config; WEEKDAYS in order, Monday first.
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
LOOKBACK_WEEKS = 8
MIN_OCCURRENCES = 4
HOLIDAY_SHARE = 0.8
MIN_HOLIDAYS = 2
STORE_LEVEL = "store"
EVERYWHERE = "all-stores"


@dataclass(frozen=True)
class StoreOpening:
    """A planner's correction of one store's calendar; None keeps what was learned."""

    closed_weekdays: tuple[str, ...] = ()
    open_weekdays: tuple[str, ...] = ()
    closed_on_holidays: bool | None = None
    closed_dates: tuple[str, ...] = ()
    open_dates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bad = [d for d in (*self.closed_weekdays, *self.open_weekdays) if d not in WEEKDAYS]
        if bad:
            raise TrainingError(f"unknown weekday(s) {bad}; write them as {list(WEEKDAYS)}")


@dataclass(frozen=True)
class StoreCalendar:
    """One store's closing rules as learned and overridden."""

    closed_weekdays: frozenset[int]
    closed_on_holidays: bool
    closed_dates: frozenset[pd.Timestamp] = frozenset()
    open_dates: frozenset[pd.Timestamp] = frozenset()


@dataclass(frozen=True)
class OpeningCalendar:
    """Closing rules per store, and the stores behind every series (an aggregate's: its members').

    A series is closed on a day when every store behind it is.
    """

    stores: dict[str, StoreCalendar]
    stores_of: dict[str, frozenset[str]]
    country: str | None
    holidays: frozenset[pd.Timestamp] = field(default_factory=frozenset)

    @property
    def closes_anything(self) -> bool:
        """Whether any store has a closing rule (else forecasts are left as they are)."""
        return any(
            r.closed_weekdays or r.closed_on_holidays or r.closed_dates
            for r in self.stores.values()
        )

    def closed(self, ids: Sequence[str], dates: np.ndarray) -> np.ndarray:
        """Whether each series is closed on each of its dates: `dates` is (len(ids), h)."""
        dates = np.asarray(dates, dtype="datetime64[D]")
        days, position = np.unique(dates, return_inverse=True)
        position = position.reshape(dates.shape)
        per_store = {store: self._store_closed(rules, days) for store, rules in self.stores.items()}
        out = np.zeros(dates.shape, dtype=bool)
        for i, uid in enumerate(ids):
            stores = self.stores_of.get(str(uid))
            if stores:
                out[i] = np.logical_and.reduce([per_store[s][position[i]] for s in stores])
        return out

    def closed_rows(self, ids: np.ndarray, dates: np.ndarray) -> np.ndarray:
        """`closed` for flat (unique_id, ds) rows, such as a backtest frame's."""
        codes, names = pd.factorize(pd.Series(ids).astype("str"))
        out = np.zeros(len(codes), dtype=bool)
        dates = np.asarray(dates, dtype="datetime64[D]")
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        for k, uid in enumerate(names):
            rows = order[bounds[k] : bounds[k + 1]]
            out[rows] = self.closed([uid], dates[rows][None, :])[0]
        return out

    def _store_closed(self, rules: StoreCalendar, days: np.ndarray) -> np.ndarray:
        weekday = (days.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
        row = np.isin(weekday, list(rules.closed_weekdays))
        if rules.closed_on_holidays and self.holidays:
            row |= np.isin(days, _days(self.holidays))
        if rules.closed_dates:
            row |= np.isin(days, _days(rules.closed_dates))
        if rules.open_dates:
            row &= ~np.isin(days, _days(rules.open_dates))
        return row

    def describe(self) -> dict[str, dict[str, object]]:
        """Per store what it is closed on, for the run and the README."""
        return {
            _plain(store): {
                "closed_weekdays": [WEEKDAYS[d] for d in sorted(rules.closed_weekdays)],
                "closed_on_holidays": rules.closed_on_holidays,
            }
            for store, rules in sorted(self.stores.items())
        }


def _days(stamps: frozenset[pd.Timestamp]) -> np.ndarray:
    return np.asarray([s.to_datetime64() for s in stamps], dtype="datetime64[D]")


def learn_calendar(
    panel: pd.DataFrame,
    membership: pd.DataFrame | None,
    *,
    country: str | None,
    overrides: Mapping[str, StoreOpening] | None = None,
) -> OpeningCalendar:
    """Learn each store's closing days from the bottom series' daily sales in `panel`."""
    overrides = dict(overrides or {})
    bottom = panel[[ID, TIME, TARGET]]
    if membership is not None and STORE_LEVEL in membership.columns:
        store_of = dict(
            zip(membership[ID].astype("str"), membership[STORE_LEVEL].astype("str"), strict=True)
        )
        bottom = bottom[bottom[ID].isin(set(store_of))]
    else:
        store_of = {str(uid): EVERYWHERE for uid in pd.unique(bottom[ID])}
    named = {_plain(s) for s in store_of.values()} | set(store_of.values())
    unknown = sorted(set(overrides) - named)
    if unknown:
        raise TrainingError(
            f"opening overrides name unknown store(s) {unknown}; stores: "
            f"{sorted({_plain(s) for s in store_of.values()})}"
        )
    sales = (
        bottom.assign(store=bottom[ID].astype("str").map(store_of))
        .groupby(["store", TIME], sort=True)[TARGET]
        .sum()
    )
    code = country_code(country) if country else None
    holidays = _holidays(sales.index.get_level_values(TIME), code)
    stores = {}
    for store, days in sales.groupby(level="store", sort=True):
        daily = days.droplevel("store")
        rules = _learned(daily, holidays)
        given = overrides.get(_plain(store)) or overrides.get(store)
        stores[store] = rules if given is None else _overridden(rules, given)
    return OpeningCalendar(stores, _stores_of(store_of, membership), code, holidays)


def _stores_of(
    store_of: dict[str, str], membership: pd.DataFrame | None
) -> dict[str, frozenset[str]]:
    """Every series' stores: a bottom series' own, an aggregate's those of its members."""
    out = {uid: frozenset([store]) for uid, store in store_of.items()}
    if membership is None:
        return out
    members = membership.astype("str")
    stores = members[ID].map(store_of)
    for column in (c for c in members.columns if c != ID):
        for aggregate, group in stores.groupby(members[column], sort=False):
            out[str(aggregate)] = out.get(str(aggregate), frozenset()) | frozenset(group)
    return out


def _plain(store: str) -> str:
    """`store=shop-1` as a planner writes it: `shop-1`."""
    return store.split("=", 1)[1] if "=" in store else store


def _holidays(dates: pd.Index, code: str | None) -> frozenset[pd.Timestamp]:
    """The country's public holidays from the history's first year to two years past its end."""
    if code is None or not len(dates):
        return frozenset()
    import holidays as calendars  # offline tables shipped with the package

    years = range(pd.Timestamp(dates.min()).year, pd.Timestamp(dates.max()).year + 3)
    return frozenset(pd.Timestamp(d) for d in calendars.country_holidays(code, years=years))


def _learned(daily: pd.Series, holidays: frozenset[pd.Timestamp]) -> StoreCalendar:
    """One store's closing weekdays and holiday rule from its daily totals."""
    daily = daily.asfreq("D", fill_value=0.0)
    is_holiday = daily.index.isin(list(holidays))
    recent = daily[daily.index > daily.index.max() - pd.Timedelta(weeks=LOOKBACK_WEEKS)]
    recent = recent[~recent.index.isin(list(holidays))]
    closed = set()
    for weekday in range(7):
        days = recent[recent.index.day_of_week == weekday]
        if len(days) >= MIN_OCCURRENCES and (days <= 0).all():
            closed.add(weekday)
    usual = ~np.isin(daily.index.day_of_week, list(closed))
    past = daily[is_holiday & usual]
    closes = len(past) >= MIN_HOLIDAYS and float((past <= 0).mean()) >= HOLIDAY_SHARE
    return StoreCalendar(frozenset(closed), bool(closes))


def _overridden(rules: StoreCalendar, given: StoreOpening) -> StoreCalendar:
    closed = set(rules.closed_weekdays) | {WEEKDAYS.index(d) for d in given.closed_weekdays}
    closed -= {WEEKDAYS.index(d) for d in given.open_weekdays}
    holidays = rules.closed_on_holidays
    if given.closed_on_holidays is not None:
        holidays = given.closed_on_holidays
    return StoreCalendar(
        frozenset(closed),
        holidays,
        frozenset(pd.Timestamp(d) for d in given.closed_dates),
        frozenset(pd.Timestamp(d) for d in given.open_dates),
    )
