"""The compact history statistics a snapshot serves with equal the full ones at its origins."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import ID, TARGET, TIME
from serving.ledger import HistoryStats


def _history() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    parts = []
    for uid, n in (("a", 40), ("b", 3), ("c", 15), ("flat", 20)):
        y = np.full(n, 4.0) if uid == "flat" else rng.poisson(6, n).astype(float)
        parts.append(
            pd.DataFrame({ID: uid, TIME: pd.date_range("2026-01-01", periods=n), TARGET: y})
        )
    return pd.concat(parts, ignore_index=True).sample(frac=1, random_state=1)


def test_the_last_rows_give_the_full_statistics_at_each_series_end() -> None:
    history = _history()
    full = HistoryStats(history, season_length=7)
    compact = full.last_rows(7)
    assert len(compact.ds) == sum(min(n, 7) for n in (40, 3, 15, 20)) < len(full.ds)
    ends = history.groupby(ID)[TIME].max()
    ids = list(ends.index)
    for h in (1, 3, 7):
        a, b = full.at(ids, h, list(ends)), compact.at(ids, h, list(ends))
        for name in ("mase_scale", "recent_mean", "change_scale"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # the full statistics know earlier origins; the compact ones only their last rows
    early = [ends[uid] - pd.Timedelta(days=10) for uid in ids]
    assert np.isfinite(full.at(["a"], 1, early[:1]).mase_scale).all()
    assert np.isnan(compact.at(["a"], 1, early[:1]).mase_scale).all()
