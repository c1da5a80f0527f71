"""The drill-down tree of a model's series: each node's display label and its parent.

The rule (README: the overview): with a `store` level the planner drills down by shop,
total -> store -> store/category -> series; without one by product, total -> category -> item
-> series; chain levels the model lacks are skipped (the series hang under the deepest one it
has). A level off the chain hangs under the level of one attribute fewer when that is a level
(a/b under a), else under a one-attribute level that contains every node of it (item under
category), else under the total. A parent is used only when it contains each node's members
(from the membership table); otherwise the node hangs under the total.
"""

from __future__ import annotations

import pandas as pd

from features.schema import BOTTOM_LEVEL, HIERARCHY_LEVEL, ID, TOTAL_LEVEL
from serving.state import LiveModel

__all__ = ["BY_PRODUCT", "BY_STORE", "drill_down", "label_of", "parent_levels"]

BY_STORE = ("store", "store/category")
BY_PRODUCT = ("category", "item")


def _attributes(level: str) -> tuple[str, ...]:
    return () if level in (TOTAL_LEVEL, BOTTOM_LEVEL) else tuple(level.split("/"))


def _contains(membership: pd.DataFrame, level: str, parent: str) -> bool:
    """Whether every node of `level` lies within one node of `parent`."""
    if parent == TOTAL_LEVEL:
        return True
    if parent not in membership or (level != BOTTOM_LEVEL and level not in membership):
        return False
    if level == BOTTOM_LEVEL:
        return True
    return bool((membership.groupby(level)[parent].nunique() <= 1).all())


def parent_levels(levels: list[str], membership: pd.DataFrame | None) -> dict[str, str | None]:
    """The level each level's nodes hang under (None for the total); see the module rule."""
    membership = pd.DataFrame(columns=[ID]) if membership is None else membership
    chain = [lv for lv in (BY_STORE if "store" in levels else BY_PRODUCT) if lv in levels]
    out: dict[str, str | None] = {}
    for level in levels:
        if level == TOTAL_LEVEL:
            out[level] = None
            continue
        if level == BOTTOM_LEVEL:
            wanted = chain[-1:] if chain else _deepest(levels)
        elif level in chain:
            wanted = chain[: chain.index(level)][-1:]
        else:
            wanted = _off_chain(level, levels, membership)
        found = [p for p in wanted if _contains(membership, level, p)]
        out[level] = found[0] if found else TOTAL_LEVEL
    return out


def _deepest(levels: list[str]) -> list[str]:
    """Aggregate levels by how many attributes they group by, most first."""
    aggregates = [lv for lv in levels if _attributes(lv)]
    return sorted(aggregates, key=lambda lv: -len(_attributes(lv)))


def _off_chain(level: str, levels: list[str], membership: pd.DataFrame) -> list[str]:
    """Candidate parents of a level off the chain: its prefix, else containing one-attribute
    levels with fewer nodes (the finest first)."""
    columns = _attributes(level)
    if len(columns) > 1:
        prefix = "/".join(columns[:-1])
        return [prefix] if prefix in levels else []
    singles = [lv for lv in levels if len(_attributes(lv)) == 1 and lv != level]
    if level not in membership:
        return []
    nodes = membership[level].nunique()
    sizes = {lv: membership[lv].nunique() for lv in singles if lv in membership}
    coarser = [lv for lv, n in sizes.items() if n < nodes or (n == nodes and _before(lv, level))]
    return sorted(coarser, key=lambda lv: -sizes[lv])


def _before(candidate: str, level: str) -> bool:
    """Between levels of equal size (one category per item), category is above item."""
    order = list(BY_PRODUCT)
    return candidate in order and level in order and order.index(candidate) < order.index(level)


def label_of(unique_id: str, level: str, item: str | None = None) -> str:
    """A short display name: the attribute values of an aggregate id (`shop-1 / bread`), the
    item of a bottom series when the attributes name one, else the id."""
    if level == TOTAL_LEVEL:
        return "Total"
    if level == BOTTOM_LEVEL:
        return item or unique_id
    parts = [part.split("=", 1)[-1] for part in unique_id.split("/")]
    return " / ".join(parts)


def drill_down(live: LiveModel) -> pd.DataFrame:
    """Per series of the model (index unique_id): level, label, parent (None for the total).

    Kept with the snapshot's bundle.
    """
    cached = live.__dict__.get("_drill_down")
    if cached is not None:
        return cached
    levels = live.hierarchy_levels
    membership = live.bundle.membership
    parents = parent_levels(list(dict.fromkeys(levels.tolist())), membership)
    node_parent: dict[str, str] = {}
    if membership is not None:
        table = membership.astype("str")
        for level, parent in parents.items():
            if parent is None or parent not in table:
                continue
            if level == BOTTOM_LEVEL:
                node_parent.update(zip(table[ID], table[parent], strict=True))
            elif level in table:
                node_parent.update(table.groupby(level)[parent].first().to_dict())
    items: dict[str, str] = {}
    attributes = live.bundle.attributes
    if attributes is not None and "item" in attributes.columns:
        names = attributes[ID].astype("str"), attributes["item"].astype("str")
        items = dict(zip(*names, strict=True))
    rows = []
    for uid, level in levels.items():
        uid, level = str(uid), str(level)
        parent = None
        if level != TOTAL_LEVEL:
            parent = node_parent.get(uid, TOTAL_LEVEL if TOTAL_LEVEL in levels.index else None)
        rows.append((uid, level, label_of(uid, level, items.get(uid)), parent))
    frame = pd.DataFrame(rows, columns=[ID, HIERARCHY_LEVEL, "label", "parent"]).set_index(ID)
    live.__dict__["_drill_down"] = frame
    return frame
