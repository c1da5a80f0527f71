"""Refreshing a fitted model with new actuals: forecasts move forward without a retrain."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from model_panels import panel_of
from sklearn.base import clone

from features.demand import regular_panel
from features.schema import ID, TARGET, TIME
from features.synthetic import make_small_panel
from training.auto import AutoForecaster
from training.base import BaseForecaster
from training.errors import NotFittedError, TrainingError
from training.models import (
    TSB,
    AutoETS,
    AutoIntermittent,
    Croston,
    Drift,
    DynamicOptimizedTheta,
    ExponentialSmoothing,
    GlobalLinear,
    GlobalRegressor,
    Naive,
    SeasonalNaive,
    WindowAverage,
)
from training.models.global_ml import _GlobalWindowModel
from training.refresh import refreshed

NEW = 5  # periods of actuals that arrive after the training end
H = 7


@pytest.fixture(scope="module")
def full() -> pd.DataFrame:
    """Daily sales of six products on a regular grid (gaps filled, as the demand dataset has)."""
    sales = make_small_panel(seed=3, n_series=6, n_days=150).sales[[ID, TIME, TARGET]]
    return regular_panel(sales, "D")


@pytest.fixture(scope="module")
def train(full: pd.DataFrame) -> pd.DataFrame:
    """The history without its last NEW days: what the model was trained on."""
    return full[full[TIME] <= full[TIME].max() - pd.Timedelta(days=NEW)].reset_index(drop=True)


@pytest.fixture(scope="module")
def mixed(train: pd.DataFrame) -> AutoForecaster:
    """A local, a vectorised and a global member, and an intermittent route."""
    members = [DynamicOptimizedTheta(), SeasonalNaive(), GlobalRegressor(max_iter=30, horizon=H)]
    model = AutoForecaster(members, combination="mean", h=H, intermittent=TSB())
    return model.fit(train)


def chosen(model: AutoForecaster) -> list[str]:
    """Two regular series and one intermittent one (when there is one)."""
    regular = [str(u) for u in model.unique_ids_ if u not in set(model.sparse_ids_)]
    return [*regular[:2], *[str(u) for u in model.sparse_ids_[:1]]]


def of(panel: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """The rows of the series `ids`."""
    return panel[panel[ID].isin(ids)].reset_index(drop=True)


def rows(frame: pd.DataFrame, ids: list[str], keep: bool = True) -> pd.DataFrame:
    """A forecast frame's rows of `ids` (or of every other series when not `keep`)."""
    return frame[frame[ID].isin(ids) == keep].reset_index(drop=True)


def test_refreshed_series_start_after_their_newest_actual_and_others_are_unchanged(
    mixed: AutoForecaster, full: pd.DataFrame
) -> None:
    """New actuals move those series' forecasts forward; other series and the input stay put."""
    ids = chosen(mixed)
    assert len(mixed.sparse_ids_) and len(ids) == 3
    before = mixed.predict(H, interval_levels=(80, 95))
    last_before = mixed.last_ds_.copy()
    model = refreshed(mixed, of(full, ids))
    after = model.predict(H, interval_levels=(80, 95))
    starts = rows(after, ids).groupby(ID)[TIME].min()
    assert (starts == full[TIME].max() + pd.Timedelta(days=1)).all()
    assert not np.allclose(rows(after, ids)["yhat"], rows(before, ids)["yhat"])
    pd.testing.assert_frame_equal(rows(after, ids, keep=False), rows(before, ids, keep=False))
    assert model is not mixed
    pd.testing.assert_frame_equal(mixed.predict(H, interval_levels=(80, 95)), before)
    np.testing.assert_array_equal(mixed.last_ds_, last_before)


def test_a_refreshed_model_pickles(mixed: AutoForecaster, full: pd.DataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Serving saves and loads the refreshed model like a trained one."""
    model = refreshed(mixed, of(full, chosen(mixed)))
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    pd.testing.assert_frame_equal(
        joblib.load(path).predict(H, interval_levels=(80,)), model.predict(H, (80,))
    )


MEMBER_SETS = {
    "theta+naive+global": (
        [DynamicOptimizedTheta(), SeasonalNaive(), GlobalRegressor(max_iter=30, horizon=H)],
        TSB(),
    ),
    "vectorised": (
        [ExponentialSmoothing(), Drift(), WindowAverage(), Naive()],
        AutoIntermittent(),
    ),
    "ets+linear": ([AutoETS(), GlobalLinear(horizon=H)], Croston(variant="sba")),
}


@pytest.fixture(scope="module", params=sorted(MEMBER_SETS))
def fitted(request: pytest.FixtureRequest, train: pd.DataFrame) -> AutoForecaster:
    """An AutoForecaster per family of members, fitted on the training history."""
    members, intermittent = MEMBER_SETS[request.param]
    model = AutoForecaster(members, combination="inverse_error", h=H, intermittent=intermittent)
    return model.fit(train)


def test_refreshing_with_the_training_history_changes_nothing(
    fitted: AutoForecaster, train: pd.DataFrame
) -> None:
    """Every kind of member ends up in exactly its trained state when no actual is new."""
    again = refreshed(fitted, train)
    pd.testing.assert_frame_equal(
        again.predict(H, interval_levels=(80,)), fitted.predict(H, interval_levels=(80,))
    )


def test_local_members_equal_a_refit_of_those_series(
    fitted: AutoForecaster, full: pd.DataFrame
) -> None:
    """Each non-global member's forecasts of the refreshed series are those of a fresh fit."""
    ids = chosen(fitted)
    model = refreshed(fitted, of(full, ids))
    for route, old in zip(model.routes_, fitted.routes_, strict=True):
        mine = [u for u in ids if u in set(old.members[0].unique_ids_)]
        for member, trained in zip(route.members, old.members, strict=True):
            if isinstance(member, _GlobalWindowModel | AutoIntermittent) or not mine:
                continue
            fresh = clone(trained).fit(of(full, mine), freq=trained.freq_).predict(H)
            pd.testing.assert_frame_equal(rows(member.predict(H), mine), fresh)


@pytest.mark.parametrize("combination", ["mean", "median"])
def test_local_only_model_refreshed_equals_a_fresh_fit_on_the_full_history(
    combination: str, train: pd.DataFrame, full: pd.DataFrame
) -> None:
    """Mean and median learn nothing from the backtest, so the refreshed point forecasts of the
    refreshed series are exactly those of the same model trained on the full history."""
    members = [DynamicOptimizedTheta(), SeasonalNaive()]
    model = AutoForecaster(members, combination=combination, h=H).fit(train)
    ids = list(model.unique_ids_[[0, 2, 5]])
    fresh = AutoForecaster(members, combination=combination, h=H).fit(full).predict(H)
    got = refreshed(model, of(full, ids)).predict(H)
    pd.testing.assert_frame_equal(rows(got, ids), rows(fresh, ids))


def test_weighted_combination_keeps_its_weights_over_refit_members(
    train: pd.DataFrame, full: pd.DataFrame
) -> None:
    """Inverse-error weights stay as trained; the members under them are refit on new data."""
    model = AutoForecaster([DynamicOptimizedTheta(), SeasonalNaive()], "inverse_error", h=H)
    model.fit(train)
    ids = list(model.unique_ids_[[1, 3]])
    got = refreshed(model, of(full, ids))
    assert got.weights_ is model.weights_
    means = np.stack(
        [
            np.maximum(clone(m).fit(of(full, ids), freq=m.freq_)._predict_mean(H, None), 0.0)
            for m in model.routes_[0].members
        ]
    )
    expected = np.einsum("msh,sm->sh", means, model.weights_.reindex(ids).to_numpy())
    np.testing.assert_array_equal(rows(got.predict(H), ids)["yhat"], expected.ravel())


def test_global_member_keeps_its_estimator_and_reads_the_new_lags(
    mixed: AutoForecaster, train: pd.DataFrame, full: pd.DataFrame
) -> None:
    """No retraining of the global model, yet its forecasts follow the new actuals."""
    ids = chosen(mixed)[:2]
    new = full[TIME] > train[TIME].max()
    tripled = full.assign(**{TARGET: np.where(new, 3 * full[TARGET], full[TARGET])})
    trained = mixed.routes_[0].members[2]
    forecasts = {}
    for name, panel in {"actual": full, "tripled": tripled}.items():
        member = refreshed(mixed, of(panel, ids)).routes_[0].members[2]
        assert isinstance(member, GlobalRegressor) and member is not trained
        assert member.estimators_ is trained.estimators_
        assert member.history_.groupby(ID)[TIME].max()[ids].eq(full[TIME].max()).all()
        forecasts[name] = member.predict(H)
        others = rows(forecasts[name], ids, keep=False)
        pd.testing.assert_frame_equal(others, rows(trained.predict(H), ids, keep=False))
    actual, high = (rows(forecasts[k], ids)["yhat"].to_numpy() for k in ("actual", "tripled"))
    assert not np.allclose(high, actual) and high.sum() > actual.sum()
    assert trained.history_.groupby(ID)[TIME].max().eq(train[TIME].max()).all()


def test_monthly_series_move_forward_by_calendar_months() -> None:
    """The grid check and the next forecast dates follow the model's frequency (month starts)."""
    rng = np.random.default_rng(0)
    series = {u: 100 + rng.normal(0, 5, 40).cumsum() for u in ("a", "b")}
    full = panel_of(series)
    train = full.groupby(ID).head(36)
    model = AutoForecaster([SeasonalNaive(), Naive()], h=3, season_length=12).fit(train)
    got = refreshed(model, of(full, ["a"]), freq="MS").predict(3)
    assert rows(got, ["a"])[TIME].min() == pd.Timestamp("2003-05-01")
    assert rows(got, ["b"])[TIME].min() == pd.Timestamp("2003-01-01")


def _unknown(panel: pd.DataFrame) -> pd.DataFrame:
    return panel.assign(**{ID: panel[ID].where(panel[ID] != panel[ID].iloc[0], "new-item@shop-9")})


def _gap(panel: pd.DataFrame) -> pd.DataFrame:
    return panel.drop(index=panel.index[-3])


def _older(panel: pd.DataFrame) -> pd.DataFrame:
    return panel[panel[TIME] <= panel[TIME].max() - pd.Timedelta(days=NEW + 2)]


def _only_new(panel: pd.DataFrame) -> pd.DataFrame:
    return panel[panel[TIME] > panel[TIME].max() - pd.Timedelta(days=NEW)]


def _start_cut(panel: pd.DataFrame) -> pd.DataFrame:
    return panel[panel[TIME] > panel[TIME].min() + pd.Timedelta(days=60)]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_unknown, "does not know these series"),
        (_gap, "a gap"),
        (_older, "ends before the model's last date"),
        (_only_new, "starts after data the model was trained on"),
        (_start_cut, "starts after data the model was trained on"),
    ],
)
def test_bad_histories_are_refused_naming_the_series(
    spoil, message: str, mixed: AutoForecaster, full: pd.DataFrame
) -> None:  # type: ignore[no-untyped-def]
    """Unknown series, gaps, stale or truncated histories are errors that name the series."""
    ids = chosen(mixed)[:2]
    bad = spoil(of(full, ids))
    with pytest.raises(TrainingError, match=message) as caught:
        refreshed(mixed, bad)
    named = "new-item@shop-9" if spoil is _unknown else ids[-1] if spoil is _gap else ids[0]
    assert repr(named) in str(caught.value)


def test_wrong_frequency_and_unfitted_models_are_refused(
    mixed: AutoForecaster, full: pd.DataFrame
) -> None:
    """A weekly refresh of a daily model, or a model never fitted, cannot be moved forward."""
    with pytest.raises(TrainingError, match="frequency"):
        refreshed(mixed, full, freq="W")
    model: BaseForecaster = AutoForecaster([Naive()], h=H)
    with pytest.raises(NotFittedError):
        refreshed(model, full)  # type: ignore[arg-type]


def test_actuals_without_price_or_promo_carry_the_last_price_forward() -> None:
    """New actuals come as unique_id, ds, y: the model assumes the last price and no promotion."""
    sales = make_small_panel(seed=4, n_series=4, n_days=150).sales
    full = regular_panel(sales, "D")
    cut = full[TIME].max() - pd.Timedelta(days=NEW)
    train = full[full[TIME] <= cut].reset_index(drop=True)
    members = [SeasonalNaive(), GlobalRegressor(max_iter=30, horizon=H)]
    model = AutoForecaster(members, combination="mean", h=H).fit(train)
    assert model.exog_ == ["price", "promo"]
    ids = [str(u) for u in model.unique_ids_[:2]]
    moved = refreshed(model, of(full, ids)[[ID, TIME, TARGET]])
    forecast = moved.predict(H)
    starts = forecast.groupby(ID)[TIME].min()
    assert (starts[ids] == full[TIME].max() + pd.Timedelta(days=1)).all()
    (member,) = [m for m in moved.routes_[0].members if isinstance(m, _GlobalWindowModel)]
    new = member.history_[member.history_[ID].isin(ids) & (member.history_[TIME] > cut)]
    last_price = train[train[ID].isin(ids)].groupby(ID)["price"].last()
    assert len(new) == NEW * len(ids)
    assert (new["price"].to_numpy() == new[ID].map(last_price).to_numpy()).all()
    assert (new["promo"] == 0).all()
    plan = moved.exog_last_.set_index(ID)
    assert (plan.loc[ids, TIME] == full[TIME].max()).all()
    held = moved.exog_last_[~moved.exog_last_[ID].isin(ids)]
    pd.testing.assert_frame_equal(held, model.exog_last_[~model.exog_last_[ID].isin(ids)])
    assert list(moved.exog_last_[ID]) == list(model.exog_last_[ID])
