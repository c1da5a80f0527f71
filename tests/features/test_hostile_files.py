"""Sales files a hostile or careless user passes: compressed, absurdly wide, not files at all.

Each is read, or refused with a located problem (and `anticipate data build` exits 2)."""

from __future__ import annotations

import bz2
import gzip
import os
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anticipate.cli import app
from features.errors import DataValidationError
from features.ingest import read_table
from features.raw_files import MAX_COLUMNS

CSV = "unique_id,ds,y\n" + "\n".join(f"a,2024-01-{d:02d},{d}" for d in range(1, 11)) + "\n"


@pytest.mark.parametrize("name", ["sales.csv.gz", "sales.csv.bz2", "sales.zip", "sales.csv.zip"])
def test_compressed_csv_is_read_like_the_plain_one(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(CSV.encode()))
    elif name.endswith(".bz2"):
        path.write_bytes(bz2.compress(CSV.encode()))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("sales.csv", CSV)
    plain = tmp_path / "plain.csv"
    plain.write_text(CSV)
    assert read_table(path).equals(read_table(plain))


def _problem(path: Path) -> object:
    with pytest.raises(DataValidationError) as caught:
        read_table(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    return problem


def test_a_broken_archive_and_a_zip_of_two_files_are_refused_by_name(tmp_path: Path) -> None:
    broken = tmp_path / "sales.csv.gz"
    broken.write_bytes(b"\x1f\x8b\x08 not really gzip")
    assert _problem(broken).code == "bad_archive"
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", CSV)
        archive.writestr("b.csv", CSV)
    assert "exactly one" in _problem(two).message


def test_an_absurdly_wide_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    width = 2_000_000
    path.write_text(",".join(f"c{i}" for i in range(width)) + "\n" + "1," * (width - 1) + "1\n")
    problem = _problem(path)
    assert problem.code == "too_many_columns" and problem.rows == (1,)
    assert f"{MAX_COLUMNS:,}" in problem.message


def test_a_fifo_or_a_device_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "sales.csv"
    os.mkfifo(fifo)
    assert _problem(fifo).code == "not_a_file"  # would block forever on open
    assert _problem(Path("/dev/zero")).code == "not_a_file"  # would fill memory


def test_data_build_exits_2_with_one_clear_line_for_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "sales.csv"
    os.mkfifo(fifo)
    result = CliRunner().invoke(
        app, ["data", "build", "--sales", str(fifo), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2, result.output
    assert "not a regular file" in result.stderr and "Traceback" not in result.output


def test_data_build_refuses_an_out_that_is_a_file_or_not_writable(tmp_path: Path) -> None:
    sales = tmp_path / "sales.csv"
    sales.write_text(CSV)
    runner = CliRunner()
    a_file = tmp_path / "taken"
    a_file.write_text("keep me")
    result = runner.invoke(app, ["data", "build", "--sales", str(sales), "--out", str(a_file)])
    assert result.exit_code == 2 and "is a file, not a folder" in result.stderr
    assert a_file.read_text() == "keep me"
    # a folder that cannot be made (even by root): /proc takes no new entries
    unwritable = Path("/proc/anticipate-datasets")
    result = runner.invoke(app, ["data", "build", "--sales", str(sales), "--out", str(unwritable)])
    assert result.exit_code == 2 and "cannot be created" in result.stderr, result.output
    assert "Traceback" not in result.output
