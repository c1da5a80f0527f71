"""Small synthetic panels for the feature tests, and the ways to rewrite their future."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.schema import FREQUENCIES, ID, TARGET, TIME

ORIGIN = pd.Timestamp("2023-01-02")  # a Monday, so every frequency can start here


def make_panel(
    freq: str = "D",
    lengths: Sequence[int] = (60, 45, 30),
    offsets: Sequence[int] = (0, 7, 20),
    *,
    seed: int = 0,
    exog: bool = True,
    missing: float = 0.0,
) -> pd.DataFrame:
    """A canonical panel: series s0, s1, ... of the given lengths, starting `offsets` periods in."""
    rng = np.random.default_rng(seed)
    grid = pd.date_range(
        ORIGIN,
        periods=max(o + n for o, n in zip(offsets, lengths, strict=True)),
        freq=FREQUENCIES[freq],
    )
    frames = []
    for i, (offset, length) in enumerate(zip(offsets, lengths, strict=True)):
        frames.append(pd.DataFrame({ID: f"s{i}", TIME: grid[offset : offset + length]}))
    panel = pd.concat(frames, ignore_index=True).astype({ID: "str"})
    n = len(panel)
    panel[TARGET] = rng.poisson(5.0, n).astype(np.float64)
    panel.loc[rng.uniform(size=n) < missing, TARGET] = np.nan
    if exog:
        panel["price"] = np.round(rng.uniform(5.0, 10.0, n), 2)
        panel["promo"] = (rng.uniform(size=n) < 0.3).astype(np.int64)
    return panel


def rewrite_future(
    panel: pd.DataFrame, *, y_after: pd.Timestamp, exog_after: pd.Timestamp, seed: int
) -> pd.DataFrame:
    """The panel with other random values of y after `y_after` and of price/promo after
    `exog_after` (exogenous values are planned, so known up to the period itself)."""
    rng = np.random.default_rng(seed)
    out = panel.copy()
    later_y = (out[TIME] > y_after).to_numpy()
    out.loc[later_y, TARGET] = rng.normal(100.0, 30.0, int(later_y.sum()))
    later = (out[TIME] > exog_after).to_numpy()
    k = int(later.sum())
    if "price" in out:
        out.loc[later, "price"] = rng.uniform(1.0, 50.0, k)
    if "promo" in out:
        out.loc[later, "promo"] = rng.integers(0, 2, k)
    return out


def periods_before(ds: pd.Timestamp, freq: str, n: int) -> pd.Timestamp:
    """The period label n periods before `ds` at frequency `freq`."""
    return ds - n * pd.tseries.frequencies.to_offset(FREQUENCIES[freq])


def truncate_future(panel: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The panel without its rows after `cutoff`."""
    return panel[panel[TIME] <= cutoff].reset_index(drop=True)


def extend_future(
    panel: pd.DataFrame, freq: str, periods: int, seed: int, *, after: pd.Timestamp
) -> pd.DataFrame:
    """The panel with `periods` more random rows at the end of each series that reaches `after`
    (one that ended earlier would get rows before `after`), re-sorted."""
    rng = np.random.default_rng(seed)
    last = panel.groupby(ID, sort=True)[TIME].max()
    last = last[last >= after]
    if last.empty:
        return panel
    extra = pd.concat(
        [
            pd.DataFrame(
                {ID: uid, TIME: pd.date_range(end, periods=periods + 1, freq=FREQUENCIES[freq])[1:]}
            )
            for uid, end in last.items()
        ],
        ignore_index=True,
    ).astype({ID: "str"})
    n = len(extra)
    extra[TARGET] = rng.normal(-50.0, 10.0, n)
    if "price" in panel:
        extra["price"] = rng.uniform(0.0, 3.0, n)
    if "promo" in panel:
        extra["promo"] = rng.integers(0, 2, n)
    combined = pd.concat([panel, extra[panel.columns]], ignore_index=True)
    return combined.sort_values([ID, TIME], kind="stable", ignore_index=True)
