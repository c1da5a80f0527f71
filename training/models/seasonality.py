"""Seasonality shared by the local models: the M3/M4 Theta test and classical decomposition.

The test (Assimakopoulos & Nikolopoulos 2000; the M4 benchmarks): lag-m autocorrelation
significant at 90 %, on series of at least three seasons. Decomposition by centred moving
average, multiplicative for strictly positive data and additive otherwise.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Critical value of the M3/M4 Theta seasonality test (90 %, two-sided on |r_m|).
SEASONALITY_Z = 1.6448536269514722


class Seasonality(NamedTuple):
    """Seasonal indices for the m periods after the history, multiplicative or additive."""

    indices: tuple[float, ...]
    multiplicative: bool

    def apply(self, forecast: np.ndarray) -> np.ndarray:
        """Put the seasonality back into a deseasonalised forecast."""
        season = np.asarray(self.indices)[np.arange(len(forecast)) % len(self.indices)]
        return forecast * season if self.multiplicative else forecast + season


def acf(y: np.ndarray, nlags: int) -> np.ndarray:
    """Sample autocorrelations r_0..r_nlags (biased estimator, as statsmodels' `acf`)."""
    x = y - y.mean()
    denom = float(x @ x)
    if denom <= 0.0:
        return np.r_[1.0, np.zeros(nlags)]
    return np.array([1.0] + [float(x[: len(x) - k] @ x[k:]) / denom for k in range(1, nlags + 1)])


def seasonality_test(y: np.ndarray, m: int) -> bool:
    """The M3/M4 Theta test: |r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n), n >= 3m."""
    n = len(y)
    if m < 2 or n < 3 * m:
        return False
    r = acf(np.asarray(y, dtype="float64"), m)
    limit = SEASONALITY_Z * np.sqrt((1.0 + 2.0 * np.sum(r[1:m] ** 2)) / n)
    return bool(abs(r[m]) > limit)


def classical_decomposition(y: np.ndarray, m: int, multiplicative: bool) -> tuple:
    """Classical decomposition: the centred moving-average trend (NaN at the ends) and the m
    seasonal indices (index t % m for time t), normalised to mean 1 or sum 0."""
    filt = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    start = len(filt) // 2
    trend = np.full(len(y), np.nan)
    trend[start : len(y) - start] = np.convolve(y, filt, mode="valid")
    detrended = y / trend if multiplicative else y - trend
    padded = np.full(-(-len(y) // m) * m, np.nan)
    padded[: len(y)] = detrended
    means = np.nanmean(padded.reshape(-1, m), axis=0)
    return trend, means / means.mean() if multiplicative else means - means.mean()


def classical_indices(y: np.ndarray, m: int, multiplicative: bool) -> np.ndarray:
    """Seasonal indices of classical decomposition (centred MA), index t % m for time t."""
    return classical_decomposition(y, m, multiplicative)[1]


def deseasonalize(
    y: np.ndarray, m: int, test: bool = True
) -> tuple[np.ndarray, Seasonality | None]:
    """Remove seasonality by classical decomposition when `test` is off or passes.

    Multiplicative for strictly positive data whose indices stay above 0.01, additive otherwise.
    """
    if m < 2 or len(y) < 2 * m or np.ptp(y) == 0 or (test and not seasonality_test(y, m)):
        return y, None
    multiplicative = bool(y.min() > 0)
    indices = classical_indices(y, m, multiplicative)
    if multiplicative and indices.min() < 0.01:
        multiplicative, indices = False, classical_indices(y, m, False)
    if not np.all(np.isfinite(indices)):
        return y, None
    season = indices[np.arange(len(y)) % m]
    adjusted = y / season if multiplicative else y - season
    future = indices[(len(y) + np.arange(m)) % m]
    return adjusted, Seasonality(tuple(float(v) for v in future), multiplicative)
