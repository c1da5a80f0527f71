"""The `anticipate data` commands as a planner runs them: summaries on success, exit code 2 and
a readable report on bad data, and nothing already built is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anticipate.cli import app
from features.manifest import Manifest
from features.storage import read_demand_dataset, read_trend_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo export written by `anticipate data demo`."""
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["data", "demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_demo_writes_sales_and_attributes(demo_files: Path) -> None:
    """The demo command leaves the two CSV files a planner would export."""
    sales_header = (demo_files / "sales.csv").read_text().split("\n", 1)[0]
    attributes_header = (demo_files / "attributes.csv").read_text().split("\n", 1)[0]
    assert sales_header == "unique_id,ds,y,price,promo"
    assert attributes_header == "unique_id,item,category,store"


@pytest.mark.slow
def test_build_prints_a_summary_and_writes_both_datasets(demo_files: Path, tmp_path: Path) -> None:
    """Series, periods, date range, frequency and the folders are shown; the files are there."""
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            "--sales",
            str(demo_files / "sales.csv"),
            "--attributes",
            str(demo_files / "attributes.csv"),
            "--freq",
            "W",
            "--out",
            str(tmp_path),
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    demand = read_demand_dataset(tmp_path)
    trend = read_trend_dataset(tmp_path)
    for text in (
        "demand",
        "trend",
        f"{demand.manifest.n_series:,}",
        "W (W-MON)",
        demand.manifest.start,
    ):
        assert text in result.output
    assert str(tmp_path / "demand") in result.output
    assert trend.manifest.hierarchy_levels["total"] == 1
    assert demand.panel["ds"].dt.day_of_week.eq(0).all()


def test_column_mapping_flags(tmp_path: Path) -> None:
    """An export that says sku, date, qty is mapped with --id-col, --time-col, --target-col."""
    sales = tmp_path / "export.csv"
    rows = "\n".join(f"croissant;shop-1;2024-01-{d:02d};{d},5" for d in range(1, 15))
    sales.write_text("sku;store;date;qty\n" + rows + "\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            "--sales",
            str(sales),
            "--out",
            str(tmp_path / "out"),
            "--id-col",
            "sku",
            "--id-col",
            "store",
            "--time-col",
            "date",
            "--target-col",
            "qty",
        ],
    )
    assert result.exit_code == 0, result.output
    panel = read_demand_dataset(tmp_path / "out").panel
    assert set(panel["unique_id"]) == {"croissant@shop-1"}
    assert panel["y"].iloc[0] == 1.5


def test_bad_data_exits_2_with_the_report_and_keeps_the_old_dataset(tmp_path: Path) -> None:
    """A broken export leaves the last good dataset in place and says what to fix."""
    good = tmp_path / "good.csv"
    good.write_text("unique_id,ds,y\n" + "\n".join(f"a,2024-01-{d:02d},1" for d in range(1, 11)))
    out = tmp_path / "out"
    assert (
        runner.invoke(app, ["data", "build", "--sales", str(good), "--out", str(out)]).exit_code
        == 0
    )
    before = Manifest.read(out / "demand")
    bad = tmp_path / "bad.csv"
    bad.write_text("unique_id,ds,y\na,2024-01-01,1\na,2024-01-02,-4\na,2024-01-03,lots\n")
    result = runner.invoke(app, ["data", "build", "--sales", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert "negative_y" in result.stderr and "non_numeric_y" in result.stderr
    assert "bad.csv" in result.stderr and "row" in result.stderr
    assert Manifest.read(out / "demand") == before


def test_installed_command_never_shows_a_traceback(tmp_path: Path) -> None:
    """The real console entry point answers a missing file with exit code 2 and one message."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "anticipate.cli",
            "data",
            "build",
            "--sales",
            str(tmp_path / "nope.csv"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "file_not_found" in result.stderr and "nope.csv" in result.stderr


def test_build_without_out_writes_the_settings_data_dir(tmp_path: Path) -> None:
    """With no --out the datasets go to ANTICIPATE_DATA_DIR, where `anticipate train` reads."""
    sales = tmp_path / "sales.csv"
    sales.write_text("unique_id,ds,y\n" + "\n".join(f"a,2024-01-{d:02d},{d}" for d in range(1, 15)))
    folder = tmp_path / "shared" / "datasets"
    result = subprocess.run(
        [sys.executable, "-m", "anticipate.cli", "data", "build", "--sales", str(sales)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "ANTICIPATE_DATA_DIR": str(folder)},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert read_demand_dataset(folder).manifest.n_series == 1
    assert read_trend_dataset(folder).manifest.hierarchy_levels == {"total": 1, "series": 1}
