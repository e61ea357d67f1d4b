"""A segment: a named set of contact filters (``app.contacts.filters``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.contacts.filters import Filters
from app.extensions import Model

if TYPE_CHECKING:
    from app.auth.models import User


class Segment(Model):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("name", name="segments_name_unique"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The filters as the contacts list's URL query (``Filters.args``).
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )

    created_by: Mapped[User | None] = relationship(lazy="joined")

    @property
    def contact_filters(self) -> Filters:
        return Filters.from_args(self.filters)
