"""Contacts: the people campaigns are sent to (the services' "customers"),
and the CSV imports that add and update them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.extensions import Model

if TYPE_CHECKING:
    from app.auth.models import User


class Contact(Model):
    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="contacts_reachable"),
        Index("contacts_phone", "phone", unique=True, postgresql_where=text("phone IS NOT NULL")),
        Index("contacts_email", "email", unique=True, postgresql_where=text("email IS NOT NULL")),
        Index("contacts_location", "location", "id"),
        Index("contacts_preferred_product", "preferred_product", "id"),
        # contacts_search, a trigram index over names, phone and email: migration 0009.
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    email: Mapped[str | None] = mapped_column(String(320))  # normalised
    first_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    location: Mapped[str] = mapped_column(String(200), default="", server_default="")
    preferred_product: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # Custom attributes: string values, by key ({attributes.KEY} in a template).
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    @property
    def name(self) -> str:
        return Contact.full_name(self.first_name, self.last_name)

    @staticmethod
    def full_name(first_name: str, last_name: str) -> str:
        return f"{first_name} {last_name}".strip()

    @property
    def label(self) -> str:
        return self.name or self.phone or self.email or f"Contact {self.id}"

    # The search expression contacts_search indexes (migration 0009).
    SEARCH = "(first_name || ' ' || last_name || ' ' || coalesce(phone, '') || ' ' || coalesce(email, ''))"


class ImportStatus(StrEnum):
    # Stored, waiting for its columns to be confirmed; nothing written yet.
    UPLOADED = "uploaded"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return {
            "uploaded": "Not started",
            "queued": "Waiting for a worker",
            "running": "Importing",
            "done": "Done",
            "failed": "Stopped",
        }[self.value]


class ContactImport(Model):
    """One uploaded CSV file, from upload to its last row. The file itself is
    kept in ``contact_import_chunks`` until the import is done, so a worker on
    any machine can read it, and a stopped import can resume at ``rows_done``."""

    __tablename__ = "contact_imports"
    __table_args__ = (
        CheckConstraint(
            "status IN ('uploaded', 'queued', 'running', 'done', 'failed')", name="contact_imports_status_valid"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.UPLOADED.value)
    file_name: Mapped[str] = mapped_column(String(255))
    file_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    # How the file was read: the encoding and delimiter found, and its header's cells.
    encoding: Mapped[str] = mapped_column(String(16))
    delimiter: Mapped[str] = mapped_column(String(1))
    header: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # What each column goes to, in the header's order: a contact field, "attribute" or "ignore".
    mapping: Mapped[list[str]] = mapped_column(JSONB, default=list)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    # Rows read and written, committed with the contacts they changed: where a
    # stopped import resumes.
    rows_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Addresses opted out by the file's opt-out column (migration 0013).
    opted_out_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Moved on when it is queued and by every batch written: the reconciler
    # queues again an import whose heartbeat stopped (migration 0013).
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    created_by: Mapped[User | None] = relationship(lazy="joined")

    @property
    def status_label(self) -> str:
        return ImportStatus(self.status).label

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)


class ContactImportChunk(Model):
    """The uploaded file, a slice of IMPORT_CHUNK_BYTES per row, in order."""

    __tablename__ = "contact_import_chunks"

    import_id: Mapped[int] = mapped_column(ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ContactImportFailure(Model):
    """A row that changed nothing, and why; its cells as they were in the file."""

    __tablename__ = "contact_import_failures"

    import_id: Mapped[int] = mapped_column(ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[list[str]] = mapped_column(JSONB, default=list)


class ContactImportMember(Model):
    """A contact an import added or updated (migration 0013): "the contacts of
    import N" is a campaign's audience."""

    __tablename__ = "contact_import_members"

    import_id: Mapped[int] = mapped_column(ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)


class ChangeAction(StrEnum):
    DELETE = "delete"
    SET_ATTRIBUTE = "set_attribute"
    REMOVE_ATTRIBUTE = "remove_attribute"


class ChangeStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ContactChange(Model):
    """One change made to every contact a filter chooses (migration 0018):
    delete them, or add or remove an attribute. Made in batches, each
    committed with ``done_count`` and ``after_id``, so a stopped change
    resumes where it was and changes nothing twice."""

    __tablename__ = "contact_changes"
    __table_args__ = (
        CheckConstraint(
            "action IN ('delete', 'set_attribute', 'remove_attribute')", name="contact_changes_action_valid"
        ),
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="contact_changes_status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    # The filters as the contacts list's URL query (``Filters.args``).
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    attribute_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    attribute_value: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default=ChangeStatus.QUEUED.value, server_default="queued")
    # How many the confirmation counted; the change is made to those the filters choose when it runs.
    expected: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A delete: messages sent to the deleted contacts, kept with their personal fields erased.
    messages_erased: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    after_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    error: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    created_by: Mapped[User | None] = relationship(lazy="joined")

    @property
    def finished(self) -> bool:
        return self.status in (ChangeStatus.DONE, ChangeStatus.FAILED)
