"""a message is a template: an email subject, and each recipient's own text

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:00:00

A campaign's message (and an email's subject) may hold placeholders such as
{first_name|there}. Each recipient's text is rendered once, when its
recipients are stored, and kept on its row: rendered_content and
rendered_subject, NULL when the template has no placeholder (every recipient
then gets the campaign's own text, and a large literal campaign stores no
copy of it per row). An SMS campaign keeps its segments in all, what it
costs (sms_segments).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("campaigns", sa.Column("subject", sa.Text(), nullable=True))
    op.add_column("campaigns", sa.Column("sms_segments", sa.BigInteger(), nullable=True))
    op.add_column("recipients", sa.Column("rendered_content", sa.Text(), nullable=True))
    op.add_column("recipients", sa.Column("rendered_subject", sa.Text(), nullable=True))


def downgrade():
    op.drop_column("recipients", "rendered_subject")
    op.drop_column("recipients", "rendered_content")
    op.drop_column("campaigns", "sms_segments")
    op.drop_column("campaigns", "subject")
