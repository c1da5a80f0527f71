"""The opening calendar: closing days learned per store; forecasts and bounds 0 on them."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.schema import HIERARCHY_LEVEL, ID, TARGET, TIME
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.config import TrainConfig
from training.errors import TrainingError
from training.opening import StoreOpening, learn_calendar
from training.pipeline import run_training


def _panel(
    closed_weekday: int | None, days: int = 120, holidays: tuple[str, ...] = ()
) -> pd.DataFrame:
    dates = pd.date_range("2026-01-05", periods=days, freq="D")
    y = np.full(days, 5.0)
    if closed_weekday is not None:
        y[dates.day_of_week == closed_weekday] = 0.0
    y[dates.isin(pd.to_datetime(list(holidays)))] = 0.0
    return pd.DataFrame({ID: "a", TIME: dates, TARGET: y})


def test_a_store_that_never_sold_on_sundays_is_closed_on_sundays() -> None:
    calendar = learn_calendar(_panel(6), None, country=None)
    dates = pd.date_range("2026-05-04", periods=14, freq="D").to_numpy()[None, :]
    closed = calendar.closed(["a"], dates)[0]
    assert closed.tolist() == [d.day_of_week == 6 for d in pd.DatetimeIndex(dates[0])]
    assert calendar.describe()["all-stores"]["closed_weekdays"] == ["Sun"]


def test_a_slow_sunday_is_not_a_closed_sunday() -> None:
    """One Sunday with a sale in the last eight weeks keeps Sundays open."""
    panel = _panel(6)
    last_sundays = panel.index[panel[TIME].dt.day_of_week == 6][-3]
    panel.loc[last_sundays, TARGET] = 1.0
    assert not learn_calendar(panel, None, country=None).closes_anything


def test_public_holidays_close_a_store_that_closed_on_past_ones_only() -> None:
    past = ("2026-04-03", "2026-04-06", "2026-05-01")  # Good Friday, Easter Monday, May Day
    closing = learn_calendar(_panel(None, holidays=past), None, country="DE")
    assert closing.describe()["all-stores"]["closed_on_holidays"]
    ascension = np.array([["2026-05-14", "2026-05-15"]], dtype="datetime64[D]")
    assert closing.closed(["a"], ascension)[0].tolist() == [True, False]
    once = learn_calendar(_panel(None, holidays=past[:1]), None, country="DE")
    assert not once.closes_anything, "one closed holiday of three is not a rule"
    selling = learn_calendar(_panel(None), None, country="DE")
    assert not selling.closes_anything


def test_a_planner_override_wins_over_what_was_learned() -> None:
    calendar = learn_calendar(
        _panel(6),
        None,
        country=None,
        overrides={
            "all-stores": StoreOpening(open_weekdays=("Sun",), closed_dates=("2026-05-05",))
        },
    )
    dates = np.array([["2026-05-03", "2026-05-05", "2026-05-06"]], dtype="datetime64[D]")
    assert calendar.closed(["a"], dates)[0].tolist() == [False, True, False]
    with pytest.raises(TrainingError, match="unknown store"):
        learn_calendar(_panel(6), None, country=None, overrides={"shop-9": StoreOpening()})
    with pytest.raises(TrainingError, match="weekday"):
        StoreOpening(closed_weekdays=("Sunday",))


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    """The demo chain: shop-1 opens on Sundays, shop-2 does not; both close on holidays."""
    demo = make_demo_sales(seed=5, n_stores=2, n_bakery_items=4, n_web_items=2, n_days=200)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    trend = build_trend_dataset(demand)
    config = TrainConfig.model_validate(
        {"model": {"horizon": 14, "members": ["dynamic_theta", "seasonal_naive"]}}
    )
    return run_training(config, demand, trend), trend


def test_forecasts_and_bounds_are_zero_on_closed_days_and_aggregates_add_up(trained) -> None:  # type: ignore[no-untyped-def]
    result, trend = trained
    described = result.model.opening_.describe()
    assert described["shop-2"]["closed_weekdays"] == ["Sun"]
    assert described["shop-1"]["closed_weekdays"] == []
    assert described["shop-1"]["closed_on_holidays"] and described["shop-2"]["closed_on_holidays"]
    assert described["web"] == {"closed_weekdays": [], "closed_on_holidays": False}

    forecasts = result.model.predict(14, interval_levels=(80, 95))
    store_of = trend.membership.set_index(ID)["store"]
    bottom = forecasts[forecasts[ID].isin(set(store_of.index))]
    shop2 = bottom[bottom[ID].map(store_of) == "store=shop-2"]
    sundays = shop2[TIME].dt.day_of_week == 6
    assert sundays.any()
    columns = ["yhat", "yhat_lo_80", "yhat_hi_80", "yhat_lo_95", "yhat_hi_95"]
    assert (shop2.loc[sundays, columns] == 0).all().all()
    assert (shop2.loc[~sundays, "yhat_hi_95"] > 0).all()
    shop1 = bottom[bottom[ID].map(store_of) == "store=shop-1"]
    assert (shop1.loc[shop1[TIME].dt.day_of_week == 6, "yhat"] > 0).any(), "shop-1 opens on Sundays"
    store2 = forecasts[forecasts[ID] == "store=shop-2"]
    assert (store2.loc[store2[TIME].dt.day_of_week == 6, columns] == 0).all().all()

    # every aggregate is still the sum of its members, closed days included
    for name in ("total", "store=shop-1", "store=shop-2"):
        level = "total" if name == "total" else "store"
        members = trend.membership.loc[trend.membership[level] == name, ID]
        summed = bottom[bottom[ID].isin(set(members))].groupby(TIME)["yhat"].sum()
        mine = forecasts[forecasts[ID] == name].set_index(TIME)["yhat"]
        np.testing.assert_allclose(mine.to_numpy(), summed.loc[mine.index].to_numpy(), rtol=1e-9)


def test_the_backtest_scores_the_closed_days_as_forecast(trained) -> None:  # type: ignore[no-untyped-def]
    result, trend = trained
    backtest = result.model.backtest_
    combined = backtest[backtest["model"] == result.model.alias_name]
    store_of = trend.membership.set_index(ID)["store"]
    shop2 = combined[combined[ID].map(store_of) == "store=shop-2"]
    assert (shop2.loc[shop2[TIME].dt.day_of_week == 6, "yhat"] == 0).all()
    levels = result.hierarchy_levels.set_index(ID)[HIERARCHY_LEVEL]
    assert set(levels) >= {"series", "store", "total"}


def test_an_old_model_without_a_calendar_forecasts_every_day(trained) -> None:  # type: ignore[no-untyped-def]
    result, _ = trained
    state = dict(result.model.__getstate__())  # a copy: the model keeps its own
    for name in ("closed_days", "country", "opening", "opening_"):
        state.pop(name, None)
    old = type(result.model).__new__(type(result.model))
    old.__setstate__(state)
    assert old.closed_mask(7) is None
    restored = pickle.loads(pickle.dumps(result.model))
    assert restored.closed_mask(7).any()
