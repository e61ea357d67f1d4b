"""contacts: the people campaigns are sent to, kept between campaigns

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:40:00

A phone (E.164) or an email (normalised), each unique when present, at least
one of them; names, location, preferred product and string attributes. A
recipient row names the contact it was sent to (recipients.contact_id), so a
contact's page lists every message across campaigns. The history names the
contact a change was made to (audit_events.contact_id).

Searching names, phones and emails by any part uses trigram indexes (pg_trgm,
in PostgreSQL's contrib, which every usual build ships); the filters use
plain b-tree indexes.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("first_name", sa.String(100), server_default="", nullable=False),
        sa.Column("last_name", sa.String(100), server_default="", nullable=False),
        sa.Column("location", sa.String(100), server_default="", nullable=False),
        sa.Column("preferred_product", sa.String(100), server_default="", nullable=False),
        sa.Column("attributes", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="contacts_reachable"),
    )
    op.create_index("contacts_phone", "contacts", ["phone"], unique=True, postgresql_where=sa.text("phone IS NOT NULL"))
    op.create_index("contacts_email", "contacts", ["email"], unique=True, postgresql_where=sa.text("email IS NOT NULL"))
    op.execute(
        "CREATE INDEX contacts_search ON contacts USING gin "
        "((first_name || ' ' || last_name || ' ' || coalesce(phone, '') || ' ' || coalesce(email, '')) gin_trgm_ops)"
    )
    op.create_index("contacts_location", "contacts", ["location", "id"])
    op.create_index("contacts_preferred_product", "contacts", ["preferred_product", "id"])
    op.add_column(
        "recipients",
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True),
    )
    linked = sa.text("contact_id IS NOT NULL")
    op.create_index("recipients_contact", "recipients", ["contact_id", "id"], postgresql_where=linked)
    op.add_column("audit_events", sa.Column("contact_id", sa.Integer(), nullable=True))
    op.create_index("audit_events_contact", "audit_events", ["contact_id", "id"], postgresql_where=linked)


def downgrade():
    op.drop_index("audit_events_contact", table_name="audit_events")
    op.drop_column("audit_events", "contact_id")
    op.drop_index("recipients_contact", table_name="recipients")
    op.drop_column("recipients", "contact_id")
    op.drop_table("contacts")
