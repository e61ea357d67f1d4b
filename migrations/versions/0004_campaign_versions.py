"""a version on each campaign row, bumped by every change to it

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 08:00:00

Live updates are rendered in many processes and can reach a page out of
order; each carries the version of the campaign row it was rendered from, so
a page can tell an older one from a newer one. A trigger bumps it, so no
change to the row, from any code path, can leave it behind.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("campaigns", sa.Column("version", sa.BigInteger(), server_default="0", nullable=False))
    op.execute(
        """
        CREATE FUNCTION campaigns_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := OLD.version + 1;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER campaigns_version BEFORE UPDATE ON campaigns "
        "FOR EACH ROW EXECUTE FUNCTION campaigns_bump_version()"
    )


def downgrade():
    op.execute("DROP TRIGGER campaigns_version ON campaigns")
    op.execute("DROP FUNCTION campaigns_bump_version()")
    op.drop_column("campaigns", "version")
