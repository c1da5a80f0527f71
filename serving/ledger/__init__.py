"""The forecast ledger: every served forecast, the actuals that arrive later, and accuracy.

    log_served_many(engine, items)         # the server's answers, one transaction per batch
    upsert_actuals(engine, rows)           # -> UpsertResult(..., changed_ids)
    actuals_since(engine, mark)            # -> (actuals changed after mark, new mark)
    changed_since(engine, mark)            # -> (earliest day changed after mark, new mark)
    accuracy_report(engine, expected=...)  # GET /v1/accuracy, from running sums
    accuracy_by_period(engine, "W")        # GET /v1/accuracy/trend, from the scored points
    series_anticipation(engine, ids, expected=...)
    prune_served(engine, older_than=...)   # retention; accuracy is kept

`HistoryStats` (one per served snapshot) gives each forecast its MASE scale and direction
references at serving time; `Backtest` prepares the bundle's backtest windows once for reports.

A served point is scored as soon as its (unique_id, ds) has an actual, whichever is written
first; a corrected actual re-scores it. Each distinct forecast is stored once, however many
requests served it; accuracy sums are kept per series, step and target date and updated in the
transaction that scores, so reading them does not grow with the ledger. Frames in and out use
the project's columns: unique_id, level (hierarchy), ds, y, yhat, yhat_lo_80, yhat_hi_80, ...
"""

from serving.ledger.actuals import (
    UpsertResult,
    actuals_frame,
    actuals_mark,
    actuals_since,
    changed_since,
    upsert_actuals,
)
from serving.ledger.backtest import Backtest
from serving.ledger.history_stats import HistoryStats, OriginStats
from serving.ledger.new_series import new_series_frame, new_series_mark
from serving.ledger.reads import scored_points, served_history
from serving.ledger.report import (
    AccuracyGroups,
    AccuracyReport,
    SeriesAnticipation,
    accuracy_report,
    series_anticipation,
)
from serving.ledger.retention import ledger_counts, prune_served
from serving.ledger.scenarios import ScenarioRecord, log_scenario, prune_scenarios, scenario_of
from serving.ledger.served import ServedRows, log_forecasts, log_served, log_served_many
from serving.ledger.trend import accuracy_by_period

__all__ = [
    "AccuracyGroups",
    "AccuracyReport",
    "Backtest",
    "HistoryStats",
    "OriginStats",
    "ScenarioRecord",
    "SeriesAnticipation",
    "ServedRows",
    "UpsertResult",
    "accuracy_by_period",
    "accuracy_report",
    "actuals_frame",
    "actuals_mark",
    "actuals_since",
    "changed_since",
    "ledger_counts",
    "log_forecasts",
    "log_scenario",
    "log_served",
    "log_served_many",
    "new_series_frame",
    "new_series_mark",
    "prune_scenarios",
    "prune_served",
    "scenario_of",
    "scored_points",
    "series_anticipation",
    "served_history",
    "upsert_actuals",
]
