"""Delivery receipts: each recipient's delivery state, the campaign's counts of
them, and the receipts waiting for the message they name

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 19:10:00

A receipt is kept in ``provider_receipts`` from the moment it is accepted
until it is applied to its recipient (``app.campaigns.receipts``), so one
that names a message not recorded yet waits for it rather than being lost.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("recipients", sa.Column("delivery", sa.String(16), nullable=True))
    op.add_column("recipients", sa.Column("delivery_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("recipients", sa.Column("delivery_error", sa.Text(), nullable=True))
    op.create_check_constraint("recipients_delivery_valid", "recipients", "delivery IN ('delivered', 'undelivered')")
    op.add_column("campaigns", sa.Column("delivered_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("campaigns", sa.Column("undelivered_count", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "provider_receipts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="provider_receipts_pkey"),
        sa.UniqueConstraint("message_id", "state", "reported_at", name="provider_receipts_once"),
        sa.CheckConstraint("state IN ('delivered', 'undelivered')", name="provider_receipts_state_valid"),
    )


def downgrade() -> None:
    op.drop_table("provider_receipts")
    op.drop_column("campaigns", "undelivered_count")
    op.drop_column("campaigns", "delivered_count")
    op.drop_constraint("recipients_delivery_valid", "recipients")
    op.drop_column("recipients", "delivery_error")
    op.drop_column("recipients", "delivery_at")
    op.drop_column("recipients", "delivery")
