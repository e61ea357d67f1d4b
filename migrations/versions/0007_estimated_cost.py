"""what a campaign was estimated to cost when it started

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:20:00

Set by Start, in the same transaction as the change of status, from the
channel's price and the campaign's messages (an SMS campaign's segments): a
channel's monthly budget is checked against the campaigns started in the
month.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("campaigns", sa.Column("estimated_cost", sa.Numeric(14, 4), nullable=True))
    op.create_index("campaigns_started_per_channel", "campaigns", ["channel", "started_at"])


def downgrade():
    op.drop_index("campaigns_started_per_channel", table_name="campaigns")
    op.drop_column("campaigns", "estimated_cost")
