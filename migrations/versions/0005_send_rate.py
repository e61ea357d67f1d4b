"""a recent send rate on each campaign, measured over sending time only

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:00:00

The rate and time left a campaign's page shows come from an exponentially
weighted count of recent sends, kept on the row every loop turn updates
anyway: rate_at is when it was last brought up to date, active_seconds how
long the campaign has been sending (paused time left out).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("campaigns", sa.Column("rate", sa.Float(), server_default="0", nullable=False))
    op.add_column("campaigns", sa.Column("rate_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("campaigns", sa.Column("active_seconds", sa.Float(), server_default="0", nullable=False))


def downgrade():
    op.drop_column("campaigns", "active_seconds")
    op.drop_column("campaigns", "rate_at")
    op.drop_column("campaigns", "rate")
