"""The trend dataset: hierarchy aggregates and trend signals that only look at the past."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.demand import build_demand_dataset
from features.errors import DataError
from features.hierarchy import Hierarchy, aggregate_exogenous, aggregate_ids, default_hierarchy
from features.ingest import sales_from_frames
from features.manifest import Manifest
from features.schema import HIERARCHY_LEVEL, ID, TARGET, TIME
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset, direction_labels, trend_signals


def _one_series(values: list[float]) -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=len(values), freq="D")
    return pd.DataFrame({ID: "a", TIME: days, TARGET: np.array(values, dtype=float)})


def test_level_growth_and_slope_match_hand_computation() -> None:
    """Rolling level, growth against the previous window and the relative OLS slope are exact."""
    values = [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
    out = trend_signals(_one_series(values), windows=(3,))
    assert out["level_3"].tolist()[:2] == [pytest.approx(np.nan, nan_ok=True)] * 2
    assert out["level_3"].tolist()[2:] == [4.0, 6.0, 8.0, 10.0]
    # growth at t=5: mean(8,10,12)=10 against mean(2,4,6)=4 -> 1.5
    assert out["growth_3"].iloc[5] == pytest.approx(1.5)
    # slope of a straight line rising 2 a day, relative to the window mean
    assert out["slope_3"].iloc[5] == pytest.approx(2.0 / 10.0)
    assert out["slope_3"].iloc[2] == pytest.approx(2.0 / 4.0)
    assert out["direction_3"].iloc[5] == "up"


def test_direction_labels_use_the_band_and_the_zero_rule() -> None:
    """Up/down beyond the ±5 % band; from a zero mean the change is judged against the scale."""
    labels = direction_labels(
        current=[1.06, 1.04, 0.94, 0.96, 2.0, 0.5, np.nan],
        reference=[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0],
        scale=[1.0, 1.0, 1.0, 1.0, 1.5, 1.0, 1.0],
    )
    assert list(labels) == ["up", "flat", "down", "flat", "up", "flat", np.nan]


def test_trend_signals_never_look_at_the_future() -> None:
    """Changing sales after period t leaves every trend signal up to t as it was."""
    rng = np.random.default_rng(3)
    frame = pd.concat(
        [_one_series(list(rng.poisson(5, 80))).assign(**{ID: uid}) for uid in ("a", "b", "c")],
        ignore_index=True,
    )
    cutoff = frame[TIME].iloc[45]
    changed = frame.copy()
    future = changed[TIME] > cutoff
    changed.loc[future, TARGET] = rng.poisson(50, int(future.sum())).astype(float)
    before = trend_signals(frame, windows=(3, 7, 28))
    after = trend_signals(changed, windows=(3, 7, 28))
    past = frame[TIME] <= cutoff
    pd.testing.assert_frame_equal(before[past], after[past])
    assert not before[~past].equals(after[~past])


def test_signals_are_computed_within_each_series() -> None:
    """A series' first windows are empty even when another series precedes it in the frame."""
    frame = pd.concat(
        [_one_series([9.0] * 10), _one_series([1.0] * 10).assign(**{ID: "b"})], ignore_index=True
    )
    out = trend_signals(frame, windows=(3,))
    b = out[out[ID] == "b"]
    assert b["level_3"].isna().sum() == 2
    assert b["level_3"].dropna().eq(1.0).all()


@pytest.fixture(scope="module")
def small_demand():  # type: ignore[no-untyped-def]
    """A small demo chain as a demand dataset (two shops and the web shop, a few categories)."""
    demo = make_demo_sales(seed=1, n_stores=2, n_bakery_items=12, n_web_items=4, n_days=120)
    return build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))


def test_default_hierarchy_goes_from_total_down_to_series(small_demand) -> None:  # type: ignore[no-untyped-def]
    """Attributes give total, store, store/category, category and the series themselves."""
    trend = build_trend_dataset(small_demand)
    names = trend.manifest.parameters["hierarchy"]
    assert names[0] == "total" and names[-1] == "series"
    assert {"store", "category"} <= set(names)
    assert trend.manifest.hierarchy_levels["total"] == 1
    assert trend.manifest.hierarchy_levels["series"] == small_demand.manifest.n_series


def test_every_level_adds_up_to_the_total_each_period(small_demand) -> None:  # type: ignore[no-untyped-def]
    """On every date the stores, the categories and the series each sum to the total."""
    trend = build_trend_dataset(small_demand)
    frame = trend.frame
    total = frame[frame[HIERARCHY_LEVEL] == "total"].set_index(TIME)[TARGET]
    for level, part in frame.groupby(HIERARCHY_LEVEL):
        per_day = part.groupby(TIME)[TARGET].sum().reindex(total.index, fill_value=0.0)
        pd.testing.assert_series_equal(per_day, total, check_names=False, obj=str(level))


def test_membership_table_maps_each_series_to_its_aggregates(small_demand) -> None:  # type: ignore[no-untyped-def]
    """The summing matrix in long form: one row per series, one column per level."""
    static = small_demand.static
    membership = aggregate_ids(static, default_hierarchy(static))
    row = membership.iloc[0]
    store = static.set_index(ID).loc[row[ID], "store"]
    assert row["store"] == f"store={store}"
    assert row["total"] == "total"


def test_levels_naming_unknown_attributes_are_refused(small_demand) -> None:  # type: ignore[no-untyped-def]
    """A typo in --levels names the attribute and the ones that exist."""
    with pytest.raises(DataError, match="regoin"):
        build_trend_dataset(small_demand, hierarchy=Hierarchy.parse("regoin"))


def test_hierarchy_spec_parsing() -> None:
    """ "store,store/category" means total, per store, and per category within each store."""
    assert Hierarchy.parse("store, store/category").hierarchy_levels == (
        (),
        ("store",),
        ("store", "category"),
    )


def test_aggregates_get_the_mean_price_and_the_share_on_promotion(small_demand) -> None:  # type: ignore[no-untyped-def]
    """Bottom series keep their values; an aggregate averages its members with a row that day."""
    trend = build_trend_dataset(small_demand)
    panel = small_demand.panel
    values = aggregate_exogenous(panel, trend.membership, ["price", "promo"])
    assert not values.duplicated([ID, TIME]).any()
    bottom = values.merge(panel, on=[ID, TIME], suffixes=("", "_panel"))
    assert len(bottom) == len(panel)
    assert bottom["price"].equals(bottom["price_panel"])
    day = panel[TIME].max()
    total = values[(values[ID] == "total") & (values[TIME] == day)].iloc[0]
    on_day = panel[panel[TIME] == day]
    assert total["price"] == pytest.approx(on_day["price"].mean())
    assert total["promo"] == pytest.approx(on_day["promo"].mean())
    assert set(trend.frame[ID]) == set(values[ID])


def test_manifests_written_before_the_rename_still_read(small_demand) -> None:  # type: ignore[no-untyped-def]
    """An old manifest.json with "levels" reads into hierarchy_levels."""
    manifest = build_trend_dataset(small_demand).manifest
    old = manifest.to_json().replace('"hierarchy_levels"', '"levels"')
    assert Manifest.from_json(old) == manifest
