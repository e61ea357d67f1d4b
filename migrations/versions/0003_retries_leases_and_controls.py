"""retries, leases, delivery attempts and operator controls

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CAMPAIGN_STATUSES = ("draft", "sending", "paused", "completed", "cancelled")
RECIPIENT_STATUSES = ("queued", "sending", "retrying", "sent", "failed", "cancelled")


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.drop_constraint("campaigns_status_valid", "campaigns", type_="check")
    op.create_check_constraint("campaigns_status_valid", "campaigns", _in("status", CAMPAIGN_STATUSES))
    op.add_column("campaigns", sa.Column("retrying_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("campaigns", sa.Column("cancelled_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("campaigns", sa.Column("pause_reason", sa.Text(), nullable=True))
    op.add_column("campaigns", sa.Column("recent_outcomes", sa.Text(), server_default="", nullable=False))

    op.drop_constraint("recipients_status_valid", "recipients", type_="check")
    op.create_check_constraint("recipients_status_valid", "recipients", _in("status", RECIPIENT_STATUSES))
    op.add_column("recipients", sa.Column("error_code", sa.String(length=32), nullable=True))
    op.add_column("recipients", sa.Column("error_kind", sa.String(length=16), nullable=True))
    op.add_column("recipients", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("recipients", sa.Column("attempt_started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("recipients", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("recipients", sa.Column("attempt_limit", sa.Integer(), nullable=True))

    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            _in("outcome", ("sent", "transient", "permanent", "lease_expired")), name="delivery_attempts_outcome_valid"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("delivery_attempts_recipient", "delivery_attempts", ["recipient_id", "id"])


def downgrade():
    op.drop_table("delivery_attempts")
    for column in (
        "attempt_limit",
        "next_attempt_at",
        "attempt_started_at",
        "lease_expires_at",
        "error_kind",
        "error_code",
    ):
        op.drop_column("recipients", column)
    op.drop_constraint("recipients_status_valid", "recipients", type_="check")
    op.create_check_constraint(
        "recipients_status_valid", "recipients", _in("status", ("queued", "sending", "sent", "failed"))
    )
    for column in ("recent_outcomes", "pause_reason", "cancelled_count", "retrying_count"):
        op.drop_column("campaigns", column)
    op.drop_constraint("campaigns_status_valid", "campaigns", type_="check")
    op.create_check_constraint("campaigns_status_valid", "campaigns", _in("status", ("draft", "sending", "completed")))
