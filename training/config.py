"""TrainConfig: the recipe of a training run, read from a small TOML file with sensible defaults.

It says what a run does (horizon, backtest windows, candidate models, interval levels); where
things live (stores, URIs) is the settings object's business, not this one's.

    [model]
    horizon = 28
    members = ["dynamic_theta", "auto_ets", "global_hgb"]
    combination = "mean"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from training.errors import TrainingError
from training.models import MODELS


class ModelConfig(BaseModel):
    """Which models, how they are combined, and how far ahead."""

    model_config = ConfigDict(extra="forbid")

    horizon: int = Field(default=28, ge=1, le=730)
    n_windows: int = Field(default=2, ge=1, le=20)
    levels: list[int] = Field(default_factory=lambda: [80, 95])
    members: list[str] = Field(default_factory=lambda: ["dynamic_theta", "auto_ets", "global_hgb"])
    combination: Literal["mean", "median", "inverse_error", "best"] = "mean"
    intermittent: str | None = "tsb"
    season_length: int | None = Field(default=None, ge=1)
    country: str | None = "DE"

    @field_validator("members")
    @classmethod
    def _known_members(cls, members: list[str]) -> list[str]:
        unknown = [m for m in members if m not in MODELS]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; choose from {sorted(MODELS)}")
        if not members:
            raise ValueError("at least one model is needed")
        return members

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: list[int]) -> list[int]:
        bad = [level for level in levels if not 0 < level < 100]
        if bad:
            raise ValueError(f"interval levels are percentages between 0 and 100, got {bad}")
        return sorted(set(levels))


class RunConfig(BaseModel):
    """How the run uses the machine and its randomness."""

    model_config = ConfigDict(extra="forbid")

    n_jobs: int = -1
    seed: int = 0


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
