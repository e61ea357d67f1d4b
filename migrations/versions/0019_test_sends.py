"""test sends: a person's own test phone and email, and each test of a campaign's message sent to them

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 18:00:00

``users.test_phone`` (E.164) and ``users.test_email`` (normalised) are where
"Send a test to me" sends, by the campaign's channel. ``test_sends`` keeps
each test: the message as the campaign's first recipient would get it, to
whom, and what the provider answered. A test is never a recipient and never
counted in its campaign. Indexed for a person's tests in the last day (the
TEST_SEND_LIMIT) and a campaign's latest test for each person.

"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("test_phone", sa.String(32), nullable=True))
    op.add_column("users", sa.Column("test_email", sa.String(320), nullable=True))
    op.create_table(
        "test_sends",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("provider_message_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="test_sends_status_valid"),
    )
    op.create_index("test_sends_person", "test_sends", ["user_id", "created_at"])
    op.create_index("test_sends_campaign", "test_sends", ["campaign_id", "user_id", "id"])


def downgrade():
    op.drop_table("test_sends")
    op.drop_column("users", "test_email")
    op.drop_column("users", "test_phone")
