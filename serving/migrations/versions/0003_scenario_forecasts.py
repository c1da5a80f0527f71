"""Scenario forecasts: what-if answers kept for the audit trail, apart from the scored ledger.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from serving.migrations.ledger_tables import NO_ROWID

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create scenario_forecasts (serving.db.ScenarioForecast)."""
    op.create_table(
        "scenario_forecasts",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("served_at", sa.DateTime(), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("forecast", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name="fk_scenario_forecasts_api_key_id_api_keys"
        ),
        sa.PrimaryKeyConstraint("request_id", name="pk_scenario_forecasts"),
        **NO_ROWID,
    )
    op.create_index("ix_scenario_forecasts_served_at", "scenario_forecasts", ["served_at"])


def downgrade() -> None:
    """Drop scenario_forecasts."""
    op.drop_index("ix_scenario_forecasts_served_at", table_name="scenario_forecasts")
    op.drop_table("scenario_forecasts")
