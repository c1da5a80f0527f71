"""Order quantities from the forecast distribution of demand over the protection period.

An order placed now arrives after `lead_time` periods and must last until the next order arrives,
`review_period` periods later: the protection period is lead_time + review_period. Its demand is
the sum of the forecasts over those periods, with the spread of such sums that the backtest
showed (the rolling-origin errors of k-period totals, scaled by each series' in-sample naive
error and pooled by hierarchy level: `total_errors`). The order brings the inventory position (on
hand + on order) up to the quantile of that demand at the target probability:

- a cycle service level (the probability of no stock-out before the next order arrives), or
- for perishables, the newsvendor critical ratio (price - cost) / (price - salvage) (Arrow, Harris
  & Marschak 1951; the standard single-period result), from unit cost, price and salvage value.

`distribution="empirical"` takes the quantile, stock-out risk and expected leftover from the
backtest errors themselves; `"normal"` from a normal distribution with their mean and spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from features.schema import ID, TARGET
from training.backtest import CUTOFF, STEP
from training.base import MODEL, YHAT
from training.errors import TrainingError

__all__ = ["Order", "OrderPolicy", "demand_over", "suggest_order", "total_errors"]

DISTRIBUTIONS = ("empirical", "normal")


@dataclass(frozen=True)
class OrderPolicy:
    """How one series is replenished; quantities in the series' units."""

    lead_time: int
    review_period: int = 1
    service_level: float | None = 0.95
    unit_cost: float | None = None
    unit_price: float | None = None
    salvage_value: float = 0.0
    pack_size: float = 1.0
    min_order: float = 0.0

    @property
    def protection_periods(self) -> int:
        """Periods the stock must cover: until an order placed at the next review arrives."""
        return int(self.lead_time) + int(self.review_period)

    def target_probability(self) -> tuple[float, str]:
        """The probability of covering demand the order aims at, and the rule that gave it."""
        if self.unit_cost is not None and self.unit_price is not None:
            margin = self.unit_price - self.unit_cost
            spread = self.unit_price - self.salvage_value
            if spread <= 0 or margin <= 0:
                raise TrainingError(
                    "the newsvendor ratio needs unit_price above unit_cost and salvage_value"
                )
            return margin / spread, "newsvendor"
        if self.service_level is None:
            raise TrainingError("give a service_level, or unit_cost and unit_price")
        return float(self.service_level), "service_level"


@dataclass(frozen=True)
class Order:
    """The suggestion for one series and what it is expected to lead to."""

    protection_periods: int
    demand_mean: float
    demand_quantile: float
    target_probability: float
    rule: str
    inventory_position: float
    order_quantity: float
    stockout_risk: float
    expected_leftover: float
    expected_shortage: float


def total_errors(
    backtest: pd.DataFrame,
    model: str,
    scale: pd.Series,
    levels: pd.Series,
    max_periods: int,
) -> dict[str, np.ndarray]:
    """Scaled errors of k-period demand totals in the backtest, pooled per hierarchy level.

    For every series and backtest origin: (sum of y - sum of yhat over steps 1..k) / the series'
    scale, for k = 1..max_periods. Returns, per level, an array (max_periods, n_origins) with NaN
    where an origin had fewer than k steps.
    """
    rows = backtest[backtest[MODEL] == model]
    rows = rows[rows[STEP] <= max_periods].sort_values([ID, CUTOFF, STEP])
    error = (rows[TARGET] - rows[YHAT]).to_numpy()
    keys = rows[ID].astype("str") + "|" + rows[CUTOFF].astype("str")
    wide = (
        pd.DataFrame({"key": keys.to_numpy(), STEP: rows[STEP].to_numpy(), "e": error})
        .pivot_table(index="key", columns=STEP, values="e", sort=False)
        .reindex(columns=range(1, max_periods + 1))
    )
    ids = wide.index.str.rsplit("|", n=1).str[0]
    totals = np.cumsum(wide.to_numpy(), axis=1)  # NaN after a missing step stays NaN
    scales = scale.reindex(ids).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = totals / np.where(scales > 0, scales, np.nan)[:, None]
    level_of = levels.reindex(ids).astype("str").to_numpy()
    return {str(level): scaled[level_of == level].T for level in pd.unique(level_of)}


def demand_over(
    forecast: np.ndarray, scale: float, errors: np.ndarray, periods: int
) -> tuple[float, np.ndarray]:
    """The forecast demand total over `periods` and its possible values (forecast + errors).

    `forecast` is the series' point forecast per period (at least `periods` of them), `errors`
    the level's scaled total errors from `total_errors`.
    """
    longest = min(len(forecast), errors.shape[0])
    if periods < 1 or periods > longest:
        raise TrainingError(
            f"a protection period of {periods} periods is outside the forecast's 1..{longest}"
        )
    mean = float(np.sum(forecast[:periods]))
    spread = errors[periods - 1]
    spread = spread[np.isfinite(spread)]
    if not len(spread):
        raise TrainingError(f"the backtest has no {periods}-period totals to learn the spread from")
    return mean, np.maximum(mean + scale * spread, 0.0)


def suggest_order(
    mean: float,
    samples: np.ndarray,
    inventory_position: float,
    policy: OrderPolicy,
    distribution: str = "empirical",
) -> Order:
    """The order that brings `inventory_position` up to the target quantile of demand."""
    if distribution not in DISTRIBUTIONS:
        raise TrainingError(f"unknown distribution {distribution!r}; choose one of {DISTRIBUTIONS}")
    probability, rule = policy.target_probability()
    if distribution == "normal":
        centre = float(mean + np.mean(samples - mean))
        sd = float(np.std(samples, ddof=1)) if len(samples) > 1 else 0.0
        quantile = max(centre + sd * float(stats.norm.ppf(probability)), 0.0) if sd else centre
    else:
        quantile = _empirical_quantile(samples, probability)
    needed = max(quantile - inventory_position, 0.0)
    order = 0.0
    if needed > 0:
        order = max(needed, policy.min_order)
        order = math.ceil(order / policy.pack_size - 1e-9) * policy.pack_size
    stock = inventory_position + order
    if distribution == "normal" and sd > 0:
        z = (stock - centre) / sd
        risk = float(stats.norm.sf(z))
        shortage = sd * float(stats.norm.pdf(z) - z * stats.norm.sf(z))
        leftover = shortage + stock - centre  # E[(S-D)+] = E[(D-S)+] + S - E[D]
    else:
        risk = float(np.mean(samples > stock))
        shortage = float(np.mean(np.maximum(samples - stock, 0.0)))
        leftover = float(np.mean(np.maximum(stock - samples, 0.0)))
    return Order(
        protection_periods=policy.protection_periods,
        demand_mean=float(mean),
        demand_quantile=float(quantile),
        target_probability=float(probability),
        rule=rule,
        inventory_position=float(inventory_position),
        order_quantity=float(order),
        stockout_risk=risk,
        expected_leftover=max(leftover, 0.0),
        expected_shortage=max(shortage, 0.0),
    )


def _empirical_quantile(samples: np.ndarray, probability: float) -> float:
    """The smallest sample with at least `probability` of the samples at or below it
    (the conformal rank ceil((n + 1) p), capped at the largest sample)."""
    ordered = np.sort(samples)
    rank = min(math.ceil((len(ordered) + 1) * probability), len(ordered))
    return float(ordered[max(rank, 1) - 1])
