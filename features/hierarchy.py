"""Aggregate a demand panel over the hierarchy that the static attributes define.

A hierarchy level is a tuple of attribute columns: `()` is the total, `("store",)` one series
per store, `("store", "category")` one per category within a store. Bottom series keep their own
ids at the hierarchy level "series". Aggregate ids read like paths: `store=shop-1/category=bread`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from features.errors import DataError
from features.schema import BOTTOM_LEVEL, HIERARCHY_LEVEL, ID, TARGET, TIME, TOTAL_LEVEL

#: A hierarchy level as the attribute columns it groups by; () is the total.
HierarchyLevel = tuple[str, ...]


@dataclass(frozen=True)
class Hierarchy:
    """The aggregation levels, top first; the bottom (one series per id) is always included."""

    hierarchy_levels: tuple[HierarchyLevel, ...]

    @property
    def names(self) -> list[str]:
        """Hierarchy level names as in the `level` column, top first, bottom last."""
        return [hierarchy_level_name(lv) for lv in self.hierarchy_levels] + [BOTTOM_LEVEL]

    @classmethod
    def parse(cls, text: str) -> Hierarchy:
        """Read levels written as "store,store/category,category" (total is always added)."""
        hierarchy_levels: list[HierarchyLevel] = [()]
        for chunk in text.split(","):
            columns = tuple(part.strip() for part in chunk.split("/") if part.strip())
            if columns and columns not in hierarchy_levels:
                hierarchy_levels.append(columns)
        return cls(tuple(hierarchy_levels))


def hierarchy_level_name(hierarchy_level: HierarchyLevel) -> str:
    """The name of a hierarchy level: "total" for the top, else its columns joined by "/"."""
    return "/".join(hierarchy_level) if hierarchy_level else TOTAL_LEVEL


def default_hierarchy(static: pd.DataFrame) -> Hierarchy:
    """Total, each attribute on its own, and the nested chain from coarsest to finest attribute.

    With `store` (4 values) and `category` (10) this gives total, store, store/category and
    category. Attributes that identify every series on their own add nothing and are skipped.
    """
    columns = [c for c in static.columns if c != ID]
    n_series = len(static)
    counts = {c: static[c].nunique() for c in columns}
    useful = sorted((c for c in columns if 1 < counts[c] < n_series), key=lambda c: counts[c])
    found: list[HierarchyLevel] = [()]
    chain: list[str] = []
    for column in useful:
        chain.append(column)
        nested = tuple(chain)
        if static.groupby(list(nested)).ngroups < n_series and nested not in found:
            found.append(nested)
        if (column,) not in found:
            found.append((column,))
    return Hierarchy(tuple(found))


def aggregate_ids(static: pd.DataFrame, hierarchy: Hierarchy) -> pd.DataFrame:
    """For each bottom series, the id of the aggregate it belongs to at every level.

    This is the summing matrix in long form: one row per bottom series, one column per level.
    """
    used = {c for columns in hierarchy.hierarchy_levels for c in columns}
    unknown = sorted(used - set(static.columns))
    if unknown:
        raise DataError(
            f"hierarchy levels use attribute(s) {unknown} that the attributes table does not have "
            f"(it has: {', '.join(c for c in static.columns if c != ID)})"
        )
    clashing = [c for columns in hierarchy.hierarchy_levels if len(columns) == 1 for c in columns]
    clashing = [c for c in clashing if c in (BOTTOM_LEVEL, TOTAL_LEVEL)]
    if clashing:
        raise DataError(
            f"attribute column(s) {clashing} share a name with a built-in level "
            f"('{TOTAL_LEVEL}', '{BOTTOM_LEVEL}'); rename them in the attributes table"
        )
    table = pd.DataFrame({ID: static[ID].astype("str")})
    for columns in hierarchy.hierarchy_levels:
        name = hierarchy_level_name(columns)
        if not columns:
            table[name] = TOTAL_LEVEL
            continue
        parts = [column + "=" + static[column].astype("str") for column in columns]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + "/" + part
        table[name] = joined.to_numpy()
    return table


def aggregate_panel(
    panel: pd.DataFrame, static: pd.DataFrame, hierarchy: Hierarchy
) -> pd.DataFrame:
    """Sum y over every level of the hierarchy; returns unique_id, level, ds, y for all levels.

    Periods where a member series did not exist yet count as 0 sold, so every level adds up to
    the same total as the bottom.
    """
    membership = aggregate_ids(static, hierarchy)
    missing = sorted(set(panel[ID]) - set(membership[ID]))
    if missing:
        raise DataError(f"series without attributes cannot be aggregated: {missing[:5]}")
    frames = []
    bottom = panel[[ID, TIME, TARGET]].assign(**{HIERARCHY_LEVEL: BOTTOM_LEVEL})
    codes = membership.set_index(ID)
    for columns in hierarchy.hierarchy_levels:
        name = hierarchy_level_name(columns)
        group_of = panel[ID].map(codes[name])
        summed = (
            panel.assign(**{ID: group_of})
            .groupby([ID, TIME], as_index=False, sort=True)[TARGET]
            .sum()
        )
        frames.append(summed.assign(**{HIERARCHY_LEVEL: name}))
    frames.append(bottom)
    out = pd.concat(frames, ignore_index=True)
    return out[[ID, HIERARCHY_LEVEL, TIME, TARGET]]


def select_hierarchy_levels(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The rows of the hierarchy levels called `names` (e.g. "total", "store")."""
    return frame[frame[HIERARCHY_LEVEL].isin(list(names))]


def aggregate_exogenous(
    panel: pd.DataFrame, membership: pd.DataFrame, columns: Sequence[str]
) -> pd.DataFrame:
    """Exogenous `columns` of every series at every hierarchy level: unique_id, ds, columns.

    Bottom series keep their own values. An aggregate gets, per period, the unweighted mean over
    its members that have a row then: the mean price, and for a 0/1 flag such as promo the share
    of members on promotion. Sales-weighted means would read y of the same period (a leak).
    """
    columns = list(columns)
    frames = [panel[[ID, TIME, *columns]]]
    for name in (c for c in membership.columns if c != ID):
        group_of = panel[ID].map(membership.set_index(ID)[name])
        means = (
            panel[[TIME, *columns]]
            .assign(**{ID: group_of.to_numpy()})
            .groupby([ID, TIME], as_index=False, sort=True)[columns]
            .mean()
        )
        frames.append(means[[ID, TIME, *columns]])
    out = pd.concat(frames, ignore_index=True)
    return out.drop_duplicates([ID, TIME], keep="first").reset_index(drop=True)
