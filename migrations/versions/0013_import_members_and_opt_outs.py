"""an import's contacts, for a campaign to be sent to them; and its opt-outs

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 03:45:00

contact_import_members names every contact an import added or updated, so a
campaign's audience can be "the contacts of import N" (its primary key serves
that). An import's opt-out column adds opt-outs; the import counts them.
heartbeat_at is moved on by every batch an import's job writes: an import
queued or running whose heartbeat stopped (its worker was killed, or Redis lost
its job) is queued again by the reconciler, and resumes at rows_done.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "contact_import_members",
        sa.Column("import_id", sa.Integer(), sa.ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    )
    op.add_column("contact_imports", sa.Column("opted_out_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("contact_imports", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column("contact_imports", "heartbeat_at")
    op.drop_column("contact_imports", "opted_out_count")
    op.drop_table("contact_import_members")
