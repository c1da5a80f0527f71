"""Refits in the child process serve exactly what a refit in the API's process would."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from features.schema import BOTTOM_LEVEL, ID, TARGET, TIME
from serving import ledger
from serving.champion import ModelHolder
from serving.db import make_engine, migrate
from serving.forecasting import history_stats_of
from serving.refit_process import RefitProcess, actuals_to_apply, dumps_sharing, loads_sharing
from tests.serving.live_store import MODEL, Store


def _next_days(live, days: int) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    bottom = sorted(uid for uid, level in live.level_of.items() if level == BOTTOM_LEVEL)
    rows = [
        (uid, live.origin_of[uid] + pd.Timedelta(days=k), float(3 + k + i % 5))
        for i, uid in enumerate(bottom)
        for k in range(1, days + 1)
    ]
    frame = pd.DataFrame(rows, columns=[ID, TIME, TARGET])
    frame[TIME] = frame[TIME].astype("datetime64[us]")
    return frame


def test_a_move_in_the_child_equals_one_in_process_and_travels_small(
    store: Store, tmp_path: Path
) -> None:
    holder = ModelHolder(store.tracking_uri, MODEL)
    assert holder.load(store.version), holder.last_error
    live = holder.current
    assert live is not None
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    migrate(engine)
    refits = RefitProcess(url)
    try:
        first = _next_days(live, 2)
        ledger.upsert_actuals(engine, first)
        here, count_here = live.moved_forward(first)
        there, count_there, mark = refits.move_forward(live, None)
        assert count_there == count_here == len(live.level_of)
        assert mark == ledger.actuals_mark(engine)
        _same_service(here, there)

        # a second round starts from the child's moved copy: only what is new is sent
        second = _next_days(there, 1)
        ledger.upsert_actuals(engine, second)
        here2, _ = here.moved_forward(second)
        there2, count, mark = refits.move_forward(there, mark)
        assert count == len(live.level_of)
        _same_service(here2, there2)
        assert refits.move_forward(there2, mark) == (there2, 0, mark)  # nothing new: no move

        # a correction of a day already applied refits that series and the aggregates of it
        corrected = first.iloc[[0]].assign(**{TARGET: 5000.0})
        ledger.upsert_actuals(engine, corrected)
        actuals, _ = actuals_to_apply(engine, here2, mark)
        assert actuals is not None
        here3, count_here = here2.moved_forward(actuals)
        there3, count, mark = refits.move_forward(there2, mark)
        uid = str(corrected[ID].iloc[0])
        assert count == count_here == 1 + len(live.parents_of([uid]))
        _same_service(here3, there3)
        held = there3.history.set_index([ID, TIME])[TARGET]
        assert held[(uid, corrected[TIME].iloc[0])] == 5000.0
        assert not np.array_equal(
            here2.forecast([uid], 7, [80])["yhat"], here3.forecast([uid], 7, [80])["yhat"]
        )
    finally:
        refits.stop()
        engine.dispose()


def _same_service(here, there) -> None:  # type: ignore[no-untyped-def]
    ids = sorted(here.level_of)
    a, b = here.forecast(ids, 7, [80, 95]), there.forecast(ids, 7, [80, 95])
    assert a.keys() == b.keys()
    for column in a:
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)
    assert here.origin_of == there.origin_of
    origins = [here.origin_of[uid] for uid in ids]
    sa, sb = history_stats_of(here).at(ids, 7, origins), history_stats_of(there).at(ids, 7, origins)
    np.testing.assert_array_equal(sa.mase_scale, sb.mase_scale)
    np.testing.assert_array_equal(sa.recent_mean, sb.recent_mean)
    # other interval levels are forecast by the model itself, which must have moved too
    c, d = here.forecast(ids, 7, [50]), there.forecast(ids, 7, [50])
    np.testing.assert_allclose(c["yhat_lo_50"], d["yhat_lo_50"], rtol=1e-12)
    pd.testing.assert_frame_equal(
        here.history.sort_values([ID, TIME], ignore_index=True)[[ID, TIME, TARGET]],
        there.history.sort_values([ID, TIME], ignore_index=True)[[ID, TIME, TARGET]],
        check_dtype=False,
    )


def test_shared_parts_travel_as_references(store: Store) -> None:
    holder = ModelHolder(store.tracking_uri, MODEL)
    assert holder.load(store.version), holder.last_error
    live = holder.current
    assert live is not None
    moved, _ = live.moved_forward(_next_days(live, 1))
    shared = dumps_sharing(moved.model, live.model)
    assert len(shared) < len(pickle.dumps(moved.model)) / 2
    again = loads_sharing(shared, pickle.loads(pickle.dumps(live.model)))
    ids = sorted(live.level_of)
    np.testing.assert_array_equal(
        again.predict(3, interval_levels=(80,))["yhat"], moved.model.predict(3, (80,))["yhat"]
    )
    assert len(ids) > 0
