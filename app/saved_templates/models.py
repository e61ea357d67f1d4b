"""Saved templates: named messages per channel, which a campaign can start from."""

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import Model
from app.messaging.channels import Channel


class SavedTemplate(Model):
    __tablename__ = "saved_templates"
    __table_args__ = (
        UniqueConstraint("channel", "name", name="saved_templates_one_name_per_channel"),
        CheckConstraint(
            "channel IN (" + ", ".join(f"'{c.value}'" for c in Channel) + ")", name="saved_templates_channel_valid"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    # An email's subject (a template too); None when none was saved.
    subject: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def channel_label(self) -> str:
        return Channel(self.channel).label
