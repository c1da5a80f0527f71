"""New series: ids posted with their attributes that the served model does not know yet.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the new_series table."""
    op.create_table(
        "new_series",
        sa.Column("unique_id", sa.String(length=200), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("unique_id"),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("new_series")
