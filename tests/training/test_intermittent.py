"""Intermittent demand: classification, Croston/SBA, TSB, ADIDA, IMAPA and AutoIntermittent."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from training.errors import TrainingError
from training.models.baselines import Naive
from training.models.intermittent import (
    ADIDA,
    ALPHA_GRID,
    IMAPA,
    SES_GRID,
    TSB,
    AutoIntermittent,
    Croston,
    SimpleExponentialSmoothing,
    classify_demand,
)

#: The short sequence of the hand computations below.
Y = [0, 0, 3, 0, 2, 0, 0, 4]


def make_panel(series: dict[str, list[float] | np.ndarray]) -> pd.DataFrame:
    """A daily panel with one series per key, all starting on 2024-01-01."""
    frames = [
        pd.DataFrame(
            {
                "unique_id": key,
                "ds": pd.date_range("2024-01-01", periods=len(y), freq="D"),
                "y": np.asarray(y, dtype=float),
            }
        )
        for key, y in series.items()
    ]
    return pd.concat(frames, ignore_index=True).astype({"unique_id": "str"})


def point(model, series: list[float] | np.ndarray) -> float:
    """The one-step forecast of `model` fitted to a single series."""
    return float(model.fit(make_panel({"a": series}), freq="D").predict(h=1)["yhat"].iloc[0])


def random_panel(n: int = 12, length: int = 90, seed: int = 0) -> pd.DataFrame:
    """Intermittent, lumpy and smooth series of different lengths, one of them all zeros."""
    rng = np.random.default_rng(seed)
    series = {}
    for i in range(n):
        size = length - 7 * (i % 4)
        p = (0.1, 0.3, 0.6, 0.95)[i % 4]
        series[f"s{i:02d}"] = (rng.uniform(size=size) < p) * rng.poisson(4, size) * (1 + i % 3)
    series["zeros"] = np.zeros(length)
    return make_panel(series)


def all_models():
    return [
        Croston(),
        Croston(alpha=None, variant="sba"),
        TSB(),
        TSB(alpha_d=None, alpha_p=None),
        ADIDA(),
        ADIDA(aggregation=3, alpha=0.2),
        IMAPA(),
        SimpleExponentialSmoothing(),
        AutoIntermittent(),
    ]


MODELS = pytest.mark.parametrize("model", all_models(), ids=lambda m: repr(m))


# --- classification -------------------------------------------------------------------------


def test_classify_demand_one_series_per_class() -> None:
    """Hand-made smooth, erratic, intermittent and lumpy series land in their SBC quadrants."""
    series = {
        "smooth": [3, 4, 3, 5, 4, 3],
        "erratic": [1, 10, 1, 12, 1, 9],
        "intermittent": [0, 3, 0, 0, 4, 0, 3, 0],
        "lumpy": [0, 1, 0, 0, 12, 0, 0, 2, 0],
    }
    out = classify_demand(make_panel(series)).set_index("unique_id")
    for name, y in series.items():
        sizes = np.array([v for v in y if v > 0], dtype=float)
        assert out.loc[name, "adi"] == pytest.approx(len(y) / len(sizes))
        assert out.loc[name, "cv2"] == pytest.approx(np.var(sizes, ddof=1) / sizes.mean() ** 2)
        assert out.loc[name, "demand_class"] == name
    # e.g. intermittent: 8 periods / 3 demands = 2.67 >= 1.32; sizes 3, 4, 3 give CV² 0.03 < 0.49
    assert out.loc["intermittent", "n_demands"] == 3


def test_classify_demand_edge_cases() -> None:
    """No demand: ADI inf, CV² NaN, intermittent; one demand: CV² NaN, classed by ADI alone."""
    out = classify_demand([np.zeros(5), np.array([0, 0, 7.0]), np.array([7.0]), np.ones(2)])
    assert out["adi"].iloc[0] == np.inf
    assert out["n_demands"].tolist() == [0, 1, 1, 2]
    assert out["cv2"].isna().tolist() == [True, True, True, False]
    assert out["cv2"].iloc[3] == 0.0
    assert out["demand_class"].tolist() == ["intermittent", "intermittent", "smooth", "smooth"]
    assert out["unique_id"].tolist() == [0, 1, 2, 3]


def test_classify_demand_cutoff_belongs_to_the_sparse_side() -> None:
    """ADI exactly 1.32 (33 periods, 25 demands) is intermittent; one period fewer is smooth."""
    at_cutoff = np.r_[np.ones(25), np.zeros(8)]
    below = np.r_[np.ones(25), np.zeros(7)]
    out = classify_demand([at_cutoff, below], ids=["at", "below"])
    assert out["adi"].iloc[0] == 1.32
    assert out["demand_class"].tolist() == ["intermittent", "smooth"]
    assert out["unique_id"].tolist() == ["at", "below"]


def test_classify_demand_panel_order_does_not_matter() -> None:
    """A shuffled panel gives the same rows (sorted by unique_id) as the list of its series."""
    panel = random_panel()
    shuffled = panel.sample(frac=1.0, random_state=1)
    from_panel = classify_demand(shuffled)
    values = [g["y"].to_numpy() for _, g in panel.groupby("unique_id", sort=True)]
    from_list = classify_demand(values, ids=sorted(panel["unique_id"].unique()))
    assert from_panel["unique_id"].tolist() == from_list["unique_id"].tolist()
    pd.testing.assert_frame_equal(
        from_panel.drop(columns="unique_id"), from_list.drop(columns="unique_id")
    )


def test_classify_demand_rejects_missing_values_and_empty_series() -> None:
    """NaN quantities and empty series raise TrainingError rather than a silent class."""
    with pytest.raises(TrainingError, match="finite"):
        classify_demand([np.array([1.0, np.nan])])
    with pytest.raises(TrainingError, match="empty"):
        classify_demand([np.array([1.0]), np.array([])])


# --- hand computations --------------------------------------------------------------------------


def test_croston_classic_by_hand() -> None:
    """Croston, alpha 0.1, on 0 0 3 0 2 0 0 4: smoothed size / smoothed interval."""
    # sizes 3, 2, 4; intervals 3 (first demand in period 3), 2, 3
    # size:     3 -> 0.1*2 + 0.9*3 = 2.9 -> 0.1*4 + 0.9*2.9 = 3.01
    # interval: 3 -> 0.1*2 + 0.9*3 = 2.9 -> 0.1*3 + 0.9*2.9 = 2.91
    model = Croston(alpha=0.1)
    assert point(model, Y) == pytest.approx(3.01 / 2.91)
    assert model.size_[0] == pytest.approx(3.01)
    assert model.interval_[0] == pytest.approx(2.91)


def test_sba_by_hand() -> None:
    """SBA is Croston times 1 - alpha/2 and is named "sba" by default."""
    model = Croston(alpha=0.1, variant="sba")
    assert point(model, Y) == pytest.approx((1 - 0.1 / 2) * 3.01 / 2.91)
    assert model.predict(h=2)["model"].unique().tolist() == ["sba"]


def test_tsb_by_hand() -> None:
    """TSB, alphas 0.1: probability updated every period from 3/8, size as Croston's."""
    # p starts at 3 demands / 8 periods = 0.375; p <- p + 0.1 (d - p) with d = 0 0 1 0 1 0 0 1:
    # 0.3375, 0.30375, 0.373375, 0.3360375, 0.40243375, 0.362190375, 0.3259713375, 0.39337420375
    # size: 3 -> 2.9 -> 3.01 (updated on demand only)
    model = TSB(alpha_d=0.1, alpha_p=0.1)
    assert point(model, Y) == pytest.approx(0.39337420375 * 3.01)
    assert model.probability_[0] == pytest.approx(0.39337420375)


def test_tsb_decays_after_demand_stops_but_croston_does_not() -> None:
    """After 100 periods without demand TSB is near 0 while Croston keeps its last forecast."""
    active = [2, 0, 3, 1, 0, 4, 2, 0, 0, 3]
    stopped = active + [0] * 100
    tsb_before, tsb_after = point(TSB(), active), point(TSB(), stopped)
    assert tsb_after < 0.01 * tsb_before
    assert point(Croston(), stopped) == pytest.approx(point(Croston(), active))


def test_adida_by_hand() -> None:
    """ADIDA: buckets of round(8/3) = 3 ending at the end, SES on their sums, spread over 3."""
    # 0 0 | 3 0 2 | 0 0 4: the oldest 8 % 3 = 2 periods are dropped; sums 5, 4
    # SES, alpha 0.1: 5 -> 0.1*4 + 0.9*5 = 4.9; per period 4.9 / 3
    model = ADIDA(alpha=0.1)
    assert point(model, Y) == pytest.approx(4.9 / 3)
    assert model.aggregation_.tolist() == [3]
    # ADI 5 / 2 = 2.5 rounds half up to 3 (not to the even 2)
    assert ADIDA().fit(make_panel({"a": [0, 4, 0, 0, 6]})).aggregation_.tolist() == [3]


def test_adida_fixed_aggregation_by_hand() -> None:
    """A given aggregation of 4 makes sums 3 and 6: SES 3 -> 3.3, over 4 periods 0.825."""
    assert point(ADIDA(aggregation=4, alpha=0.1), Y) == pytest.approx(3.3 / 4)


def test_adida_optimised_alpha_by_hand() -> None:
    """On sums 5, 10, 6 the in-sample MSE is least at alpha 0.2 (a grid point), giving 6 / 2."""
    # 3 demands in 6 periods: buckets of 2, sums 5, 10, 6. Errors: 10 - 5, then 6 - (5 + 5 alpha),
    # the second is 0 at alpha = 0.2; the level stays 6 and spreads to 3 per period.
    model = ADIDA()
    assert point(model, [0, 5, 10, 0, 0, 6]) == pytest.approx(3.0)
    assert model.alpha_.tolist() == [0.2]


def test_imapa_by_hand() -> None:
    """IMAPA averages ADIDA at bucket sizes 1 and 2 (= round(ADI)), alpha 0.2 given."""
    # size 1: SES of 0 5 10 0 0 6 from 0: 0, 1, 2.8, 2.24, 1.792, 2.6336
    # size 2: SES of sums 5 10 6: 5, 6, 6 -> 3 per period
    assert point(IMAPA(alpha=0.2), [0, 5, 10, 0, 0, 6]) == pytest.approx((2.6336 + 3.0) / 2)


def test_optimised_ses_ties_go_to_the_smaller_alpha() -> None:
    """With one error that no alpha changes (5 then 4), the smallest grid alpha is kept."""
    model = SimpleExponentialSmoothing()
    assert point(model, [5, 4]) == pytest.approx(5 - SES_GRID[0])
    assert model.alpha_.tolist() == [SES_GRID[0]]


def _reference_ses(y: np.ndarray, grid: tuple[float, ...]) -> tuple[float, float]:
    """A plain loop over alphas: the best (alpha, level), the smaller alpha on ties."""
    results = []
    for alpha in grid:
        level, sse = y[0], 0.0
        for value in y[1:]:
            sse += (value - level) ** 2
            level += alpha * (value - level)
        results.append((round(sse, 9), alpha, level))
    _, alpha, level = min(results)
    return alpha, level


def test_optimised_alphas_match_a_plain_loop() -> None:
    """Vectorised grid search over many series gives each one's own best alpha and level."""
    panel = random_panel(n=16)
    ses = SimpleExponentialSmoothing().fit(panel)
    croston = Croston(alpha=None).fit(panel)
    for row, (_, group) in enumerate(panel.groupby("unique_id", sort=True)):
        y = group["y"].to_numpy()
        alpha, level = _reference_ses(y, SES_GRID)
        assert ses.alpha_[row] == alpha
        assert ses.forecast_[row] == pytest.approx(level)
        sizes = y[y > 0]
        if len(sizes):
            alpha, level = _reference_ses(sizes, ALPHA_GRID)
            assert croston.alpha_size_[row] == alpha
            assert croston.size_[row] == pytest.approx(level)


# --- the protocol, for every model --------------------------------------------------------------


@MODELS
def test_panel_fit_equals_one_series_at_a_time(model) -> None:
    """Padding series of different lengths together changes no series' forecast."""
    panel = random_panel()
    together = clone(model).fit(panel).predict(h=3)
    for uid, group in panel.groupby("unique_id", sort=True):
        alone = clone(model).fit(group, freq="D").predict(h=3)
        expected = together.loc[together["unique_id"] == uid, "yhat"].to_numpy()
        np.testing.assert_allclose(alone["yhat"].to_numpy(), expected, rtol=1e-9, atol=1e-12)


@MODELS
def test_forecast_frame_is_flat_and_non_negative(model) -> None:
    """predict(h=5) gives unique_id, ds, model, yhat; 5 rows per series; flat, >= 0."""
    panel = random_panel()
    frame = clone(model).fit(panel).predict(h=5)
    assert list(frame.columns) == ["unique_id", "ds", "model", "yhat"]
    assert frame.groupby("unique_id").size().eq(5).all()
    assert frame["unique_id"].nunique() == panel["unique_id"].nunique()
    assert (frame["yhat"] >= 0).all()
    assert frame.groupby("unique_id")["yhat"].nunique().eq(1).all()
    last = panel.groupby("unique_id")["ds"].max()
    first_future = frame.groupby("unique_id")["ds"].min()
    assert (first_future == last + pd.Timedelta(days=1)).all()


@MODELS
def test_all_zero_series_forecast_zero(model) -> None:
    """A series that never sold forecasts exactly 0."""
    frame = clone(model).fit(random_panel()).predict(h=4)
    assert frame.loc[frame["unique_id"] == "zeros", "yhat"].eq(0.0).all()


@MODELS
def test_predict_before_fit_raises(model) -> None:
    """predict before fit raises scikit-learn's NotFittedError."""
    with pytest.raises(NotFittedError):
        clone(model).predict(h=3)


@MODELS
def test_pickled_model_is_small_and_does_not_grow_with_history(model) -> None:
    """A joblib pickle keeps a few numbers per series, not the history, and predicts the same."""
    short, long = random_panel(n=40, length=60), random_panel(n=40, length=600)
    sizes = []
    for panel in (short, long):
        fitted = clone(model).fit(panel)
        buffer = io.BytesIO()
        joblib.dump(fitted, buffer)
        sizes.append(buffer.tell())
        buffer.seek(0)
        pd.testing.assert_frame_equal(joblib.load(buffer).predict(h=2), fitted.predict(h=2))
    n_series = short["unique_id"].nunique()
    assert sizes[1] < 1.1 * sizes[0]
    assert sizes[1] < 4_000 + 200 * n_series


def test_get_params_returns_the_constructor_params() -> None:
    """get_params echoes the constructor arguments, so clone and set_params work."""
    assert Croston(alpha=0.2, variant="sba", alias="c").get_params() == {
        "alpha": 0.2,
        "variant": "sba",
        "alias": "c",
    }
    assert TSB(alpha_d=0.3, alpha_p=None).get_params() == {
        "alpha_d": 0.3,
        "alpha_p": None,
        "alias": None,
    }
    assert ADIDA(aggregation=7).get_params() == {"aggregation": 7, "alpha": None, "alias": None}
    assert IMAPA(alpha=0.1).get_params() == {"alpha": 0.1, "alias": None}
    assert SimpleExponentialSmoothing().get_params() == {"alpha": None, "alias": None}
    fallback = Naive()
    auto = AutoIntermittent(fallback=fallback, alias="x")
    assert auto.get_params(deep=False) == {"intermittent": None, "fallback": fallback, "alias": "x"}


@pytest.mark.parametrize(
    "model",
    [Croston(variant="sbj"), Croston(alpha=0.0), TSB(alpha_p=1.5), ADIDA(aggregation=0), IMAPA(-1)],
    ids=repr,
)
def test_invalid_params_raise_at_fit(model) -> None:
    """An unknown variant, alpha outside (0, 1] or aggregation < 1 raises TrainingError."""
    with pytest.raises(TrainingError):
        model.fit(random_panel())


# --- AutoIntermittent -----------------------------------------------------------------------------


def test_auto_intermittent_routes_series_by_class() -> None:
    """Intermittent and lumpy series get the intermittent model, the others the fallback."""
    panel = random_panel()
    classes = classify_demand(panel).set_index("unique_id")["demand_class"]
    sparse = classes.isin(["intermittent", "lumpy"])
    assert sparse.any() and not sparse.all()
    auto = AutoIntermittent(intermittent=Croston(variant="sba"), fallback=Naive()).fit(panel)
    frame = auto.predict(h=2).groupby("unique_id")["yhat"].first()
    sba = Croston(variant="sba").fit(panel).predict(h=2).groupby("unique_id")["yhat"].first()
    naive = Naive().fit(panel).predict(h=2).groupby("unique_id")["yhat"].first()
    pd.testing.assert_series_equal(frame[sparse], sba[sparse])
    pd.testing.assert_series_equal(frame[~sparse], naive[~sparse])
    assert auto.predict(h=2)["model"].unique().tolist() == ["auto_intermittent"]


class _Banded(SimpleExponentialSmoothing):
    """SES with made-up intervals: half and one and a half times the forecast."""

    def _predict_bounds(self, h, interval_levels, mean):
        return {lv: (0.5 * mean, 1.5 * mean) for lv in interval_levels}


def test_auto_intermittent_takes_intervals_from_its_models() -> None:
    """Bounds come from each series' own model; a model without intervals raises."""
    panel = random_panel()
    frame = (
        AutoIntermittent(intermittent=_Banded(), fallback=_Banded())
        .fit(panel)
        .predict(h=2, interval_levels=(80,))
    )
    np.testing.assert_allclose(frame["yhat_hi_80"], 1.5 * frame["yhat"])
    with pytest.raises(TrainingError, match="intervals"):
        AutoIntermittent(fallback=_Banded()).fit(panel).predict(h=2, interval_levels=(80,))
