"""Endpoints, the outbox of deliveries (one row per event and endpoint), and
each delivery's attempts.

The outbox row is the promise: written in the transaction of the change it
tells of, it is sent at least once, with the same ``webhook-id`` every time,
however often a worker dies on the way (``app.hooks.delivery``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.extensions import Model

if TYPE_CHECKING:
    from app.auth.models import User

MAX_URL = 2000
MAX_DESCRIPTION = 200


class Event(StrEnum):
    """What an endpoint may subscribe to; ``type`` in each payload."""

    CAMPAIGN_SCHEDULED = "campaign.scheduled"
    CAMPAIGN_STARTED = "campaign.started"
    CAMPAIGN_PAUSED = "campaign.paused"
    CAMPAIGN_AUTO_PAUSED = "campaign.auto_paused"
    CAMPAIGN_RESUMED = "campaign.resumed"
    CAMPAIGN_CANCELLED = "campaign.cancelled"
    CAMPAIGN_COMPLETED = "campaign.completed"
    IMPORT_FINISHED = "import.finished"

    @property
    def label(self) -> str:
        return {
            "campaign.scheduled": "Campaign scheduled (or rescheduled)",
            "campaign.started": "Campaign started (by someone, or at its scheduled time)",
            "campaign.paused": "Campaign paused by someone",
            "campaign.auto_paused": "Campaign paused itself (too many failures)",
            "campaign.resumed": "Campaign resumed",
            "campaign.cancelled": "Campaign cancelled",
            "campaign.completed": "Campaign completed",
            "import.finished": "Contacts import finished",
        }[self.value]


# Sent by "Send test event" only; no endpoint subscribes to it.
TEST_EVENT = "webhook.test"


class DeliveryStatus(StrEnum):
    # Waiting for its next try (next_attempt_at), or being tried now (until then).
    PENDING = "pending"
    DELIVERED = "delivered"
    # Every try failed for WEBHOOK_RETRY_FOR_SECONDS; Resend tries again.
    GAVE_UP = "gave_up"

    @property
    def label(self) -> str:
        return {"pending": "Pending", "delivered": "Delivered", "gave_up": "Given up"}[self.value]


class WebhookEndpoint(Model):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(MAX_URL))
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION), default="", server_default="")
    # ``whsec_`` and base64 of 32 random bytes: needed to sign, so kept as it
    # is (the app has no key to encrypt it with that the database would not
    # sit beside); shown once, at registration.
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    # A paused endpoint gets no new deliveries; those already in its outbox still go.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    created_by: Mapped[User | None] = relationship(lazy="joined")


class WebhookDelivery(Model):
    """One event for one endpoint: the outbox row, and where its sending stands."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The drain's claim: the pending rows in order of their next try.
        Index("webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        # An endpoint's delivery log, newest first.
        Index("webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    # ``webhook-id``: the same on every try and on Resend, so receivers can drop a repeat.
    message_id: Mapped[str] = mapped_column(String(40))
    # The body's JSON as it was when the change committed.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Pending: when it is next tried; while a drain holds it, when its claim
    # lapses (a drain that died leaves it due again then). Null once done.
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    # Retries stop WEBHOOK_RETRY_FOR_SECONDS after this: the event, or the last Resend.
    retrying_since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def status_label(self) -> str:
        return DeliveryStatus(self.status).label


class WebhookAttempt(Model):
    """One POST of a delivery, with what came of it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("webhook_attempts_delivery", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    ok: Mapped[bool] = mapped_column(Boolean)
    # None when no answer came (refused address, timeout, connection failure).
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    milliseconds: Mapped[int] = mapped_column(Integer, default=0)
    # The start of the answer's body, as far as it was read.
    response: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The try this one's failure set (None: delivered, or given up).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
