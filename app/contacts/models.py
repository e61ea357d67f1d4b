"""Contacts: the people campaigns are sent to (the services' "customers")."""

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import Model


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
    first_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    location: Mapped[str] = mapped_column(String(100), default="", server_default="")
    preferred_product: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # Custom attributes: string values, by key ({attributes.KEY} in a template).
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def label(self) -> str:
        return self.name or self.phone or self.email or f"Contact {self.id}"

    # The search expression contacts_search indexes (migration 0009).
    SEARCH = "(first_name || ' ' || last_name || ' ' || coalesce(phone, '') || ' ' || coalesce(email, ''))"
