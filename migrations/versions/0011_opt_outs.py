"""opt-outs: addresses never sent to again on a channel, and the Skipped status

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:40:00

One row per channel and normalised address, saying where it came from (staff,
an import, the provider's ``opted_out`` answer, an inbound reply), who added
it and when. A recipient whose address is on the list when the campaign starts,
or when the recipient is claimed, ends ``skipped``; the campaign counts them
(campaigns.skipped_count) like every other end state.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

STATUSES = "'queued', 'sending', 'retrying', 'sent', 'failed', 'cancelled'"


def upgrade():
    op.create_table(
        "opt_outs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("channel IN ('sms', 'whatsapp', 'email')", name="opt_outs_channel_valid"),
        sa.CheckConstraint("source IN ('staff', 'import', 'provider', 'reply')", name="opt_outs_source_valid"),
        sa.UniqueConstraint("channel", "address", name="opt_outs_one_per_address"),
    )
    op.create_index("opt_outs_newest", "opt_outs", ["created_at", "id"])
    op.execute("CREATE INDEX opt_outs_search ON opt_outs USING gin (address gin_trgm_ops)")
    op.add_column("campaigns", sa.Column("skipped_count", sa.Integer(), server_default="0", nullable=False))
    op.drop_constraint("recipients_status_valid", "recipients", type_="check")
    op.create_check_constraint("recipients_status_valid", "recipients", f"status IN ({STATUSES}, 'skipped')")


def downgrade():
    op.execute("UPDATE recipients SET status = 'cancelled' WHERE status = 'skipped'")
    op.drop_constraint("recipients_status_valid", "recipients", type_="check")
    op.create_check_constraint("recipients_status_valid", "recipients", f"status IN ({STATUSES})")
    op.drop_column("campaigns", "skipped_count")
    op.drop_table("opt_outs")
