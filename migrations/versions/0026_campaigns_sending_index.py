"""An index of the campaigns sending, for send jobs that share their workers among them

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 00:15:00

Every send job looks twice a second for other campaigns sending with
recipients queued (``jobs.send``); among ten thousand finished campaigns the
few sending are read from this partial index, not the whole table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "campaigns_sending", "campaigns", ["started_at", "id"], postgresql_where=sa.text("status = 'sending'")
    )


def downgrade() -> None:
    op.drop_index("campaigns_sending", table_name="campaigns")
