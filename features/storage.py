"""Write and read the demand and trend datasets as Parquet folders with their manifests.

Each dataset folder is written beside its final place and swapped in with a rename, so a crash
or a bad input never leaves a half-written dataset or loses the one that was there before.
`replace_datasets` does the same for the pair: both datasets are written into a sibling of the
datasets folder, which then takes its place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from features.demand import DemandDataset
from features.errors import DataError
from features.manifest import MANIFEST_FILE, Manifest
from features.trend import DIRECTIONS, TrendDataset

DEMAND_FOLDER = "demand"
TREND_FOLDER = "trend"


def _swap_in(staging: Path, target: Path) -> None:
    """Replace `target` with the finished `staging` folder, keeping the old one until it is in."""
    backup = target.with_name(f".{target.name}.old")
    if backup.exists():
        shutil.rmtree(backup)
    if target.exists():
        os.replace(target, backup)
    os.replace(staging, target)
    if backup.exists():
        shutil.rmtree(backup)


def _write_folder(target: Path, tables: dict[str, pd.DataFrame], manifest: Manifest) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)
    try:
        files = {}
        for name, table in tables.items():
            path = staging / f"{name}.parquet"
            table.to_parquet(path, index=False)
            files[name] = path.name
        Manifest(**{**vars(manifest), "files": files}).write(staging)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def write_demand_dataset(dataset: DemandDataset, out_dir: str | Path) -> Path:
    """Write panel.parquet, static.parquet and manifest.json into out_dir/demand."""
    tables = {"panel": dataset.panel, "static": dataset.static}
    return _write_folder(Path(out_dir) / DEMAND_FOLDER, tables, dataset.manifest)


def write_trend_dataset(dataset: TrendDataset, out_dir: str | Path) -> Path:
    """Write trend.parquet, membership.parquet and manifest.json into out_dir/trend."""
    tables = {"trend": dataset.frame, "membership": dataset.membership}
    return _write_folder(Path(out_dir) / TREND_FOLDER, tables, dataset.manifest)


def _read_manifest(folder: Path) -> Manifest:
    if not (folder / MANIFEST_FILE).exists():
        raise DataError(f"{folder} holds no dataset (no {MANIFEST_FILE}); build it first")
    return Manifest.read(folder)


def read_demand_dataset(out_dir: str | Path) -> DemandDataset:
    """Load a demand dataset written by `write_demand_dataset`."""
    folder = Path(out_dir) / DEMAND_FOLDER
    manifest = _read_manifest(folder)
    panel = pd.read_parquet(folder / "panel.parquet")
    static = pd.read_parquet(folder / "static.parquet")
    return DemandDataset(panel=panel, static=static, manifest=manifest)


def read_trend_dataset(out_dir: str | Path) -> TrendDataset:
    """Load a trend dataset written by `write_trend_dataset`."""
    folder = Path(out_dir) / TREND_FOLDER
    manifest = _read_manifest(folder)
    frame = pd.read_parquet(folder / "trend.parquet")
    for column in frame.columns:
        if column.startswith("direction_"):
            frame[column] = pd.Categorical(frame[column], categories=list(DIRECTIONS))
    membership = pd.read_parquet(folder / "membership.parquet")
    return TrendDataset(frame=frame, membership=membership, manifest=manifest)


def replace_datasets(data_dir: Path, demand: DemandDataset, trend: TrendDataset) -> None:
    """Write both datasets into a sibling folder, then swap it in for `data_dir`.

    A failure (or a crash) before the swap leaves the previous datasets as they were; the two
    renames of the swap are undone at the next build if a crash fell between them.
    """
    parent = data_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    backup = parent / f".{data_dir.name}.old"
    recover_datasets(data_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.new-", dir=parent))
    staging.chmod(0o755)
    try:
        write_demand_dataset(demand, staging)
        write_trend_dataset(trend, staging)
        if data_dir.is_dir():
            for entry in data_dir.iterdir():  # anything else kept beside the datasets
                if not (staging / entry.name).exists():
                    copy = shutil.copytree if entry.is_dir() else shutil.copy2
                    copy(entry, staging / entry.name)
            os.replace(data_dir, backup)
        os.replace(staging, data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def recover_datasets(data_dir: Path) -> None:
    """Undo a swap a crash cut short, and remove half-written folders of earlier builds."""
    parent = data_dir.parent
    backup = parent / f".{data_dir.name}.old"
    if backup.is_dir() and not data_dir.exists():
        os.replace(backup, data_dir)
    shutil.rmtree(backup, ignore_errors=True)
    for stale in parent.glob(f".{data_dir.name}.new-*"):
        shutil.rmtree(stale, ignore_errors=True)
