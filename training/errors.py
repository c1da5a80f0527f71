"""Errors of the training layer.

    TrainingError(ValueError)          a model cannot be trained or used as asked
    ├── NotEnoughHistoryError          series too short for the requested backtest or model
    └── UnknownModelError              a model name that is not in the registry

`NotFittedError` (scikit-learn's) is raised when `predict` comes before `fit`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.exceptions import NotFittedError

__all__ = ["NotEnoughHistoryError", "NotFittedError", "TrainingError", "UnknownModelError"]


class TrainingError(ValueError):
    """A model cannot be trained or used as asked."""


class NotEnoughHistoryError(TrainingError):
    """Some series are too short for what was asked; they are named in `unique_ids`."""

    def __init__(self, message: str, unique_ids: Sequence[str] = ()) -> None:
        shown = ", ".join(map(repr, list(unique_ids)[:5]))
        more = f" and {len(unique_ids) - 5} more" if len(unique_ids) > 5 else ""
        super().__init__(f"{message}: {shown}{more}" if unique_ids else message)
        self.unique_ids = list(unique_ids)


class UnknownModelError(TrainingError):
    """A model name that the registry does not know."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown model {name!r}; choose one of {', '.join(sorted(known))}")
        self.name = name
