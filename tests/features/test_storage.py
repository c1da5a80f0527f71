"""Datasets on disk: Parquet plus manifest, read back unchanged, never left half-written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.demand import build_demand_dataset
from features.errors import DataError
from features.ingest import sales_from_frames
from features.storage import (
    read_demand_dataset,
    read_trend_dataset,
    recover_datasets,
    replace_datasets,
    write_demand_dataset,
    write_trend_dataset,
)
from features.synthetic import make_small_panel
from features.trend import build_trend_dataset


@pytest.fixture(scope="module")
def datasets():  # type: ignore[no-untyped-def]
    """A demand and trend dataset from the small demo panel."""
    demo = make_small_panel(seed=2, n_series=5, n_days=90)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    return demand, build_trend_dataset(demand)


def test_datasets_round_trip_through_parquet(datasets, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What is written is what a training run reads back, manifest and all."""
    demand, trend = datasets
    write_demand_dataset(demand, tmp_path)
    write_trend_dataset(trend, tmp_path)
    demand_back = read_demand_dataset(tmp_path)
    trend_back = read_trend_dataset(tmp_path)
    pd.testing.assert_frame_equal(demand_back.panel, demand.panel)
    pd.testing.assert_frame_equal(demand_back.static, demand.static)
    pd.testing.assert_frame_equal(trend_back.frame, trend.frame)
    assert demand_back.manifest.content_hash == demand.manifest.content_hash
    assert demand_back.manifest.files == {"panel": "panel.parquet", "static": "static.parquet"}


def test_a_failed_write_keeps_the_previous_dataset(datasets, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """If writing breaks halfway, the dataset that was there before is still whole."""
    demand, _ = datasets
    write_demand_dataset(demand, tmp_path)
    broken = type(demand)(
        panel=demand.panel.assign(bad=[object()] * len(demand.panel)),
        static=demand.static,
        manifest=demand.manifest,
    )
    with pytest.raises(Exception, match=r"bad|object|Conversion"):
        write_demand_dataset(broken, tmp_path)
    again = read_demand_dataset(tmp_path)
    pd.testing.assert_frame_equal(again.panel, demand.panel)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_replacing_both_datasets_keeps_the_old_pair_when_writing_fails(
    datasets, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The pair is swapped in whole: a trend that cannot be written leaves both old datasets."""
    demand, trend = datasets
    data_dir = tmp_path / "datasets"
    replace_datasets(data_dir, demand, trend)
    (data_dir / "notes.txt").write_text("kept")
    broken = type(trend)(
        frame=trend.frame.assign(bad=[object()] * len(trend.frame)),
        membership=trend.membership,
        manifest=trend.manifest,
    )
    other = build_demand_dataset(sales_from_frames(make_small_panel(seed=3, n_series=4).sales))
    with pytest.raises(Exception, match=r"bad|object|Conversion"):
        replace_datasets(data_dir, other, broken)
    assert read_demand_dataset(data_dir).manifest.content_hash == demand.manifest.content_hash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets"]
    replace_datasets(data_dir, other, trend)
    assert read_demand_dataset(data_dir).manifest.content_hash == other.manifest.content_hash
    assert (data_dir / "notes.txt").read_text() == "kept"


def test_a_swap_cut_short_by_a_crash_is_undone(tmp_path: Path) -> None:
    """If the old datasets were moved aside but the new ones not moved in, they come back."""
    data_dir = tmp_path / "datasets"
    (tmp_path / ".datasets.old" / "demand").mkdir(parents=True)
    (tmp_path / ".datasets.new-abc" / "demand").mkdir(parents=True)
    recover_datasets(data_dir)
    assert (data_dir / "demand").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datasets"]


def test_reading_a_folder_without_a_dataset_says_so(tmp_path: Path) -> None:
    """A wrong --data path names the folder and what to do."""
    with pytest.raises(DataError, match="build it first"):
        read_demand_dataset(tmp_path)
