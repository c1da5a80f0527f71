"""Aggregate a demand panel over the hierarchy that the static attributes define.

A level is a tuple of attribute columns: `()` is the total, `("store",)` one series per store,
`("store", "category")` one per category within a store. Bottom series keep their own ids at the
level "series". Aggregate ids read like paths: `store=shop-1/category=bread`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from features.errors import DataError
from features.schema import BOTTOM_LEVEL, ID, LEVEL, TARGET, TIME, TOTAL_LEVEL

Level = tuple[str, ...]


@dataclass(frozen=True)
class Hierarchy:
    """The aggregation levels, top first; the bottom (one series per id) is always included."""

    levels: tuple[Level, ...]

    @property
    def names(self) -> list[str]:
        """Level names as they appear in the `level` column, top first, bottom last."""
        return [level_name(level) for level in self.levels] + [BOTTOM_LEVEL]

    @classmethod
    def parse(cls, text: str) -> Hierarchy:
        """Read levels written as "store,store/category,category" (total is always added)."""
        levels: list[Level] = [()]
        for chunk in text.split(","):
            columns = tuple(part.strip() for part in chunk.split("/") if part.strip())
            if columns and columns not in levels:
                levels.append(columns)
        return cls(tuple(levels))


def level_name(level: Level) -> str:
    """The name of a level: "total" for the top, else its columns joined by "/"."""
    return "/".join(level) if level else TOTAL_LEVEL


def default_hierarchy(static: pd.DataFrame) -> Hierarchy:
    """Total, each attribute on its own, and the nested chain from coarsest to finest attribute.

    With `store` (4 values) and `category` (10) this gives total, store, store/category and
    category. Attributes that identify every series on their own add nothing and are skipped.
    """
    columns = [c for c in static.columns if c != ID]
    n_series = len(static)
    counts = {c: static[c].nunique() for c in columns}
    useful = sorted((c for c in columns if 1 < counts[c] < n_series), key=lambda c: counts[c])
    levels: list[Level] = [()]
    chain: list[str] = []
    for column in useful:
        chain.append(column)
        nested = tuple(chain)
        if static.groupby(list(nested)).ngroups < n_series and nested not in levels:
            levels.append(nested)
        if (column,) not in levels:
            levels.append((column,))
    return Hierarchy(tuple(levels))


def aggregate_ids(static: pd.DataFrame, hierarchy: Hierarchy) -> pd.DataFrame:
    """For each bottom series, the id of the aggregate it belongs to at every level.

    This is the summing matrix in long form: one row per bottom series, one column per level.
    """
    unknown = sorted({c for level in hierarchy.levels for c in level} - set(static.columns))
    if unknown:
        raise DataError(
            f"hierarchy levels use attribute(s) {unknown} that the attributes table does not have "
            f"(it has: {', '.join(c for c in static.columns if c != ID)})"
        )
    clashing = [c for level in hierarchy.levels if len(level) == 1 for c in level]
    clashing = [c for c in clashing if c in (BOTTOM_LEVEL, TOTAL_LEVEL)]
    if clashing:
        raise DataError(
            f"attribute column(s) {clashing} share a name with a built-in level "
            f"('{TOTAL_LEVEL}', '{BOTTOM_LEVEL}'); rename them in the attributes table"
        )
    table = pd.DataFrame({ID: static[ID].astype("str")})
    for level in hierarchy.levels:
        name = level_name(level)
        if not level:
            table[name] = TOTAL_LEVEL
            continue
        parts = [column + "=" + static[column].astype("str") for column in level]
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
    bottom = panel[[ID, TIME, TARGET]].assign(**{LEVEL: BOTTOM_LEVEL})
    codes = membership.set_index(ID)
    for level in hierarchy.levels:
        name = level_name(level)
        group_of = panel[ID].map(codes[name])
        summed = (
            panel.assign(**{ID: group_of})
            .groupby([ID, TIME], as_index=False, sort=True)[TARGET]
            .sum()
        )
        frames.append(summed.assign(**{LEVEL: name}))
    frames.append(bottom)
    out = pd.concat(frames, ignore_index=True)
    return out[[ID, LEVEL, TIME, TARGET]]


def select_levels(frame: pd.DataFrame, levels: Sequence[str]) -> pd.DataFrame:
    """The rows of the given level names."""
    return frame[frame[LEVEL].isin(list(levels))]
