"""scheduled sends: a Scheduled status, when it goes, why a scheduled start was refused; a person's time zone

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 09:00:00

A campaign may wait in ``scheduled`` until ``scheduled_at``, when the
scheduler starts it as Start does. The scheduler asks "which are due" every
couple of seconds: a partial index holds only the scheduled rows, so that
question reads a handful of index entries however many campaigns there are.
``schedule_refusal`` says why a start at the scheduled time was refused (a
budget), shown on the campaign's page until its next change.
``users.timezone`` is the zone a person enters and reads times in; NULL is
DEFAULT_TIMEZONE.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

STATUSES = "'draft', 'sending', 'paused', 'completed', 'cancelled'"


def upgrade():
    op.add_column("campaigns", sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("campaigns", sa.Column("schedule_refusal", sa.Text(), nullable=True))
    op.drop_constraint("campaigns_status_valid", "campaigns", type_="check")
    op.create_check_constraint("campaigns_status_valid", "campaigns", f"status IN ({STATUSES}, 'scheduled')")
    op.create_index("campaigns_due", "campaigns", ["scheduled_at"], postgresql_where=sa.text("status = 'scheduled'"))
    op.add_column("users", sa.Column("timezone", sa.String(64), nullable=True))


def downgrade():
    op.drop_column("users", "timezone")
    op.drop_index("campaigns_due", table_name="campaigns")
    op.execute("UPDATE campaigns SET status = 'draft' WHERE status = 'scheduled'")
    op.drop_constraint("campaigns_status_valid", "campaigns", type_="check")
    op.create_check_constraint("campaigns_status_valid", "campaigns", f"status IN ({STATUSES})")
    op.drop_column("campaigns", "schedule_refusal")
    op.drop_column("campaigns", "scheduled_at")
