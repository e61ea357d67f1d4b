"""Campaigns and their recipients."""

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.extensions import Model
from app.messaging.addresses import MAX_ADDRESS
from app.messaging.channels import Channel
from app.messaging.names import MAX_NAME

# The send rate's time constant: it weighs about the last this-many seconds of sending.
RATE_SECONDS = 10.0
# No rate is shown before a campaign has sent for this long: the first
# seconds, before the first answers come back, would read as a slow campaign.
RATE_SETTLE_SECONDS = 3.0


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    # Waits for ``scheduled_at``, when the scheduler starts it (app.campaigns.scheduling).
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Delivery(StrEnum):
    """What the provider's receipt said of a sent message: it reached the phone
    or inbox, or it did not. A recipient without one is unknown (None): its
    status, ``sent``, is what we know."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"

    @property
    def label(self) -> str:
        return {"delivered": "Delivered", "undelivered": "Not delivered"}[self.value]


class RecipientStatus(StrEnum):
    """Where a recipient is: queued, sending, retrying (waiting for its next attempt), sent,
    failed, cancelled, or skipped (never sent: its address opted out of the channel)."""

    QUEUED = "queued"
    SENDING = "sending"
    # A transient failure, waiting for its next attempt at ``next_attempt_at``.
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Never sent: the address opted out of the channel (app.optouts).
    SKIPPED = "skipped"


class ErrorKind(StrEnum):
    """Whether sending again could help: the provider says which with every error."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"


class AttemptOutcome(StrEnum):
    """How one attempt to send ended: sent; transient or permanent (the provider's error, and
    whether sending again could help); lease_expired (the worker stopped before the provider
    answered: sent again, under the same idempotency key)."""

    SENT = "sent"
    # A failed attempt's outcome is its error's kind.
    TRANSIENT = ErrorKind.TRANSIENT.value
    PERMANENT = ErrorKind.PERMANENT.value
    # The worker stopped before the provider answered; the recipient went back
    # to the queue and is sent again under the same idempotency key.
    LEASE_EXPIRED = "lease_expired"

    @property
    def label(self) -> str:
        return {
            "sent": "Sent",
            "transient": "Temporary failure",
            "permanent": "Permanent failure",
            "lease_expired": "Worker stopped",
        }[self.value]


def lit(member: StrEnum) -> str:
    """A status or kind as a SQL string literal, for statements written as text,
    so that every literal in them comes from these enums."""
    return f"'{member.value}'"


def _in(column: str, enum: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(lit(m) for m in enum)})"


@dataclass(frozen=True)
class RecipientState:
    """What a recipient's row shows that changes as it is sent: written by the
    delivery engine, shown by live updates. ``retry_at`` is epoch seconds."""

    id: int
    status: str
    attempts: int
    error: str | None = None
    retry_at: float | None = None
    # What the provider's receipt said (``Delivery``), once one came.
    delivery: str | None = None


class Campaign(Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_in("channel", Channel), name="campaigns_channel_valid"),
        CheckConstraint(_in("status", CampaignStatus), name="campaigns_status_valid"),
        Index("campaigns_newest", "created_at", "id"),
        Index("campaigns_started_per_channel", "channel", "started_at"),
        # The scheduler's "which are due" every pass reads only the scheduled rows.
        Index("campaigns_due", "scheduled_at", postgresql_where=text("status = 'scheduled'")),
        # A send job's look for other campaigns to send (jobs.send), twice a
        # second in every job, reads only the sending rows.
        Index("campaigns_sending", "started_at", "id", postgresql_where=text("status = 'sending'")),
        # The list's "created by" filter (migration 0016); the search's trigram
        # index is on SEARCH, declared there.
        Index("campaigns_created_by", "created_by_id", "created_at"),
    )

    # What the campaign list's search box looks in (a trigram index, migration 0016).
    SEARCH = "(title || ' ' || message)"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    # An email's subject, as typed: a template like the message (migration
    # 0006). None when none was typed: the email goes with the title.
    subject: Mapped[str | None] = mapped_column(Text)
    # An SMS campaign's segments in all, over every recipient's own text:
    # what it costs. None on other channels.
    sms_segments: Mapped[int | None] = mapped_column(BigInteger)
    # What Start estimated it to cost (migration 0007): monthly budgets add these up.
    estimated_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    status: Mapped[str] = mapped_column(
        String(16), default=CampaignStatus.DRAFT, server_default=CampaignStatus.DRAFT.value
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who created it (migration 0016; older campaigns from their history). None:
    # the command line, or someone since removed.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # While ``scheduled``: when the scheduler starts it (migration 0014).
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why the start at its scheduled time was refused (a budget), which put it
    # back to draft; shown on its page until its next change.
    schedule_refusal: Mapped[str | None] = mapped_column(Text)
    # What a campaign made from contacts was sent to (migration 0018): the
    # filters as a URL query and in words, and the segment's id and name when
    # it was one; None for a pasted list. Kept as they were then.
    audience: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Kept in the same transactions that change recipient rows, so a page can
    # show totals for 100,000 recipients without counting them.
    recipient_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sending_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Those of failed_count whose failure was permanent (migration 0020); the
    # rest failed temporarily, out of attempts. Retry failed offers each kind.
    failed_permanent_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retrying_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancelled_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Of sent_count, those whose receipt says delivered, or not (migration 0024).
    delivered_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    undelivered_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why the campaign is paused, when it is: who paused it, or the failure
    # rate that paused it by itself.
    pause_reason: Mapped[str | None] = mapped_column(Text)
    # The outcomes of the last AUTO_PAUSE_WINDOW attempts, oldest first, "1" a
    # failure and "0" a success: auto-pause reads it from the row every loop turn
    # updates anyway, rather than query the attempt log. Resume empties it.
    recent_outcomes: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Bumped by every change to the row (a trigger, migration 0004): live
    # updates carry it, so a page can tell an older one from a newer one.
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The recent send rate (migration 0005): an exponentially weighted count of
    # finished sends a second, with time constant RATE_SECONDS, brought up to
    # date at rate_at by every loop turn; and the seconds spent sending so far.
    # Both count sending time only: pause and resume set rate_at afresh.
    rate: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    rate_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")

    @property
    def channel_label(self) -> str:
        return Channel(self.channel).label

    @property
    def audience_said(self) -> str | None:
        """Who it was sent to, in words, when it was made from contacts."""
        if not self.audience:
            return None
        who = f"contacts {self.audience['said']}" if self.audience.get("said") else "every contact"
        if "segment" in self.audience:
            return f"the segment “{self.audience['segment']}” ({who})"
        return who

    @property
    def done_count(self) -> int:
        return self.sent_count + self.failed_count + self.cancelled_count + self.skipped_count

    @property
    def failed_transient_count(self) -> int:
        return self.failed_count - self.failed_permanent_count

    @property
    def queued_count(self) -> int:
        return self.recipient_count - self.sending_count - self.retrying_count - self.done_count

    @property
    def owed_count(self) -> int:
        """Recipients a dispatch job still has to send: queued or waiting for a retry."""
        return self.queued_count + self.retrying_count

    def count_for(self, status: str | None) -> int:
        """How many recipients have ``status`` (None: all), from the counters."""
        counts: dict[str | None, int] = {
            None: self.recipient_count,
            RecipientStatus.QUEUED: self.queued_count,
            RecipientStatus.SENDING: self.sending_count,
            RecipientStatus.RETRYING: self.retrying_count,
            RecipientStatus.SENT: self.sent_count,
            RecipientStatus.FAILED: self.failed_count,
            RecipientStatus.CANCELLED: self.cancelled_count,
            RecipientStatus.SKIPPED: self.skipped_count,
        }
        return counts[status]

    def send_rate(self, now: datetime | None = None) -> float | None:
        """Recipients finished a second recently, over sending time only; None
        until there is enough to say (RATE_SETTLE_SECONDS of sending, and some done).

        The weighted count decays while the campaign sends and nothing
        finishes, and is divided by how much of its window has passed, so the
        first seconds are not read as a slow campaign.
        """
        if self.rate_at is None or self.active_seconds < RATE_SETTLE_SECONDS or not self.done_count:
            return None
        idle = max(((now or utcnow()) - self.rate_at).total_seconds(), 0.0) if self.status == "sending" else 0.0
        active = self.active_seconds + idle
        rate = self.rate * math.exp(-idle / RATE_SECONDS) / (1 - math.exp(-active / RATE_SECONDS))
        return rate if rate > 0 else None

    def seconds_left(self, now: datetime | None = None) -> float | None:
        rate = self.send_rate(now)
        if rate is None:
            return None
        return (self.recipient_count - self.done_count) / rate

    def seconds_sending(self, now: datetime | None = None) -> float:
        """Since Start, as the clock goes (paused time included): how long it has waited, say."""
        return ((now or utcnow()) - self.started_at).total_seconds() if self.started_at else 0.0

    @property
    def email_subject(self) -> str | None:
        """The subject its emails go with, before placeholders are filled in."""
        return (self.subject or self.title) if self.channel == Channel.EMAIL else None

    @property
    def finishing(self) -> bool:
        """Nothing is left to start or retry: only sends in flight remain."""
        return self.owed_count == 0 and self.sending_count > 0


class Recipient(Model):
    __tablename__ = "recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "address_normalized", name="recipients_one_per_address"),
        CheckConstraint(_in("status", RecipientStatus), name="recipients_status_valid"),
        CheckConstraint(_in("delivery", Delivery), name="recipients_delivery_valid"),
        # Serves "recipients of campaign X with status Y, in order", the
        # dispatcher's claim query and the filtered pages alike.
        Index("recipients_campaign_status_id", "campaign_id", "status", "id"),
        # Serves the unfiltered page in paste order.
        Index("recipients_campaign_id", "campaign_id", "id"),
        # A contact's messages across campaigns.
        Index("recipients_contact", "contact_id", "id", postgresql_where=text("contact_id IS NOT NULL")),
        # The search box's trigram index is on SEARCH (migration 0016).
        # No index on lease_expires_at or next_attempt_at: the reconciler looks
        # only among a campaign's few sending or retrying rows, through the
        # index above, and every claim would pay for one.
    )

    # What the campaign page's search box looks in: the name, the address as
    # typed and as normalised, and the recipient's own text (migration 0016).
    SEARCH = "(name || ' ' || address || ' ' || address_normalized || ' ' || coalesce(rendered_content, ''))"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(MAX_NAME), default="", server_default="")
    address: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    address_normalized: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    status: Mapped[str] = mapped_column(
        String(16), default=RecipientStatus.QUEUED, server_default=RecipientStatus.QUEUED.value
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_kind: Mapped[str | None] = mapped_column(String(16))
    # While ``sending``: when the claim runs out. A worker that dies leaves it
    # to expire, and the reconciler puts the recipient back in the queue.
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempt_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # While ``retrying``: when the next attempt is due.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Attempts allowed before a transient failure is final; None is
    # RETRY_MAX_ATTEMPTS. Retry failed raises it by that much again.
    attempt_limit: Mapped[int | None] = mapped_column(Integer)
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    # What the provider's latest receipt for that message said (``Delivery``),
    # when it says it happened, and why when undelivered (migration 0024).
    delivery: Mapped[str | None] = mapped_column(String(16))
    delivery_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    # This recipient's text and subject, rendered from the campaign's templates
    # when the recipient was stored; None when the template has no placeholder
    # (the campaign's own text is sent). See ``content``.
    rendered_content: Mapped[str | None] = mapped_column(Text)
    rendered_subject: Mapped[str | None] = mapped_column(Text)
    # The contact this recipient is (migration 0009): a pasted line becomes or
    # updates one. None once the contact is deleted.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.id)

    def content(self, campaign: "Campaign") -> str:
        """The text this recipient is sent."""
        return own_text(self.rendered_content, campaign)

    def subject(self, campaign: "Campaign") -> str | None:
        """The subject this recipient's email goes with; None on other channels."""
        return self.rendered_subject if self.rendered_subject is not None else campaign.email_subject


def own_text(rendered_content: str | None, campaign: Campaign) -> str:
    """The text a recipient with this ``rendered_content`` is sent: their own,
    or the campaign's when its template has no placeholder."""
    return rendered_content if rendered_content is not None else campaign.message


def idempotency_key(recipient_id: int) -> str:
    """The key every send to this recipient carries, whichever attempt: a
    provider that accepted it once answers a repeat with the same message."""
    return f"recipient-{recipient_id}"


class DeliveryAttempt(Model):
    """One provider call for a recipient, or one that a dying worker left unanswered."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (
        CheckConstraint(_in("outcome", AttemptOutcome), name="delivery_attempts_outcome_valid"),
        Index("delivery_attempts_recipient", "recipient_id", "id"),
        # The last hour's calls (campaigns.outcomes); BRIN, as rows come in time order.
        Index(
            "delivery_attempts_finished_brin",
            "finished_at",
            postgresql_using="brin",
            postgresql_with={"autosummarize": "on"},
        ),
        # No foreign keys: checking each costs about a millisecond per hundred
        # rows on the hottest path. Rows are written only by the statements
        # that change the recipient they name, and campaigns are never deleted.
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    recipient_id: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(64))

    @property
    def outcome_label(self) -> str:
        return AttemptOutcome(self.outcome).label


class HourlyOutcome(Model):
    """How many recipients' outcomes were recorded in an hour, by channel,
    status and error code: the dashboard's days in any whole-hour time zone,
    read from a few thousand rows rather than the recipients. Kept by
    ``app.campaigns.rollup`` in the transaction that records the outcomes."""

    __tablename__ = "hourly_outcomes"

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    error_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    messages: Mapped[int] = mapped_column(BigInteger)


class CampaignSecond(Model):
    """How many of a campaign's outcomes were recorded in one second, by status
    and error code: its charts over its life, kept as ``HourlyOutcome`` is."""

    __tablename__ = "campaign_seconds"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    second: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    error_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    messages: Mapped[int] = mapped_column(Integer)


class ProviderReceipt(Model):
    """A delivery receipt accepted from the provider and not yet applied: kept
    from the moment it is accepted until its recipient's message is recorded
    and the receipt applied to it (``app.campaigns.receipts``), then deleted."""

    __tablename__ = "provider_receipts"
    __table_args__ = (
        UniqueConstraint("message_id", "state", "reported_at", name="provider_receipts_once"),
        CheckConstraint(_in("state", Delivery), name="provider_receipts_state_valid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The recipient the message was sent for: the reference (our idempotency
    # key) the provider echoes with each receipt. The message id must match too.
    recipient_id: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
