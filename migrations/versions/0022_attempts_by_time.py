"""Attempts found by when they finished, for the Operations page's last hour

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 09:00:00

A BRIN index: attempts are written in time order, so block ranges summarise
``finished_at`` well, and the index costs the send path next to nothing (a
B-tree on the hottest insert would cost it an index entry per call).
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX delivery_attempts_finished_brin ON delivery_attempts"
        " USING brin (finished_at) WITH (autosummarize = on)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX delivery_attempts_finished_brin")
