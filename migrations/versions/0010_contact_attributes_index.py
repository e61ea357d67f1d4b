"""an index for choosing contacts by an attribute's value

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:50:00

A campaign's audience may be the contacts whose attribute KEY is VALUE:
``attributes @> '{"KEY": "VALUE"}'``, which a jsonb_path_ops GIN index serves.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE INDEX contacts_attributes ON contacts USING gin (attributes jsonb_path_ops)")


def downgrade():
    op.drop_index("contacts_attributes", table_name="contacts")
