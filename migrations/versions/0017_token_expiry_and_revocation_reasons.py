"""API tokens: an optional expiry, and why each revoked token was revoked

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 12:00:00

A new password, signing out everywhere and deactivation now revoke the
person's tokens, and say so on the token (``revoked_reason``). Tokens revoked
before this were revoked by hand. Tokens of people deactivated before this
were only refused while the person stayed deactivated: they are revoked here,
so reactivating someone never brings an old token back.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_tokens", sa.Column("revoked_reason", sa.String(32), nullable=True))
    op.execute("UPDATE api_tokens SET revoked_reason = 'by_hand' WHERE revoked_at IS NOT NULL")
    op.execute(
        "UPDATE api_tokens SET revoked_at = now(), revoked_reason = 'deactivated' FROM users "
        "WHERE users.id = api_tokens.user_id AND NOT users.active AND api_tokens.revoked_at IS NULL"
    )


def downgrade():
    op.drop_column("api_tokens", "revoked_reason")
    op.drop_column("api_tokens", "expires_at")
