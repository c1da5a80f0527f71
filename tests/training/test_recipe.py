"""One recipe: what the benchmarks measure is what `anticipate train` ships, from TrainConfig()."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.base import BaseEstimator

from anticipate.cli.train import load_recipe
from benchmarks.m3 import default_config, default_model
from training.config import TrainConfig
from training.errors import TrainingError
from training.pipeline import build_model


def _described(value: object) -> object:
    """Estimators as (class, params) all the way down, so two builds compare with ==."""
    if isinstance(value, BaseEstimator):
        params = value.get_params(deep=False)
        return (type(value).__name__, {k: _described(v) for k, v in sorted(params.items())})
    if isinstance(value, list | tuple):
        return [_described(v) for v in value]
    return value


def test_the_m3_default_is_the_cli_default_with_only_the_datasets_fields_set() -> None:
    """The benchmark's model equals `anticipate train`'s recipe with M3's horizon and calendar."""
    h, season_length = 18, 12
    cli_recipe = load_recipe(None)  # what `anticipate train` uses without --config
    assert cli_recipe == TrainConfig()
    changed = {
        key
        for key, value in default_config(h).model.model_dump().items()
        if cli_recipe.model.model_dump()[key] != value
    }
    assert changed == {"horizon", "country", "use_calendar"}
    assert default_config(h).run == cli_recipe.run
    for_m3 = cli_recipe.model_copy(
        update={
            "model": cli_recipe.model.model_copy(
                update={"horizon": h, "country": None, "use_calendar": False}
            )
        }
    )
    benchmark = default_model(h, season_length, 2)
    shipped = build_model(for_m3, season_length, n_jobs=2)
    assert _described(benchmark) == _described(shipped)
    assert _described(benchmark) != _described(build_model(cli_recipe, season_length, n_jobs=2))


def test_the_shipped_global_model_uses_the_loss_the_m3_results_were_measured_with() -> None:
    """absolute_error, the loss of benchmarks/results/m3.md, for the CLI and the benchmark."""
    for model in (build_model(TrainConfig(), 7), default_model(6, 1, 1)):
        (global_hgb,) = [m for m in model.models if m.alias_name == "global_hgb"]
        assert global_hgb.loss == "absolute_error"
        assert [m.alias_name for m in model.models] == ["dynamic_theta", "auto_ets", "global_hgb"]
        assert type(model.intermittent).__name__ == "TSB"


def test_old_config_files_with_levels_still_load(tmp_path: Path) -> None:
    """`levels` in a TOML file is read as interval_levels."""
    path = tmp_path / "old.toml"
    path.write_text("[model]\nhorizon = 7\nlevels = [95, 50]\n")
    assert TrainConfig.from_toml(path).model.interval_levels == [50, 95]


def test_n_jobs_in_a_config_file_is_refused_and_named(tmp_path: Path) -> None:
    """Cores are a machine setting: a recipe that sets them is told where they belong."""
    path = tmp_path / "machine.toml"
    path.write_text("[model]\nhorizon = 7\n[run]\nn_jobs = 4\n")
    with pytest.raises(
        TrainingError, match=r"run: .*n_jobs is a machine setting.*ANTICIPATE_N_JOBS"
    ):
        TrainConfig.from_toml(path)
