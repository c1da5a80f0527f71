"""Fan-out over series: the same results in any order of work, locally or on a Dask cluster."""

from __future__ import annotations

import pandas as pd
import pytest

from features.schema import ID, TARGET, TIME
from features.synthetic import make_small_panel
from training.auto import AutoForecaster
from training.models import DynamicOptimizedTheta, Naive
from training.models.smoothing import ExponentialSmoothing
from training.parallel import dask_backend, fan_out


def _square(x: int) -> int:
    return x * x


def test_fan_out_keeps_input_order() -> None:
    """Results come back in input order whatever the number of workers."""
    items = list(range(37))
    assert fan_out(_square, items, n_jobs=1) == fan_out(_square, items, n_jobs=2)
    assert fan_out(_square, items, n_jobs=2) == [i * i for i in items]


def _default(n_jobs: int) -> AutoForecaster:
    # DynamicOptimizedTheta is fitted series by series, so it goes through fan_out (and Dask).
    members = [Naive(), DynamicOptimizedTheta(), ExponentialSmoothing("damped")]
    return AutoForecaster(members, h=7, n_windows=2, n_jobs=n_jobs)


@pytest.mark.slow
def test_dask_cluster_gives_exactly_the_local_results() -> None:
    """Training on a Dask LocalCluster reproduces the local joblib run bit for bit."""
    from distributed import LocalCluster

    panel = make_small_panel(seed=5, n_series=8, n_days=120).sales[[ID, TIME, TARGET]]
    local = _default(n_jobs=2).fit(panel).predict(14, interval_levels=(80, 95))
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        dask_backend(cluster.scheduler_address),
    ):
        remote = _default(n_jobs=-1).fit(panel).predict(14, interval_levels=(80, 95))
    pd.testing.assert_frame_equal(local, remote)
