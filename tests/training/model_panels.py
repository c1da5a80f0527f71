"""Small panels for model tests, built from arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import ID, TARGET, TIME


def panel_of(series: dict[str, np.ndarray], freq: str = "MS") -> pd.DataFrame:
    """A canonical panel from arrays keyed by series id."""
    frames = [
        pd.DataFrame(
            {ID: uid, TIME: pd.date_range("2000-01-01", periods=len(y), freq=freq), TARGET: y}
        )
        for uid, y in series.items()
    ]
    return pd.concat(frames, ignore_index=True)
