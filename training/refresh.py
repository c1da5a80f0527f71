"""Move a fitted AutoForecaster forward to new actuals without a retrain.

    model = refreshed(model, panel)   # panel: the full history (unique_id, ds, y) of some series

For the series in `panel`: local and vectorised members refit those series alone on their
extended history with the same hyper-parameters (their rows of per-series state are replaced);
global members keep their fitted estimator and read their lags from the new history. Routes,
combination weights, conformal calibration and the backtest stay as trained; each series' last
date and interval scale move forward, so its next forecast starts the period after its newest
actual. A series keeps the route (regular or intermittent) it was given when trained.

New actuals usually come without price or promotion: exogenous columns the panel lacks are
filled by `features.exog.default_plan` from what the model holds (values known for those dates,
else the last price carried forward and no promotion).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from features.builders import PRICE_WINDOWS
from features.exog import default_plan
from features.schema import ID, TARGET, TIME
from training.auto import AutoForecaster, Route, last_exogenous
from training.base import BaseForecaster, SeriesBatch, check_panel, split_panel
from training.errors import TrainingError
from training.intervals import naive_scales
from training.models.global_ml import PROMO_CAP, _GlobalWindowModel
from training.models.intermittent import AutoIntermittent

__all__ = ["refreshed"]


def refreshed(
    model: AutoForecaster, panel: pd.DataFrame, *, freq: str | None = None
) -> AutoForecaster:
    """A copy of fitted `model` moved forward to `panel`, the full history of some of its series.

    Series not in `panel` keep their state; `model` itself is left unchanged. `freq` (the
    offset alias) must match the model's when given.

    Raises:
        TrainingError: naming the series that the model does not know, whose history has a gap
            or off-grid date, ends before the model's last date or starts after its first one.
    """
    check_is_fitted(model, "routes_")
    if freq is not None and _offset(freq) != _offset(model.freq_):
        raise TrainingError(f"the model was fitted at frequency {model.freq_!r}, not {freq!r}")
    panel = check_panel(panel)
    batch = split_panel(panel)
    position = _positions(model.unique_ids_, batch.ids)
    _check_history(model, panel, batch, position)
    out = copy.copy(model)
    out.last_ds_ = _spliced(model.last_ds_, position, batch.last_ds)
    scales = naive_scales(panel).reindex(batch.ids).to_numpy()
    out.scale_ = _spliced(model.scale_, position, scales)
    if getattr(model, "exog_", None):
        out.exog_last_ = _moved_exogenous(model, panel)
    out.routes_ = [_refreshed_route(route, model.unique_ids_, panel) for route in model.routes_]
    return out


def _with_exogenous(panel: pd.DataFrame, held: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`panel` with the exogenous `columns` it lacks filled from `held` (see the module doc)."""
    missing = [c for c in columns if c not in panel.columns]
    if not missing:
        return panel
    plan = default_plan(held, panel[[ID, TIME]], missing)
    return panel.assign(**{c: plan[c].to_numpy() for c in missing})


def _moved_exogenous(model: AutoForecaster, panel: pd.DataFrame) -> pd.DataFrame:
    """The model's last exogenous values, moved forward for the series of `panel`."""
    mine = _with_exogenous(panel, model.exog_last_, model.exog_)
    moved = last_exogenous(mine, model.exog_)
    kept = model.exog_last_[~model.exog_last_[ID].isin(set(moved[ID]))]
    moved = moved.astype(kept.dtypes.to_dict())
    out = pd.concat([kept, moved]).set_index(ID).reindex(model.exog_last_[ID])
    return out.reset_index()[list(model.exog_last_.columns)]


def _offset(alias: str) -> pd.DateOffset:
    """The pandas offset of an alias, so that "W" and "W-SUN" compare equal."""
    return pd.tseries.frequencies.to_offset(alias)


def _named(message: str, ids: Sequence[str]) -> TrainingError:
    """A TrainingError naming the first few series of `ids`."""
    ids = [str(i) for i in ids]
    more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
    return TrainingError(f"{message}: {', '.join(map(repr, ids[:5]))}{more}")


def _positions(known: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows of `ids` in the fitted series `known`; unknown series are an error."""
    position = pd.Index(known).get_indexer(ids)
    if (position < 0).any():
        raise _named(
            f"the model does not know these series (it knows {len(known)}; retrain to add them)",
            ids[position < 0],
        )
    return position


def _check_history(
    model: AutoForecaster, panel: pd.DataFrame, batch: SeriesBatch, position: np.ndarray
) -> None:
    """Each series on the model's grid without gaps, covering at least what the model holds."""
    ds = panel[TIME].to_numpy().astype("datetime64[us]")
    series = np.repeat(np.arange(len(batch.ids)), batch.lengths)
    step = np.arange(len(ds)) - batch.starts[series]
    first = ds[batch.starts]
    expected = np.empty_like(ds)
    days, inverse = np.unique(first, return_inverse=True)
    for k, day in enumerate(days):  # one date grid per distinct start
        rows = inverse[series] == k
        grid = pd.date_range(day, periods=int(step[rows].max()) + 1, freq=model.freq_)
        expected[rows] = grid.to_numpy().astype("datetime64[us]")[step[rows]]
    off = ds != expected
    if off.any():
        at = pd.Timestamp(ds[np.argmax(off)])
        raise _named(
            f"a gap or a date off the model's {model.freq_!r} grid (first at {at.date()}) "
            "in the history of series",
            pd.unique(batch.ids[series[off]]),
        )
    trained_end = model.last_ds_[position].astype("datetime64[us]")
    older = batch.last_ds.astype("datetime64[us]") < trained_end
    if older.any():
        raise _named(
            "the history ends before the model's last date (it is older than the model) for series",
            batch.ids[older],
        )
    shorter = first > _held_start(model, batch.ids, trained_end)
    if shorter.any():
        raise _named(
            "the history starts after data the model was trained on (pass each series' full "
            "history, not only the new rows) for series",
            batch.ids[shorter],
        )


def _held_start(model: AutoForecaster, ids: np.ndarray, trained_end: np.ndarray) -> np.ndarray:
    """The earliest training date of each series the model holds: its end, or a global's tail."""
    start = trained_end.copy()
    for route in model.routes_:
        for member in route.members:
            if isinstance(member, _GlobalWindowModel):
                history = member.history_
                firsts = history.groupby(ID, sort=False)[TIME].min().reindex(ids)
                held = firsts.to_numpy().astype("datetime64[us]")
                start = np.where(~np.isnat(held) & (held < start), held, start)
    return start


def _spliced(
    old: np.ndarray | list, position: np.ndarray, new: np.ndarray | list
) -> np.ndarray | list:
    """A copy of per-series `old` with rows `position` replaced by `new`."""
    if isinstance(old, list):
        out = list(old)
        for row, value in zip(position, new, strict=True):
            out[row] = value
        return out
    out = old.copy()
    out[position] = new
    return out


def _refreshed_route(route: Route, ids: np.ndarray, panel: pd.DataFrame) -> Route:
    """The route with its members moved forward on its own series of `panel`."""
    mine = panel[panel[ID].isin(set(ids[route.rows]))]
    if mine.empty:
        return route
    return dataclasses.replace(route, members=[_refreshed_member(m, mine) for m in route.members])


def _refreshed_member(member: BaseForecaster, panel: pd.DataFrame) -> BaseForecaster:
    """One fitted member moved forward, by kind: global, per-part, or refit per series."""
    if isinstance(member, _GlobalWindowModel):
        return _with_new_lags(member, panel)
    if isinstance(member, AutoIntermittent):
        return _refreshed_parts(member, panel)
    return _refit_series(member, panel)


def _moved(member: BaseForecaster, panel: pd.DataFrame) -> BaseForecaster:
    """A shallow copy of `member` whose last dates are those of `panel`'s series."""
    batch = split_panel(panel)
    out = copy.copy(member)
    out.last_ds_ = _spliced(
        member.last_ds_, _positions(member.unique_ids_, batch.ids), batch.last_ds
    )
    return out


def _per_series(value: object, n: int) -> bool:
    return isinstance(value, np.ndarray | list) and len(value) == n


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        arrays = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        return arrays and a.shape == b.shape and bool(np.array_equal(a, b))  # type: ignore[union-attr]
    return bool(a == b)


def _refit_series(member: BaseForecaster, panel: pd.DataFrame) -> BaseForecaster:
    """Fit a clone on the panel's series alone and splice its per-series state into a copy.

    Local and vectorised models fit every series on its own, so this equals refitting them all.
    Learned attributes whose first axis is the series are spliced; any other must not change.
    """
    fresh = clone(member).fit(panel, freq=member.freq_)
    position = _positions(member.unique_ids_, fresh.unique_ids_)
    out = copy.copy(member)
    n = len(member.unique_ids_)
    for name, value in vars(fresh).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        old = getattr(member, name, None)
        if _per_series(old, n) and _per_series(value, len(position)):
            shape = getattr(old, "shape", (n,))[1:] == getattr(value, "shape", (len(value),))[1:]
            if shape:
                setattr(out, name, _spliced(old, position, value))
                continue
        if not _same(old, value):
            raise TrainingError(
                f"cannot refresh {type(member).__name__}: its learned {name!r} is not per series"
            )
    return out


def _refreshed_parts(member: AutoIntermittent, panel: pd.DataFrame) -> AutoIntermittent:
    """Each part (sparse / regular) moved forward on its own series; the split is kept."""
    out = _moved(member, panel)
    parts = []
    for rows, part in member.parts_:
        mine = panel[panel[ID].isin(set(member.unique_ids_[rows]))]
        parts.append((rows, _refreshed_member(part, mine) if len(mine) else part))
    out.parts_ = parts
    return out  # type: ignore[return-value]


def _with_new_lags(member: _GlobalWindowModel, panel: pd.DataFrame) -> _GlobalWindowModel:
    """The global model with the same estimators reading the new history of panel's series."""
    exog = list(member.spec_.exog)
    # as many rows per series as `_GlobalWindowModel._fit` keeps for predict to read
    keep = member.spec_.depth + max(PRICE_WINDOWS[member.code_]) + PROMO_CAP + 1
    history = member.history_
    tails = panel[[ID, TIME, TARGET, *(c for c in exog if c in panel)]]
    tails = tails.groupby(ID, sort=False).tail(keep)
    tails = _with_exogenous(tails, history, exog)[[ID, TIME, TARGET, *exog]]
    tails = tails.astype(history.dtypes.to_dict())
    kept = history[~history[ID].isin(set(tails[ID]))]
    out = _moved(member, panel)
    combined = pd.concat([kept, tails], ignore_index=True)
    out.history_ = combined.sort_values([ID, TIME], ignore_index=True, kind="stable")
    return out  # type: ignore[return-value]
