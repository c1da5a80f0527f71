"""Every registered model honours the forecaster contract (our take on sklearn's common checks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from features.schema import ID, TARGET, TIME
from features.synthetic import make_small_panel
from training.models import MODELS

H = 9
#: Bytes a model may need whatever the number of series: a global model carries its trees.
FIXED_SIZE = {"GlobalRegressor": 3_000_000}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """A small real demand panel: daily sales with zeros, gaps filled, price and promo."""
    return make_small_panel(seed=4, n_series=5, n_days=120).sales[[ID, TIME, TARGET]]


def check_fit_returns_self(model, panel) -> None:  # type: ignore[no-untyped-def]
    assert model.fit(panel) is model


def check_forecast_frame(model, panel) -> None:  # type: ignore[no-untyped-def]
    forecast = model.fit(panel).predict(H)
    assert list(forecast.columns) == [ID, TIME, "model", "yhat"]
    assert forecast.groupby(ID).size().eq(H).all()
    assert set(forecast[ID]) == set(panel[ID])
    last = panel.groupby(ID)[TIME].max()
    first_future = forecast.groupby(ID)[TIME].min()
    assert (first_future == last + pd.Timedelta(days=1)).all()
    assert np.isfinite(forecast["yhat"]).all() and (forecast["yhat"] >= 0).all()


def check_predict_before_fit_raises(model, panel) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFittedError):
        model.predict(H)


def check_clone_keeps_params(model, panel) -> None:  # type: ignore[no-untyped-def]
    copy = clone(model)
    assert copy.get_params() == model.get_params()


def check_pickles_and_forecasts_the_same(model, panel, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fitted = model.fit(panel)
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    again = joblib.load(path)
    pd.testing.assert_frame_equal(again.predict(H), fitted.predict(H))
    fixed = FIXED_SIZE.get(type(model).__name__, 50_000)
    assert path.stat().st_size < fixed + 2_000 * panel[ID].nunique()


def check_deterministic(model, panel) -> None:  # type: ignore[no-untyped-def]
    first = clone(model).fit(panel).predict(H)
    second = clone(model).fit(panel).predict(H)
    pd.testing.assert_frame_equal(first, second)


def check_series_order_does_not_matter(model, panel) -> None:  # type: ignore[no-untyped-def]
    shuffled = panel.sample(frac=1.0, random_state=0)
    expected = clone(model).fit(panel).predict(H)
    pd.testing.assert_frame_equal(clone(model).fit(shuffled).predict(H), expected)


CHECKS: list[Callable[..., None]] = [
    check_fit_returns_self,
    check_forecast_frame,
    check_predict_before_fit_raises,
    check_clone_keeps_params,
    check_pickles_and_forecasts_the_same,
    check_deterministic,
    check_series_order_does_not_matter,
]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_forecaster_contract(name: str, check: Callable[..., None], panel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each model fits, forecasts the right frame, pickles, clones and is deterministic."""
    model = MODELS[name]()
    if check is check_pickles_and_forecasts_the_same:
        check(model, panel, tmp_path)
    else:
        check(model, panel)
