"""the JSON API: tokens, idempotency keys, and contact fields of 200 characters

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:00:00

api_tokens keeps each token's sha256, never the token. api_idempotency_keys
keeps, per person and key, the request's fingerprint and its first 2xx
response, for 24 hours. The API contract allows customer names, location and
preferred product of up to 200 characters; the columns were 100.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

WIDENED = ("first_name", "last_name", "location", "preferred_product")


def upgrade():
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("api_tokens_user", "api_tokens", ["user_id", "id"])
    op.create_table(
        "api_idempotency_keys",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
    )
    op.create_index("api_idempotency_keys_created", "api_idempotency_keys", ["created_at"])
    for column in WIDENED:
        op.alter_column("contacts", column, type_=sa.String(200), existing_nullable=False)


def downgrade():
    for column in WIDENED:
        op.execute(f"UPDATE contacts SET {column} = left({column}, 100)")
        op.alter_column("contacts", column, type_=sa.String(100), existing_nullable=False)
    op.drop_table("api_idempotency_keys")
    op.drop_table("api_tokens")
