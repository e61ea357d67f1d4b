"""failures by kind: how many of a campaign's failed recipients failed permanently

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 19:00:00

Retry failed offers only the choices that have something to retry, each with
its count ("Retry 7 permanent failures"), and the page follows them live: a
counter beside ``failed_count``, changed in the same transactions, so no page
counts rows. Temporary failures are the rest of ``failed_count``. Counted here
once for the campaigns there are.

The lead re-chains the numbers if another branch adds a 0020.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("campaigns", sa.Column("failed_permanent_count", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE campaigns AS c SET failed_permanent_count = f.n FROM ("
        "  SELECT campaign_id, count(*) AS n FROM recipients"
        "  WHERE status = 'failed' AND error_kind = 'permanent' GROUP BY campaign_id"
        ") AS f WHERE f.campaign_id = c.id"
    )


def downgrade():
    op.drop_column("campaigns", "failed_permanent_count")
