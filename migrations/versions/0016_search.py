"""search: who created each campaign, and the indexes the search boxes use

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 09:00:00

The campaign list filters by who created a campaign: ``campaigns.created_by_id``,
filled in for existing campaigns from their "created" history event.

Searching by any part of a text uses trigram indexes (pg_trgm, as the
contacts' search does, migration 0009): on the campaigns' title and message,
and on each recipient's name, address as typed and as normalised, and own
text (the expressions are ``Campaign.SEARCH`` and ``Recipient.SEARCH``).
The recipients' index leads with campaign_id and status (btree_gin, also in
contrib): a search inside one campaign reads that campaign's entries only,
however many other campaigns share a name, and a status tab's matches are
intersected inside the index, so a word common in the campaign but rare in
the Failed tab reads no rows of either. Status costs the send path one more
key per update: every update of a recipient changes status, which another
index holds, so it is never HOT and writes all of this index's keys anyway.

recipients is the one big table: its index is built CONCURRENTLY, outside a
transaction, so sends go on while it builds (about a minute a million rows).
If that build fails it leaves an INVALID index behind: drop it
(``DROP INDEX CONCURRENTLY recipients_search``) and upgrade again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

CAMPAIGN_SEARCH = "(title || ' ' || message)"
RECIPIENT_SEARCH = "(name || ' ' || address || ' ' || address_normalized || ' ' || coalesce(rendered_content, ''))"


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.add_column(
        "campaigns",
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    op.execute(
        "UPDATE campaigns SET created_by_id = e.actor_id FROM audit_events e "
        "WHERE e.campaign_id = campaigns.id AND e.action = 'campaign.created' AND e.actor_id IS NOT NULL"
    )
    op.create_index("campaigns_created_by", "campaigns", ["created_by_id", "created_at"])
    op.execute(f"CREATE INDEX campaigns_search ON campaigns USING gin ({CAMPAIGN_SEARCH} gin_trgm_ops)")
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS recipients_search ON recipients "
            f"USING gin (campaign_id, status, {RECIPIENT_SEARCH} gin_trgm_ops)"
        )


def downgrade():
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS recipients_search")
    op.drop_index("campaigns_search", table_name="campaigns")
    op.drop_index("campaigns_created_by", table_name="campaigns")
    op.drop_column("campaigns", "created_by_id")
