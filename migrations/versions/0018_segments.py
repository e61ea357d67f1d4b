"""segments: named sets of contact filters; what a campaign was sent to; changes to many contacts at once

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 12:00:00

A segment keeps its filters as the contacts list's URL query
(``app.contacts.filters.Filters.args``), so a link and a segment read the
same way. A campaign made from contacts keeps what it was sent to
(``campaigns.audience``: the segment's name and filters, or the filters),
unchanged when the segment later is. A bulk change to contacts (delete, add
or remove an attribute) is a row of ``contact_changes``, worked through by a
job in batches, with its progress, like an import.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("filters", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("name", name="segments_name_unique"),
    )
    op.add_column("campaigns", sa.Column("audience", postgresql.JSONB(), nullable=True))
    op.create_table(
        "contact_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("filters", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("attribute_key", sa.String(64), server_default="", nullable=False),
        sa.Column("attribute_value", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(16), server_default="queued", nullable=False),
        sa.Column("expected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("done_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("messages_erased", sa.Integer(), server_default="0", nullable=False),
        # The last contact id a committed batch reached: where a stopped change resumes.
        sa.Column("after_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "action IN ('delete', 'set_attribute', 'remove_attribute')", name="contact_changes_action_valid"
        ),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="contact_changes_status_valid"),
    )


def downgrade():
    op.drop_table("contact_changes")
    op.drop_column("campaigns", "audience")
    op.drop_table("segments")
