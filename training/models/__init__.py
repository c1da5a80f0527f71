"""The model registry: every forecaster by its name, so configs and the API can name models."""

from __future__ import annotations

from training.base import BaseForecaster
from training.errors import UnknownModelError
from training.models.arima import AutoARIMA
from training.models.baselines import Drift, Naive, SeasonalNaive, WindowAverage
from training.models.ets import AutoETS
from training.models.global_ml import GlobalLinear, GlobalRegressor
from training.models.intermittent import (
    ADIDA,
    IMAPA,
    TSB,
    AutoIntermittent,
    Croston,
    SimpleExponentialSmoothing,
    classify_demand,
)
from training.models.smoothing import ExponentialSmoothing
from training.models.theta import DynamicOptimizedTheta, Theta

MODELS: dict[str, type[BaseForecaster]] = {
    "naive": Naive,
    "seasonal_naive": SeasonalNaive,
    "window_average": WindowAverage,
    "drift": Drift,
    "exponential_smoothing": ExponentialSmoothing,
    "auto_ets": AutoETS,
    "theta": Theta,
    "dynamic_theta": DynamicOptimizedTheta,
    "auto_arima": AutoARIMA,
    "global_hgb": GlobalRegressor,
    "global_linear": GlobalLinear,
    "simple_es": SimpleExponentialSmoothing,
    "croston": Croston,
    "tsb": TSB,
    "adida": ADIDA,
    "imapa": IMAPA,
    "auto_intermittent": AutoIntermittent,
}


def make_model(name: str, **params: object) -> BaseForecaster:
    """A model from the registry by name, with its hyper-parameters."""
    if name not in MODELS:
        raise UnknownModelError(name, list(MODELS))
    return MODELS[name](**params)  # type: ignore[arg-type]


__all__ = [
    "ADIDA",
    "IMAPA",
    "MODELS",
    "TSB",
    "AutoARIMA",
    "AutoETS",
    "AutoIntermittent",
    "Croston",
    "Drift",
    "DynamicOptimizedTheta",
    "ExponentialSmoothing",
    "GlobalLinear",
    "GlobalRegressor",
    "Naive",
    "SeasonalNaive",
    "SimpleExponentialSmoothing",
    "Theta",
    "WindowAverage",
    "classify_demand",
    "make_model",
]
