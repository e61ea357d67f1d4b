"""Outcomes counted by the hour and by each campaign's second, for the dashboard and charts

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 12:30:00

Both are kept by the send path in the transaction that records the outcomes
(``app.campaigns.rollup``). Outcomes recorded before this revision are counted
from the recipients' own rows, once, here: what each recipient's status is now,
at the time it finished.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hourly_outcomes",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(32), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "channel", "outcome", "error_code", name="hourly_outcomes_pkey"),
    )
    op.create_table(
        "campaign_seconds",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("second", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(32), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "second", "outcome", "error_code", name="campaign_seconds_pkey"),
    )
    finished = """
        FROM recipients r JOIN campaigns c ON c.id = r.campaign_id
        WHERE r.status IN ('sent', 'failed', 'skipped') AND r.finished_at IS NOT NULL
    """
    op.execute(
        f"""
        INSERT INTO hourly_outcomes (hour, channel, outcome, error_code, messages)
        SELECT date_trunc('hour', r.finished_at), c.channel, r.status, coalesce(r.error_code, ''), count(*)
        {finished}
        GROUP BY 1, 2, 3, 4
        """
    )
    op.execute(
        f"""
        INSERT INTO campaign_seconds (campaign_id, second, outcome, error_code, messages)
        SELECT r.campaign_id, date_trunc('second', r.finished_at), r.status, coalesce(r.error_code, ''), count(*)
        {finished}
        GROUP BY 1, 2, 3, 4
        """
    )


def downgrade() -> None:
    op.drop_table("campaign_seconds")
    op.drop_table("hourly_outcomes")
