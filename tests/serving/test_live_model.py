"""The served snapshot moves forward only over actuals that continue each series without a gap."""

from __future__ import annotations

import pandas as pd

from features.schema import BOTTOM_LEVEL, ID, TARGET, TIME
from serving.champion import ModelHolder
from tests.serving.live_store import MODEL, Store


def _loaded(store: Store) -> ModelHolder:
    holder = ModelHolder(store.tracking_uri, MODEL)
    assert holder.load(store.version), holder.last_error
    return holder


def test_a_gap_ends_the_run_of_new_actuals_and_aggregates_move_with_complete_members(
    store: Store,
) -> None:
    holder = _loaded(store)
    live = holder.current
    assert live is not None
    bottom = sorted(uid for uid, level in live.level_of.items() if level == BOTTOM_LEVEL)
    first, second, third = bottom[:3]
    day = pd.Timedelta(days=1)
    rows = [
        (first, live.origin_of[first] + day, 4.0),
        (first, live.origin_of[first] + 2 * day, 5.0),
        (first, live.origin_of[first] + 4 * day, 6.0),  # after a gap: not applied
        (second, live.origin_of[second] + 2 * day, 7.0),  # the day before is missing
        (third, live.origin_of[third], 1.0),  # already known: not new
    ]
    actuals = pd.DataFrame(rows, columns=[ID, TIME, TARGET])
    actuals[TIME] = actuals[TIME].astype("datetime64[us]")
    moved, count = live.moved_forward(actuals)
    assert moved.origin_of[first] == live.origin_of[first] + 2 * day
    assert moved.origin_of[second] == live.origin_of[second]
    assert moved.origin_of[third] == live.origin_of[third]
    assert count == 1  # only `first`: none of its aggregates has every member's actual
    forecast = moved.forecast([first], 3, [80])
    assert pd.Timestamp(forecast[TIME][0]) == live.origin_of[first] + 3 * day

    everyone = pd.DataFrame(
        [(uid, live.origin_of[uid] + day, 2.0) for uid in bottom], columns=[ID, TIME, TARGET]
    )
    everyone[TIME] = everyone[TIME].astype("datetime64[us]")
    all_moved, count = live.moved_forward(everyone)
    assert count == len(live.level_of)  # every aggregate is complete for that day
    assert all(all_moved.origin_of[uid] == live.origin_of[uid] + day for uid in live.level_of)
