"""TrainConfig: the recipe of a training run, read from a small TOML file with sensible defaults.

It says what a run does (horizon, backtest windows, candidate models, interval levels, holiday
country, loss); where things live and how the machine is used (stores, URIs, n_jobs, a Dask
scheduler) is the settings object's business, passed to training as plain arguments.

    [model]
    horizon = 28
    members = ["dynamic_theta", "auto_ets", "global_hgb"]
    combination = "mean"
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from training.errors import TrainingError
from training.models import MODELS
from training.opening import StoreOpening, Weekday


class OpeningConfig(BaseModel):
    """A planner's correction of one store's learned opening calendar (training.opening)."""

    model_config = ConfigDict(extra="forbid")

    closed_weekdays: list[Weekday] = []
    open_weekdays: list[Weekday] = []
    closed_on_holidays: bool | None = None
    closed_dates: list[date] = []
    open_dates: list[date] = []

    def to_opening(self) -> StoreOpening:
        """The training-side value."""
        return StoreOpening(
            closed_weekdays=tuple(self.closed_weekdays),
            open_weekdays=tuple(self.open_weekdays),
            closed_on_holidays=self.closed_on_holidays,
            closed_dates=tuple(d.isoformat() for d in self.closed_dates),
            open_dates=tuple(d.isoformat() for d in self.open_dates),
        )


class ModelConfig(BaseModel):
    """Which models, how they are combined, and how far ahead.

    The defaults are the configuration the M3 benchmark measured (benchmarks/results/m3.md).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    horizon: int = Field(default=28, ge=1, le=730)
    n_windows: int = Field(default=2, ge=1, le=20)
    #: Interval levels in percent; old config files call them `levels`.
    interval_levels: list[int] = Field(
        default_factory=lambda: [80, 95],
        validation_alias=AliasChoices("interval_levels", "levels"),
    )
    members: list[str] = Field(default_factory=lambda: ["dynamic_theta", "auto_ets", "global_hgb"])
    combination: Literal["mean", "median", "inverse_error", "best"] = "mean"
    intermittent: str | None = "tsb"
    #: How the levels of a hierarchy are made to add up ("auto": of bottom-up, WLS (structural,
    #: variance) and MinT-shrink, the one the backtest shows harming the fewest levels, then the
    #: most accurate; "none": each level's own forecast, incoherent). See training.reconcile.
    reconciliation: Literal["auto", "bottom_up", "wls_struct", "wls_var", "mint_shrink", "none"] = (
        "auto"
    )
    season_length: int | None = Field(default=None, ge=1)
    #: Country whose public holidays are features of the global models (None: no holidays),
    #: and the days a store that closed on past holidays is forecast closed.
    country: str | None = "DE"
    #: Forecast 0 on each store's closing days, learned from daily history (training.opening).
    closed_days: bool = True
    #: Per store (as named in the sales file, e.g. "shop-1"): corrections of what was learned,
    #: e.g. `[model.opening.shop-2] open_weekdays = ["Sun"]`.
    opening: dict[str, OpeningConfig] = {}
    #: Calendar features for the global models; off for data whose dates are labels only (M3).
    use_calendar: bool = True
    #: Loss of the gradient-boosting global model (absolute_error won on M3's sMAPE and MASE).
    global_loss: Literal["squared_error", "absolute_error"] = "absolute_error"

    @field_validator("members")
    @classmethod
    def _known_members(cls, members: list[str]) -> list[str]:
        unknown = [m for m in members if m not in MODELS]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; choose from {sorted(MODELS)}")
        if not members:
            raise ValueError("at least one model is needed")
        return members

    @field_validator("interval_levels")
    @classmethod
    def _interval_levels(cls, interval_levels: list[int]) -> list[int]:
        bad = [lv for lv in interval_levels if not 0 < lv < 100]
        if bad:
            raise ValueError(f"interval levels are percentages between 0 and 100, got {bad}")
        return sorted(set(interval_levels))


class RunConfig(BaseModel):
    """The run's randomness (how many cores it uses is a machine setting, not the recipe's)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _no_machine_settings(cls, data: object) -> object:
        if isinstance(data, dict) and "n_jobs" in data:
            raise ValueError(
                "n_jobs is a machine setting, not part of the recipe: remove it here and set "
                "ANTICIPATE_N_JOBS (or pass n_jobs= to run_training)"
            )
        return data


class TrainConfig(BaseModel):
    """The whole recipe of a training run."""

    model_config = ConfigDict(extra="forbid")

    model: ModelConfig = Field(default_factory=ModelConfig)
    run: RunConfig = Field(default_factory=RunConfig)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        """Read a TOML config; every problem is reported with its field and the file name."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainingError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise TrainingError(f"config file {path} is not valid TOML: {err}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()
            )
            raise TrainingError(f"config file {path}: {problems}") from None

    def flat_params(self) -> dict[str, str]:
        """Every setting as a flat name -> text mapping (for experiment tracking)."""
        out: dict[str, str] = {}
        for section, values in self.model_dump().items():
            for key, value in values.items():
                out[f"{section}.{key}"] = str(value)
        return out
