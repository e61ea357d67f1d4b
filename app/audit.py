"""Who did what, and when: a campaign's history and the record of staff changes.

Rows are written in the same transaction as the change they describe, so the
history never shows something that did not happen, or misses something that did.
An entry that is a webhook event (a campaign started, an import finished) also
puts its deliveries in the webhooks' outbox, in that same transaction
(``app.hooks.outbox``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.extensions import Model, db
from app.formatting import when
from app.hooks import outbox

if TYPE_CHECKING:
    from app.auth.models import User


class Action(StrEnum):
    """What a history entry records; a campaign's history has the campaign.* ones."""

    CAMPAIGN_CREATED = "campaign.created"
    CAMPAIGN_STARTED = "campaign.started"
    CAMPAIGN_SCHEDULED = "campaign.scheduled"
    CAMPAIGN_RESCHEDULED = "campaign.rescheduled"
    CAMPAIGN_UNSCHEDULED = "campaign.unscheduled"
    # Its scheduled time came and Start refused it (a budget): a draft again.
    CAMPAIGN_START_REFUSED = "campaign.start_refused"
    CAMPAIGN_PAUSED = "campaign.paused"
    CAMPAIGN_RESUMED = "campaign.resumed"
    CAMPAIGN_CANCELLED = "campaign.cancelled"
    CAMPAIGN_RETRIED = "campaign.retried"
    CAMPAIGN_RECOVERED = "campaign.recovered"
    CAMPAIGN_COMPLETED = "campaign.completed"
    CAMPAIGN_EDITED = "campaign.edited"
    CAMPAIGN_DELETED = "campaign.deleted"
    # "Send a test to me": the provider's answer, by the person who asked (app.campaigns.test_sends).
    CAMPAIGN_TEST_SENT = "campaign.test_sent"
    CAMPAIGN_TEST_FAILED = "campaign.test_failed"
    # A CSV download of a campaign's recipients (app.campaigns.exports): which, and how many rows.
    CAMPAIGN_EXPORTED = "campaign.exported"
    USER_CREATED = "user.created"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    USER_PASSWORD_SET = "user.password_set"
    TEMPLATE_SAVED = "template.saved"
    TEMPLATE_CHANGED = "template.changed"
    TEMPLATE_DELETED = "template.deleted"
    CONTACT_ADDED = "contact.added"
    CONTACT_CHANGED = "contact.changed"
    CONTACT_DELETED = "contact.deleted"
    # One event for a whole CSV import (who, which file, the counts), not one per contact.
    CONTACTS_IMPORTED = "contacts.imported"
    # One event for a change made to every contact a filter chose (its count and the filters).
    CONTACTS_DELETED = "contacts.deleted"
    CONTACTS_ATTRIBUTE_SET = "contacts.attribute_set"
    CONTACTS_ATTRIBUTE_REMOVED = "contacts.attribute_removed"
    # A CSV download of the contacts a search chose (app.contacts.exports): which, and how many rows.
    CONTACTS_EXPORTED = "contacts.exported"
    SEGMENT_SAVED = "segment.saved"
    SEGMENT_RENAMED = "segment.renamed"
    SEGMENT_DELETED = "segment.deleted"
    OPT_OUT_ADDED = "opt_out.added"
    OPT_OUT_REMOVED = "opt_out.removed"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    # One event when a new password, signing out everywhere or deactivation
    # revokes all of a person's tokens; its detail says how many and why.
    TOKENS_REVOKED_ALL = "token.revoked_all"
    # Webhook endpoints (app.hooks): the detail names the URL.
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_PAUSED = "webhook.paused"
    WEBHOOK_RESUMED = "webhook.resumed"
    WEBHOOK_DELETED = "webhook.deleted"

    @property
    def label(self) -> str:
        return {
            "campaign.created": "Created the campaign",
            "campaign.started": "Started dispatch",
            "campaign.scheduled": "Scheduled",
            "campaign.rescheduled": "Rescheduled",
            "campaign.unscheduled": "Unscheduled (back to draft)",
            "campaign.start_refused": "Did not start at its scheduled time",
            "campaign.paused": "Paused",
            "campaign.resumed": "Resumed",
            "campaign.cancelled": "Cancelled",
            "campaign.retried": "Queued failed recipients again",
            "campaign.recovered": "Recovered",
            "campaign.completed": "Completed",
            "campaign.edited": "Edited the draft",
            "campaign.deleted": "Deleted the draft",
            "campaign.test_sent": "Test message sent",
            "campaign.test_failed": "Test message not sent",
            "campaign.exported": "Exported recipients (CSV)",
            "user.created": "Created the account",
            "user.role_changed": "Changed the role",
            "user.deactivated": "Deactivated the account",
            "user.reactivated": "Reactivated the account",
            "user.password_set": "Set a new password",
            "template.saved": "Saved the template",
            "template.changed": "Changed the template",
            "template.deleted": "Deleted the template",
            "contact.added": "Added the contact",
            "contact.changed": "Changed the contact",
            "contact.deleted": "Deleted the contact",
            "contacts.imported": "Imported contacts",
            "contacts.deleted": "Deleted contacts",
            "contacts.attribute_set": "Set an attribute of contacts",
            "contacts.attribute_removed": "Removed an attribute of contacts",
            "contacts.exported": "Exported contacts (CSV)",
            "segment.saved": "Saved the segment",
            "segment.renamed": "Renamed the segment",
            "segment.deleted": "Deleted the segment",
            "opt_out.added": "Opted out",
            "opt_out.removed": "Opted back in",
            "token.created": "Created an API token",
            "token.revoked": "Revoked an API token",
            "token.revoked_all": "Revoked every API token",
            "webhook.created": "Added a webhook endpoint",
            "webhook.paused": "Paused a webhook endpoint",
            "webhook.resumed": "Resumed a webhook endpoint",
            "webhook.deleted": "Deleted a webhook endpoint",
        }[self.value]


class Via(StrEnum):
    """Where a change came from: web (a page), cli (the command line), api (a program with
    someone's token), dispatcher (the send jobs), scheduler (a campaign started at its time, or
    cancelled or put back to draft then) or inbound (a person's own reply, opting out or back in)."""

    WEB = "web"
    COMMAND_LINE = "cli"
    DISPATCHER = "dispatcher"
    # The scheduler process, starting a campaign at its time (jobs.scheduler).
    SCHEDULER = "scheduler"
    # A reply from the person themselves (POST /webhooks/inbound).
    INBOUND = "inbound"
    # A program calling /api/v1 with someone's token; the token's person is the actor.
    API = "api"

    @property
    def label(self) -> str:
        return {
            "web": "on the web",
            "cli": "from the command line",
            "dispatcher": "by the dispatcher",
            "scheduler": "by the scheduler",
            "inbound": "by their reply",
            "api": "via API",
        }[self.value]


class AuditEvent(Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("audit_events_campaign", "campaign_id", "id"),
        Index("audit_events_subject_user", "subject_user_id", "id"),
        Index("audit_events_contact", "contact_id", "id", postgresql_where=text("contact_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    action: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(String(16), default=Via.WEB)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The contact changed (migration 0009); no foreign key, so the history of a
    # deleted contact stays.
    contact_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The time the detail speaks of ("to start at …", migration 0020), kept as
    # an instant so each reader reads it in their own zone (``detail_in``).
    about_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="joined")
    subject_user: Mapped[User | None] = relationship(foreign_keys=[subject_user_id], lazy="joined")

    @property
    def action_label(self) -> str:
        return Action(self.action).label

    def detail_in(self, zone: tzinfo) -> str:
        """The detail as ``zone`` reads it: ``to start at 15 Jan 2030, 10:00 EAT``."""
        if self.about_at is None:
            return self.detail
        return f"{self.detail} {when(self.about_at, zone)}".strip()

    @property
    def actor_label(self) -> str:
        if self.actor is not None:
            # A change a program made with someone's token says so.
            return f"{self.actor.email} {Via.API.label}" if self.via == Via.API else self.actor.email
        return {
            "cli": "the command line",
            "dispatcher": "the dispatcher",
            "scheduler": "the scheduler",
            "api": "the API",
            "inbound": "their reply",
        }.get(self.via, "someone")


def record(
    action: Action,
    *,
    actor: User | None = None,
    via: Via = Via.WEB,
    campaign_id: int | None = None,
    subject_user_id: int | None = None,
    contact_id: int | None = None,
    detail: str = "",
    about_at: datetime | None = None,
    webhook_data: Mapping[str, Any] | None = None,
) -> None:
    """One event; ``about_at``, a time the detail speaks of, is shown after it
    in each reader's zone: ``detail="to start at", about_at=at``.
    ``webhook_data``: what a webhook of the event carries besides the campaign,
    the actor and the detail (an import's id and counts)."""
    outbox.add(
        action.value,
        via=via.value,
        actor=actor.email if actor is not None else None,
        campaign_id=campaign_id,
        detail=detail,
        about_at=about_at,
        data=webhook_data,
    )
    db.session.add(
        AuditEvent(
            action=action.value,
            actor_id=actor.id if actor is not None else None,
            via=via.value,
            campaign_id=campaign_id,
            subject_user_id=subject_user_id,
            contact_id=contact_id,
            detail=detail,
            about_at=about_at,
        )
    )


def record_each_row(rows: str, *, action: str, contact_id: str, detail: str) -> str:
    """SQL recording one event for each row of ``rows`` (a CTE earlier in the
    same statement), as ``record`` records one: ``action``, ``contact_id`` and
    ``detail`` are SQL expressions over its columns, and the statement binds
    ``each_row_params``. A bulk change (a paste adding or renaming thousands
    of contacts) writes its history in the statement that makes it: a second
    statement carrying every row's id back and forth costs it a tenth more."""
    return (
        "INSERT INTO audit_events (action, actor_id, via, contact_id, detail, at) "
        f"SELECT {action}, :audit_actor, :audit_via, {contact_id}, {detail}, now() FROM {rows}"
    )


def each_row_params(actor: User | None, via: Via) -> dict[str, object]:
    """The parameters ``record_each_row`` binds: who made the change, and through what."""
    return {"audit_actor": actor.id if actor is not None else None, "audit_via": via.value}


def campaign_history(campaign_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.campaign_id == campaign_id).order_by(AuditEvent.id))
    )


def staff_changes(limit: int = 50) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_user_id.is_not(None))
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )


def changes_of(kind: str, limit: int = 50) -> list[AuditEvent]:
    """The latest changes of one kind of thing (``template``, ``opt_out``), newest first."""
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like(f"{kind}.%")).order_by(AuditEvent.id.desc()).limit(limit)
        )
    )


def contact_history(contact_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.contact_id == contact_id).order_by(AuditEvent.id))
    )
