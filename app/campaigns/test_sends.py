"""Sending a campaign's message to oneself before Start ("Send a test to me").

A test is the message as the campaign's first recipient would get it (their
text, and subject for email), sent to the person's own test phone or email
(set on /account) by a job (``jobs.test_send``) through the path every send
takes: a job on the queue, the provider call with the channel's rate limit
schedule, and an idempotency key of its own. It is never a recipient, and
never counted in the campaign's counts, its cost or a budget; the history
says it was a test, to whom and by whom. Of the campaign row only its
version moves, so that open pages show the test.

A person may send at most TEST_SEND_LIMIT tests ("5 per minute; 30 per day"),
counted here from the table itself, so every web process shares the count.
None of these functions commits: the caller does, then enqueues.
"""

from datetime import datetime
from enum import StrEnum

from flask import current_app
from limits import parse_many
from sqlalchemy import DateTime, ForeignKey, Index, String, Text, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from app import audit
from app.audit import Action
from app.auth.models import User
from app.campaigns import transitions
from app.campaigns.models import Campaign, Recipient
from app.campaigns.transitions import Change
from app.clock import utcnow
from app.extensions import Model, db
from app.formatting import duration, plural
from app.messaging.addresses import MAX_ADDRESS
from app.messaging.channels import Channel

# A module of the app, not of tests, whatever its name says.
__test__ = False


class TestSendStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class TestSend(Model):
    __tablename__ = "test_sends"
    __table_args__ = (
        Index("test_sends_person", "user_id", "created_at"),
        Index("test_sends_campaign", "campaign_id", "user_id", "id"),
    )
    __test__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # Who asked for it, and got it; None once their account is gone.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    content: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=TestSendStatus.PENDING)
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    # The provider's answer when it was not sent.
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def idempotency_key(self) -> str:
        """Its own, never a recipient's: a test is delivered once, and never in a recipient's place."""
        return f"test-send-{self.id}"


class Refused(Exception):
    """Why a test was not sent, in words for the person who asked."""


def address_for(user: User, channel: str) -> str | None:
    """Where a test of a campaign on ``channel`` goes: the person's test phone or email."""
    return user.test_phone if Channel(channel).uses_phone else user.test_email


def where_to_set(channel: str) -> str:
    """What the person has to set on their account page for a test on ``channel``."""
    return "test phone number" if Channel(channel).uses_phone else "test email address"


# pg_advisory_xact_lock(TEST_SEND_LOCK, user_id): one person's tests are counted one at a time.
TEST_SEND_LOCK = 7302


def request(campaign: Campaign, user: User) -> TestSend:
    """A test of the campaign's message to ``user``'s own address, to be sent by
    a job once committed; raises Refused when it may not be sent now."""
    if not transitions.may(campaign, Change.SEND_TEST):
        raise Refused(transitions.refused(Change.SEND_TEST, campaign.status))
    address = address_for(user, campaign.channel)
    if not address:
        raise Refused(f"You have no {where_to_set(campaign.channel)} yet: set one on your account page first.")
    first = db.session.scalars(
        select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id).limit(1)
    ).first()
    if first is None:
        raise Refused("This campaign has no recipients yet: a test is the message as its first recipient would get it.")
    db.session.execute(text("SELECT pg_advisory_xact_lock(:lock, :id)"), {"lock": TEST_SEND_LOCK, "id": user.id})
    if (over := over_limit(user)) is not None:
        raise Refused(over)
    test = TestSend(
        campaign_id=campaign.id,
        user_id=user.id,
        channel=campaign.channel,
        address=address,
        content=first.content(campaign),
        subject=first.subject(campaign),
    )
    db.session.add(test)
    db.session.flush()
    _show(campaign.id)
    return test


def _show(campaign_id: int) -> None:
    """Move the campaign row's version (and nothing else of it), so that open
    pages take the reload that shows the test: a page drops a reload rendered
    from a row no newer than its own."""
    db.session.execute(text("UPDATE campaigns SET version = version WHERE id = :id"), {"id": campaign_id})


def over_limit(user: User) -> str | None:
    """Why the person may send no more tests for now, if TEST_SEND_LIMIT says so."""
    setting = current_app.config["TEST_SEND_LIMIT"]
    for limit in parse_many(setting):
        window = limit.get_expiry()
        sent, oldest = db.session.execute(
            select(func.count(), func.min(TestSend.created_at)).where(
                TestSend.user_id == user.id,
                TestSend.created_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, window),
            )
        ).one()
        if sent >= limit.amount:
            wait = max((oldest - utcnow()).total_seconds() + window, 1)
            return (
                f"You have sent yourself {plural(sent, 'test')} in the last {_period(window)}, "
                f"the most allowed ({setting}). Try again in {duration(wait)}."
            )
    return None


def _period(seconds: int) -> str:
    named = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
    return named.get(seconds) or duration(seconds)


def latest(campaign_id: int, user: User) -> TestSend | None:
    """The person's last test of the campaign, to show beside the button."""
    return db.session.scalars(
        select(TestSend)
        .where(TestSend.campaign_id == campaign_id, TestSend.user_id == user.id)
        .order_by(TestSend.id.desc())
        .limit(1)
    ).first()


def pending(test_id: int) -> TestSend | None:
    """The test, if it still waits for its provider call."""
    test = db.session.get(TestSend, test_id)
    return test if test is not None and test.status == TestSendStatus.PENDING else None


def record(test_id: int, message_id: str | None = None, error: str | None = None) -> TestSend | None:
    """The provider's answer: sent (``message_id``) or not (``error``), in the
    test's row and in its campaign's history, said by the person who asked.
    Only once: a test already answered is left as it is (None)."""
    test = db.session.scalars(
        select(TestSend).where(TestSend.id == test_id, TestSend.status == TestSendStatus.PENDING).with_for_update()
    ).first()
    if test is None:
        return None
    test.status = TestSendStatus.FAILED if error is not None else TestSendStatus.SENT
    test.provider_message_id, test.error, test.finished_at = message_id, error, utcnow()
    person = db.session.get(User, test.user_id) if test.user_id is not None else None
    if error is None:
        audit.record(Action.CAMPAIGN_TEST_SENT, actor=person, campaign_id=test.campaign_id, detail=f"to {test.address}")
    else:
        detail = f"to {test.address}: {error}"
        audit.record(Action.CAMPAIGN_TEST_FAILED, actor=person, campaign_id=test.campaign_id, detail=detail)
    _show(test.campaign_id)
    return test
