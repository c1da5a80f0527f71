"""The feature frame for machine-learning models: every builder joined onto the panel's rows.

`build_feature_frame` keeps the panel's rows, index, order and columns and appends, in order,
calendar, holiday (with a country), lag, rolling (mean, std, min, max), EWM (if asked),
price/promo (for the columns present) and static (if given) features. The feature names are in
`frame.attrs["feature_names"]` (`feature_names(frame)`), in column order; they include the
panel's price and promo, which are known in advance, and any `known_exog` columns.

Defaults per frequency, at h = 1 (lags from `default_lags`: h, the BASE_LAGS >= h and the first
multiple of the season length >= h, topped up with later seasonal lags to at least three):
    D  lags 1,2,3,7,14,21,28   windows 7,28   price window 28
    W  lags 1,2,3,4,8,13,26,52 windows 4,13   price window 13
    M  lags 1,2,3,6,12         windows 3,12   price window 6
    Q  lags 1,2,4,8            windows 4      price window 4
    Y  lags 1,2,3              windows 3      price window 3
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from features.calendar_features import (
    FOURIER_TERMS,
    calendar_features,
    check_freq,
    holiday_features,
)
from features.errors import DataError
from features.exog import join_static, price_promo_features
from features.lags import (
    ROLLING_STATS,
    check_horizon,
    ewm_features,
    lag_features,
    rolling_features,
    series_codes,
)
from features.schema import PANEL_COLUMNS, SEASON_LENGTH, TIME

FEATURE_NAMES = "feature_names"

#: Candidate lags per frequency; those below h are dropped and seasonal ones >= h added.
BASE_LAGS: dict[str, tuple[int, ...]] = {
    "D": (1, 2, 3, 7, 14, 21, 28),
    "W": (1, 2, 3, 4, 8, 13, 26, 52),
    "M": (1, 2, 3, 6, 12),
    "Q": (1, 2, 4, 8),
    "Y": (1, 2, 3),
}
#: Rolling windows of y (in periods) per frequency: about a season and a longer baseline.
DEFAULT_WINDOWS: dict[str, tuple[int, ...]] = {
    "D": (7, 28),
    "W": (4, 13),
    "M": (3, 12),
    "Q": (4,),
    "Y": (3,),
}
#: Trailing windows for the relative price, roughly a month or a season of history.
PRICE_WINDOWS: dict[str, tuple[int, ...]] = {
    "D": (28,),
    "W": (13,),
    "M": (6,),
    "Q": (4,),
    "Y": (3,),
}
_MIN_DEFAULT_LAGS = 3


def default_lags(freq: str, h: int) -> list[int]:
    """Lags usable at horizon h: h itself, the candidates >= h and the next seasonal lags."""
    check_freq(freq)
    check_horizon(h)
    m = SEASON_LENGTH[freq]
    seasonal = m * -(-h // m)  # the first multiple of the season length at or after h
    lags = {h, seasonal, *(k for k in BASE_LAGS[freq] if k >= h)}
    while len(lags) < _MIN_DEFAULT_LAGS:
        lags.add(max(lags) + m)
    return sorted(lags)


def _known_exog(panel: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Panel columns passed through as features, checked to exist and be numeric."""
    absent = [c for c in names if c not in panel.columns]
    if absent:
        raise DataError(f"Known exogenous column(s) {absent} are not in the panel.")
    text = [c for c in names if not pd.api.types.is_numeric_dtype(panel[c])]
    if text:
        raise DataError(f"Known exogenous column(s) {text} are not numeric: encode them first.")
    return list(dict.fromkeys(names))


def build_feature_frame(
    panel: pd.DataFrame,
    *,
    freq: str,
    h: int,
    lags: Sequence[int] | None = None,
    windows: Sequence[int] | None = None,
    country: str | None = None,
    subdiv: str | None = None,
    static: pd.DataFrame | None = None,
    fourier_terms: int = FOURIER_TERMS,
    rolling_stats: Sequence[str] = ROLLING_STATS,
    ewm_alphas: Sequence[float] = (),
    price_windows: Sequence[int] | None = None,
    known_exog: Sequence[str] = (),
) -> pd.DataFrame:
    """The panel's rows with every feature for forecasting h periods ahead appended.

    Defaults per frequency are in the module docstring; names in `attrs["feature_names"]`.
    """
    check_freq(freq)
    check_horizon(h)
    missing = [c for c in PANEL_COLUMNS if c not in panel.columns]
    if missing:
        raise DataError(f"The panel lacks column(s) {missing}.")
    series_codes(panel)  # fail early on an unsorted panel
    parts = [calendar_features(panel[TIME], freq, fourier_terms=fourier_terms)]
    if country is not None:
        parts.append(holiday_features(panel[TIME], freq, country=country, subdiv=subdiv))
    parts.append(lag_features(panel, default_lags(freq, h) if lags is None else lags, h=h))
    roll_windows = DEFAULT_WINDOWS[freq] if windows is None else windows
    if len(roll_windows) and len(rolling_stats):
        parts.append(rolling_features(panel, roll_windows, h=h, stats=rolling_stats))
    if len(ewm_alphas):
        parts.append(ewm_features(panel, ewm_alphas, h=h))
    exog = price_promo_features(
        panel, windows=PRICE_WINDOWS[freq] if price_windows is None else price_windows
    )
    given = [c for c in exog.columns if c in panel.columns]
    passthrough = [*given, *_known_exog(panel, known_exog)]
    parts.append(exog.drop(columns=given))
    if static is not None:
        parts.append(join_static(panel, static))
    added = pd.concat([p.reset_index(drop=True) for p in parts], axis=1)
    names = [*added.columns, *passthrough]
    clash = sorted({c for c in names if names.count(c) > 1} | (set(added.columns) & set(panel)))
    if clash:
        raise DataError(f"Feature names {clash} appear twice: rename the panel or static columns.")
    frame = pd.concat([panel.reset_index(drop=True), added], axis=1).set_axis(panel.index)
    chosen = set(names)
    frame.attrs[FEATURE_NAMES] = [c for c in frame.columns if c in chosen]
    return frame


def feature_names(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a frame made by `build_feature_frame`, in order."""
    if FEATURE_NAMES not in frame.attrs:
        raise ValueError("This frame was not made by build_feature_frame (no feature names).")
    return list(frame.attrs[FEATURE_NAMES])


def feature_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Just the feature columns, ready for a model that handles NaN and categoricals."""
    return frame[feature_names(frame)]
