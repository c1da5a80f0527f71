"""Compact ledger: each distinct forecast stored once, accuracy kept as running sums.

served_series + served_points (a copy of every point per request, scored in place) become
forecasts + forecast_points (+ forecast_bounds for other interval levels) linked to requests by
served_series; target dates are Dates; actuals get a `revision`; accuracy_series/steps/days
hold the running sums. Existing rows are carried over: each old served series becomes its own
forecast (no MASE scale or direction references were stored, so their MASE and direction stay
undefined), and the sums are computed from the old scored points.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from serving.migrations.ledger_tables import (
    KEYS,
    create_old_tables,
    create_tables,
    rebuild_requests,
)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _day(column: str) -> str:
    """SQL turning a stored DateTime into a Date on this database."""
    if op.get_bind().dialect.name == "sqlite":
        return f"substr({column}, 1, 10)"
    return f"CAST({column} AS DATE)"


def _bounds_rows(sqlite: bool) -> str:
    """SELECT of (forecast_id, step, level, lo, hi) from the old points' `bounds` JSON."""
    if sqlite:
        return (
            "SELECT p.served_series_id, p.step, CAST(j.key AS INTEGER), "
            "json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]') "
            "FROM legacy_served_points p, json_each(p.bounds) j WHERE j.key NOT IN ('80', '95')"
        )
    return (
        "SELECT p.served_series_id, p.step, CAST(j.key AS INTEGER), "
        "CAST(j.value->>0 AS DOUBLE PRECISION), CAST(j.value->>1 AS DOUBLE PRECISION) "
        "FROM legacy_served_points p, jsonb_each(CAST(p.bounds AS jsonb)) j "
        "WHERE j.key NOT IN ('80', '95')"
    )


def _copy(sqlite: bool) -> None:
    """Carry the old rows over, then compute the accuracy sums from their scored points."""
    scored = (
        "FROM legacy_served_points p JOIN legacy_actuals a "
        "ON a.unique_id = s.unique_id AND a.ds = p.ds WHERE p.served_series_id = s.id"
    )
    op.execute(
        "INSERT INTO forecasts (id, fingerprint, unique_id, hierarchy_level, model_version, "
        "origin, horizon, last_ds, n_served, last_served_at, said, n_scored, sum_abs_error, "
        f"sum_y) SELECT s.id, NULL, s.unique_id, s.level, s.model_version, {_day('s.origin')}, "
        f"s.horizon, (SELECT {_day('MAX(p.ds)')} FROM legacy_served_points p "
        "WHERE p.served_series_id = s.id), 1, s.served_at, -1, "
        f"(SELECT COUNT(*) {scored}), COALESCE((SELECT SUM(ABS(p.yhat - a.y)) {scored}), 0), "
        f"COALESCE((SELECT SUM(a.y) {scored}), 0) FROM legacy_served_series s"
    )
    if not sqlite:
        op.execute(
            "SELECT setval(pg_get_serial_sequence('forecasts', 'id'), "
            "COALESCE((SELECT MAX(id) FROM forecasts), 0) + 1, false)"
        )
    bounds = "yhat_lo_80, yhat_hi_80, yhat_lo_95, yhat_hi_95"
    op.execute(
        f"INSERT INTO forecast_points (forecast_id, step, ds, yhat, {bounds}) "
        f"SELECT served_series_id, step, {_day('ds')}, yhat, {bounds} FROM legacy_served_points"
    )
    op.execute(
        "INSERT INTO forecast_bounds (forecast_id, step, interval_level, lo, hi) "
        + _bounds_rows(sqlite)
    )
    op.execute(
        "INSERT INTO served_series (request_id, forecast_id) "
        "SELECT request_id, id FROM legacy_served_series"
    )
    op.execute(
        "INSERT INTO actuals (unique_id, ds, y, received_at, revision) "
        f"SELECT unique_id, {_day('ds')}, y, received_at, 1 FROM legacy_actuals"
    )
    joined = (
        "FROM forecast_points p JOIN forecasts f ON f.id = p.forecast_id "
        "JOIN actuals a ON a.unique_id = f.unique_id AND a.ds = p.ds"
    )
    sums = (
        "COUNT(*), 0, 0.0, SUM(p.yhat - a.y), SUM(a.y), SUM(CASE WHEN a.y <> 0 THEN 1 ELSE 0 END)"
    )
    point_sums = "n_points, n_scaled, sum_scaled_error, sum_error, sum_y, n_nonzero_y"
    keys = "f.unique_id, f.hierarchy_level, f.model_version"
    inside = [
        f"SUM(CASE WHEN p.yhat_lo_{lv} <= a.y AND a.y <= p.yhat_hi_{lv} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN p.yhat_lo_{lv} IS NOT NULL AND p.yhat_hi_{lv} IS NOT NULL "
        "THEN 1 ELSE 0 END)"
        for lv in (80, 95)
    ]
    op.execute(
        f"INSERT INTO accuracy_steps ({', '.join(KEYS)}, step, {point_sums}, sum_abs_error, "
        f"sum_abs_y, in_80, n_80, in_95, n_95) SELECT {keys}, p.step, {sums}, "
        f"SUM(ABS(p.yhat - a.y)), SUM(ABS(a.y)), {', '.join(inside)} {joined} "
        f"GROUP BY {keys}, p.step"
    )
    op.execute(
        f"INSERT INTO accuracy_days ({', '.join(KEYS)}, ds, {point_sums}) "
        f"SELECT {keys}, p.ds, {sums} {joined} GROUP BY {keys}, p.ds"
    )
    coverage = "sum_abs_error, sum_abs_y, in_80, n_80, in_95, n_95"
    every = ", ".join(f"SUM(s.{c.strip()})" for c in f"{point_sums}, {coverage}".split(","))
    op.execute(
        f"INSERT INTO accuracy_series ({', '.join(KEYS)}, n_forecasts, n_mase, sum_mase, "
        f"n_direction, direction_hits, max_step, {point_sums}, {coverage}) "
        "SELECT s.unique_id, s.hierarchy_level, s.model_version, "
        "(SELECT COUNT(*) FROM forecasts f WHERE f.n_scored > 0 AND f.unique_id = s.unique_id "
        "AND f.hierarchy_level = s.hierarchy_level AND f.model_version = s.model_version), "
        f"0, 0.0, 0, 0, MAX(s.step), {every} FROM accuracy_steps s "
        "GROUP BY s.unique_id, s.hierarchy_level, s.model_version"
    )


def upgrade() -> None:
    """Move the old tables aside, create the new ones, copy, drop the old."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_served_points_series_ds", table_name="served_points")
    for column in ("model_version", "request_id", "unique_id"):
        op.drop_index(f"ix_served_series_{column}", table_name="served_series")
    op.drop_index("ix_actuals_received_at", table_name="actuals")
    for table in ("served_points", "served_series", "actuals"):
        op.rename_table(table, f"legacy_{table}")
        if not sqlite:  # primary keys are indexes, whose names are unique per schema
            op.execute(
                f"ALTER TABLE legacy_{table} RENAME CONSTRAINT pk_{table} TO pk_legacy_{table}"
            )
    if sqlite:
        rebuild_requests()
    else:
        op.execute("ALTER TABLE forecast_requests RENAME COLUMN levels TO interval_levels")
    op.create_index(op.f("ix_forecast_requests_served_at"), "forecast_requests", ["served_at"])
    op.create_index(op.f("ix_jobs_created_at"), "jobs", ["created_at"])
    create_tables()
    _copy(sqlite)
    for table in ("legacy_served_points", "legacy_served_series", "legacy_actuals"):
        op.drop_table(table)
    if sqlite:
        op.drop_table("legacy_forecast_requests")


def downgrade() -> None:
    """Back to revision 0001's tables: one served series and its points per request again.

    Forecasts stored once are copied out per request; the accuracy sums are dropped (0001
    scored points in place: their y is set from the actuals). On SQLite forecast_requests
    stays without rowid, which 0001's code does not notice.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in ("accuracy_days", "accuracy_steps", "accuracy_series"):
        op.drop_table(table)
    op.drop_index(op.f("ix_served_series_forecast_id"), table_name="served_series")
    op.rename_table("served_series", "compact_served_series")
    op.rename_table("actuals", "compact_actuals")
    op.drop_index(op.f("ix_actuals_ds"), table_name="compact_actuals")
    op.drop_index(op.f("ix_actuals_revision"), table_name="compact_actuals")
    if not sqlite:
        op.execute(
            "ALTER TABLE compact_served_series RENAME CONSTRAINT pk_served_series TO pk_c_ss"
        )
        op.execute("ALTER TABLE compact_actuals RENAME CONSTRAINT pk_actuals TO pk_c_actuals")
    op.drop_index(op.f("ix_jobs_created_at"), table_name="jobs")
    op.drop_index(op.f("ix_forecast_requests_served_at"), table_name="forecast_requests")
    op.execute("ALTER TABLE forecast_requests RENAME COLUMN interval_levels TO levels")
    create_old_tables()
    _copy_back(sqlite)
    for table in ("compact_served_series", "forecast_bounds", "forecast_points", "forecasts"):
        op.drop_table(table)
    op.drop_table("compact_actuals")


def _copy_back(sqlite: bool) -> None:
    """Each (request, forecast) link becomes a served series with its own copy of the points."""
    stamp = (
        (lambda c: f"{c} || ' 00:00:00.000000'")
        if sqlite
        else (lambda c: f"CAST({c} AS TIMESTAMP)")
    )
    op.execute(
        "INSERT INTO actuals (unique_id, ds, y, received_at) "
        f"SELECT unique_id, {stamp('ds')}, y, received_at FROM compact_actuals"
    )
    op.execute(
        "CREATE TABLE link_ids AS SELECT ROW_NUMBER() OVER (ORDER BY l.request_id, l.forecast_id) "
        "AS id, l.request_id, l.forecast_id FROM compact_served_series l"
    )
    op.execute(
        "INSERT INTO served_series (id, request_id, unique_id, level, model_version, origin, "
        f"horizon, served_at) SELECT k.id, k.request_id, f.unique_id, f.hierarchy_level, "
        f"f.model_version, {stamp('f.origin')}, f.horizon, r.served_at FROM link_ids k "
        "JOIN forecasts f ON f.id = k.forecast_id JOIN forecast_requests r ON r.id = k.request_id"
    )
    if sqlite:
        extra = (
            "(SELECT json_group_object(CAST(b.interval_level AS TEXT), json_array(b.lo, b.hi)) "
            "FROM forecast_bounds b WHERE b.forecast_id = p.forecast_id AND b.step = p.step)"
        )
    else:
        extra = (
            "COALESCE((SELECT CAST(jsonb_object_agg(CAST(b.interval_level AS TEXT), "
            "jsonb_build_array(b.lo, b.hi)) AS TEXT) FROM forecast_bounds b "
            "WHERE b.forecast_id = p.forecast_id AND b.step = p.step), '{}')"
        )
    bounds = "yhat_lo_80, yhat_hi_80, yhat_lo_95, yhat_hi_95"
    op.execute(
        f"INSERT INTO served_points (served_series_id, step, ds, yhat, {bounds}, bounds, y, "
        f"scored_at) SELECT k.id, p.step, {stamp('p.ds')}, p.yhat, p.yhat_lo_80, p.yhat_hi_80, "
        f"p.yhat_lo_95, p.yhat_hi_95, {extra}, a.y, a.received_at FROM link_ids k "
        "JOIN forecasts f ON f.id = k.forecast_id "
        "JOIN forecast_points p ON p.forecast_id = k.forecast_id "
        "LEFT JOIN compact_actuals a ON a.unique_id = f.unique_id AND a.ds = p.ds"
    )
    if not sqlite:
        for table in ("served_series", "served_points"):
            op.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
    op.drop_table("link_ids")
