"""Price and promotion features, static attributes and known-future coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from panels import make_panel

from features.errors import DataError
from features.exog import (
    check_future_coverage,
    default_plan,
    join_static,
    price_promo_features,
)
from features.schema import ID, TARGET, TIME

NAN = np.nan


def _tiny(**columns: list) -> pd.DataFrame:
    """Two daily series 'a' (first half of the values) and 'b' (second half) with the columns."""
    n = len(next(iter(columns.values())))
    half = n // 2
    ds = list(pd.date_range("2024-01-01", periods=half)) + list(
        pd.date_range("2024-01-01", periods=n - half)
    )
    frame = pd.DataFrame({ID: ["a"] * half + ["b"] * (n - half), TIME: ds, TARGET: 1.0, **columns})
    return frame.astype({ID: "str"})


def _close(actual: pd.Series, expected: list[float]) -> None:
    np.testing.assert_allclose(actual.to_numpy(), np.array(expected, dtype=float), rtol=1e-12)


def test_price_features_by_hand() -> None:
    panel = _tiny(price=[10.0, 10.0, 12.0, 9.0, 5.0, 4.0, 5.0, 0.0])
    feats = price_promo_features(panel, windows=(2,))
    assert list(feats.columns) == ["price", "price_rel_mean_2", "price_change"]
    _close(feats["price"], panel["price"].tolist())
    # trailing mean of the periods strictly before: a: -, 10, 10, 11; b: -, 5, 4.5, 4.5
    _close(feats["price_rel_mean_2"], [NAN, 1.0, 1.2, 9 / 11, NAN, 0.8, 5 / 4.5, 0.0])
    _close(feats["price_change"], [NAN, 0.0, 0.2, -0.25, NAN, -0.2, 0.25, -1.0])


def test_a_zero_price_gives_missing_ratios_not_infinities() -> None:
    feats = price_promo_features(_tiny(price=[0.0, 3.0, 3.0, 0.0]), windows=(1,))
    _close(feats["price_rel_mean_1"], [NAN, NAN, NAN, 0.0])  # a: after a price of 0
    _close(feats["price_change"], [NAN, NAN, NAN, -1.0])


def test_promo_features_by_hand() -> None:
    panel = _tiny(promo=[0, 1, 0, 0, 1, 0, 1, 0, 0, 0])
    feats = price_promo_features(panel)
    assert list(feats.columns) == ["promo", "promo_lag_1", "periods_since_promo"]
    _close(feats["promo"], panel["promo"].tolist())
    _close(feats["promo_lag_1"], [NAN, 0, 1, 0, 0, NAN, 0, 1, 0, 0])
    # only promotions strictly before the row count, and never another series' promotions
    _close(feats["periods_since_promo"], [NAN, NAN, 1, 2, 3, NAN, NAN, 1, 2, 3])


def test_missing_price_or_promo_columns_give_no_columns() -> None:
    panel = make_panel("D", exog=False)
    empty = price_promo_features(panel)
    assert empty.shape == (len(panel), 0)
    assert empty.index.equals(panel.index)
    promo_only = price_promo_features(_tiny(promo=[0, 1, 1, 0]))
    assert not promo_only.columns.str.startswith("price").any()


def test_price_windows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="windows"):
        price_promo_features(_tiny(price=[1.0, 2.0]), windows=(0,))


# --- static attributes ----------------------------------------------------------------------------


STATIC = pd.DataFrame(
    {ID: ["b", "a", "c"], "category": ["toys", "food", "toys"], "size": [3.0, 1.0, 2.0]}
).astype({ID: "str", "category": "str"})


def test_static_attributes_become_row_aligned_categoricals() -> None:
    panel = _tiny(price=[1.0, 2.0, 3.0, 4.0])
    panel.index = panel.index * 2
    static = join_static(panel, STATIC)
    assert static.index.equals(panel.index)
    assert isinstance(static["category"].dtype, pd.CategoricalDtype)
    assert list(static["category"].cat.categories) == ["food", "toys"]  # from the table, sorted
    assert static["category"].astype("str").tolist() == ["food", "food", "toys", "toys"]
    _close(static["size"], [1.0, 1.0, 3.0, 3.0])


def test_static_problems_are_data_errors() -> None:
    panel = _tiny(price=[1.0, 2.0, 3.0, 4.0])
    with pytest.raises(DataError, match="'b'"):
        join_static(panel, STATIC[STATIC[ID] != "b"])
    with pytest.raises(DataError, match="several rows"):
        join_static(panel, pd.concat([STATIC, STATIC.iloc[:1]]))
    with pytest.raises(DataError, match="clash"):
        join_static(panel, STATIC.rename(columns={"size": "price"}))
    with pytest.raises(DataError, match=ID):
        join_static(panel, STATIC.drop(columns=ID))


# --- known-future coverage ------------------------------------------------------------------------


def _future(freq_dates: dict[str, list[str]], **values: float) -> pd.DataFrame:
    rows = [(uid, pd.Timestamp(d)) for uid, dates in freq_dates.items() for d in dates]
    frame = pd.DataFrame(rows, columns=[ID, TIME]).astype({ID: "str"})
    for name, value in values.items():
        frame[name] = value
    return frame


def test_complete_future_passes() -> None:
    dates = ["2024-01-01", "2024-01-02", "2024-01-03"]
    future = _future({"a": dates, "b": dates}, price=2.0, promo=0.0)
    assert check_future_coverage(future, ["a", "b"], 3, "D", ["price", "promo"]) is None
    assert check_future_coverage(future, ["a"], 3, "D", []) is None


def test_missing_dates_and_values_are_named() -> None:
    future = _future(
        {"a": ["2024-01-01", "2024-01-03"], "b": ["2024-01-01", "2024-01-02", "2024-01-03"]},
        price=2.0,
        promo=0.0,
    )
    future.loc[(future[ID] == "b") & (future[TIME] == "2024-01-03"), "promo"] = NAN
    with pytest.raises(DataError) as info:
        check_future_coverage(future, ["a", "b", "c"], 3, "D", ["price", "promo"])
    message = str(info.value)
    assert "'a': price, promo on 2024-01-02" in message
    assert "'b': promo on 2024-01-03" in message
    assert "'c': price, promo on 2024-01-01, 2024-01-02, 2024-01-03" in message
    assert set(info.value.missing[ID]) == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("freq", "start", "dates"),
    [
        ("W", "2024-12-23", ["2024-12-23", "2024-12-30", "2025-01-06"]),
        ("M", "2024-11-01", ["2024-11-01", "2024-12-01", "2025-01-01"]),
        ("Q", "2024-07-01", ["2024-07-01", "2024-10-01", "2025-01-01"]),
        ("Y", "2024-01-01", ["2024-01-01", "2025-01-01", "2026-01-01"]),
    ],
)
def test_horizon_dates_follow_the_frequency(freq: str, start: str, dates: list[str]) -> None:
    future = _future({"a": dates}, price=1.0)
    check_future_coverage(future, ["a"], 3, freq, ["price"], start=start)
    with pytest.raises(DataError, match=dates[-1]):
        check_future_coverage(future.iloc[:2], ["a"], 3, freq, ["price"], start=start)


def test_start_can_differ_per_series() -> None:
    future = _future({"a": ["2024-01-05", "2024-01-06"], "b": ["2024-01-02", "2024-01-03"]}, x=1.0)
    start = {"a": pd.Timestamp("2024-01-05"), "b": pd.Timestamp("2024-01-02")}
    check_future_coverage(future, ["a", "b"], 2, "D", ["x"], start=start)
    with pytest.raises(DataError, match="'a': x on 2024-01-02"):
        check_future_coverage(future, ["a", "b"], 2, "D", ["x"])  # default: the earliest date
    with pytest.raises(DataError, match="lacks"):
        check_future_coverage(future, ["a"], 2, "D", ["price"])


def test_default_plan_carries_the_last_price_forward_without_promotion() -> None:
    """Known dates keep their values; later ones the last price (gaps skipped) and promo 0."""
    history = _tiny(price=[2.0, 2.5, NAN, 3.0, 3.5, 3.0], promo=[0, 1, 1, 0, 1, 1])
    rows = pd.DataFrame(
        {
            ID: ["a", "a", "a", "b", "b"],
            TIME: pd.to_datetime(
                ["2024-01-02", "2024-01-04", "2024-01-09", "2024-01-03", "2024-02-01"]
            ),
        }
    ).astype({ID: "str"})
    plan = default_plan(history, rows, ["price", "promo"])
    assert list(plan.columns) == [ID, TIME, "price", "promo"]
    pd.testing.assert_frame_equal(plan[[ID, TIME]], rows)
    _close(plan["price"], [2.5, 2.5, 2.5, 3.0, 3.0])
    _close(plan["promo"], [1.0, 0.0, 0.0, 1.0, 0.0])


def test_default_plan_reads_no_later_history() -> None:
    """Changing history after a row's date leaves that row's plan as it was (no leak)."""
    history = _tiny(price=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    rows = history[[ID, TIME]].assign(**{TIME: history[TIME] + pd.Timedelta(hours=12)})
    plan = default_plan(history, rows, ["price"])
    later = history.assign(price=history["price"].where(history[TIME] <= "2024-01-02", 99.0))
    again = default_plan(later, rows, ["price"])
    early = (rows[TIME] < "2024-01-03").to_numpy()
    _close(plan["price"], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    _close(again.loc[early, "price"], plan.loc[early, "price"].tolist())


@pytest.mark.parametrize("seed", [7, 11])
def test_default_plan_matches_a_row_by_row_reading(seed: int) -> None:
    """Random histories with gaps and unsorted rows: each row as a planner would fill it by hand."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=30, unit="us")
    history = pd.DataFrame(
        {
            ID: rng.choice(["a", "b", "c"], 60),
            TIME: rng.choice(days[5:25], 60),
            "price": np.where(rng.random(60) < 0.2, NAN, rng.integers(1, 9, 60)),
            "promo": rng.integers(0, 2, 60).astype(float),
        }
    ).astype({ID: "str"})
    rows = pd.DataFrame({ID: rng.choice(["a", "b", "c"], 80), TIME: rng.choice(days, 80)})
    rows = rows.astype({ID: "str"})
    plan = default_plan(history, rows, ["price", "promo"])
    for i, (uid, day) in enumerate(zip(rows[ID], rows[TIME], strict=True)):
        own = history[history[ID] == uid].sort_values(TIME, kind="stable")
        same_day = own[own[TIME] == day]
        past = own[own[TIME] <= day]["price"].dropna()
        price = past.iloc[-1] if len(past) else own["price"].dropna().iloc[0]
        promo = same_day["promo"].iloc[-1] if len(same_day) else 0.0
        assert plan["price"].iloc[i] == price, (uid, day)
        assert plan["promo"].iloc[i] == promo, (uid, day)


def test_default_plan_needs_each_series_history() -> None:
    """A series the history does not have is named."""
    history = _tiny(price=[1.0, 2.0])
    rows = pd.DataFrame({ID: ["c"], TIME: pd.to_datetime(["2024-01-05"])}).astype({ID: "str"})
    with pytest.raises(DataError, match="'c'"):
        default_plan(history, rows, ["price"])
    with pytest.raises(DataError, match="promo"):
        default_plan(history, rows, ["promo"])
