"""The opt-out list: a channel never sends to these addresses again."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.extensions import Model

if TYPE_CHECKING:
    from app.auth.models import User


class Source(StrEnum):
    """Who put an address on the list."""

    STAFF = "staff"
    IMPORT = "import"
    # The provider answered a send with its permanent ``opted_out`` error.
    PROVIDER = "provider"
    # The person replied STOP (POST /webhooks/inbound).
    REPLY = "reply"

    @property
    def label(self) -> str:
        return {
            "staff": "Added by staff",
            "import": "From a contacts import",
            "provider": "The provider said they opted out",
            "reply": "They replied to opt out",
        }[self.value]


class OptOut(Model):
    __tablename__ = "opt_outs"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'whatsapp', 'email')", name="opt_outs_channel_valid"),
        CheckConstraint("source IN ('staff', 'import', 'provider', 'reply')", name="opt_outs_source_valid"),
        # Serves the check at claim time: one index probe per claimed recipient.
        UniqueConstraint("channel", "address", name="opt_outs_one_per_address"),
        Index("opt_outs_newest", "created_at", "id"),
        # opt_outs_search, a trigram index on address: migration 0011.
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320))  # normalised: E.164 or lower-case email
    source: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The campaign whose send the provider refused, for Source.PROVIDER.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())

    created_by: Mapped[User | None] = relationship(lazy="joined")

    @property
    def source_label(self) -> str:
        return Source(self.source).label

    @property
    def added_by(self) -> str:
        if self.created_by is not None:
            return self.created_by.email
        return {"provider": "the provider", "reply": "their reply", "import": "an import"}.get(self.source, "someone")
