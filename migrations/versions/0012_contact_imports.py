"""contact imports: an uploaded CSV file, its progress and its failed rows

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 03:00:00

An import keeps its file in PostgreSQL, in 1 MB slices (contact_import_chunks),
so a worker on any machine reads it as a stream; the slices go when the import
is done. ``rows_done`` is committed with each batch of contacts it wrote, so a
worker that dies leaves an import that resumes where it stopped. Failed rows
are kept with their line and reason for the failed-rows report.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "contact_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column("encoding", sa.String(16), nullable=False),
        sa.Column("delimiter", sa.String(1), nullable=False),
        sa.Column("header", postgresql.JSONB(), nullable=False),
        sa.Column("mapping", postgresql.JSONB(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('uploaded', 'queued', 'running', 'done', 'failed')", name="contact_imports_status_valid"
        ),
    )
    op.create_table(
        "contact_import_chunks",
        sa.Column("import_id", sa.Integer(), sa.ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    # Uncompressed: compressing 100 MB during the upload costs more time than the
    # space saves, for a file kept only until its import is done.
    op.execute("ALTER TABLE contact_import_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    op.create_table(
        "contact_import_failures",
        sa.Column("import_id", sa.Integer(), sa.ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("line", sa.Integer(), primary_key=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", postgresql.JSONB(), nullable=False),
    )


def downgrade():
    op.drop_table("contact_import_failures")
    op.drop_table("contact_import_chunks")
    op.drop_table("contact_imports")
