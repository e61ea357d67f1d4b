"""A campaign before it is started: created with its recipients, edited, or deleted.

Editing and deleting are guarded like every other change (``lifecycle``): the
draft's row is locked first and must still be a draft, so a Start racing an
edit either comes first (and the edit is refused) or waits for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from app import audit
from app.audit import Action, Via
from app.campaigns import lifecycle
from app.campaigns.models import Campaign
from app.campaigns.parsing import ParsedRecipient
from app.campaigns.transitions import Change
from app.contacts import book, pasted
from app.extensions import db
from app.formatting import number, plural
from app.messaging import length, placeholders
from app.messaging.channels import Channel

if TYPE_CHECKING:
    from app.auth.models import User

INSERT_CHUNK = 10_000


def create_campaign(
    title: str,
    channel: str,
    message: str,
    recipients: list[ParsedRecipient],
    *,
    created_by: User | None,
    via: Via = Via.WEB,
    subject: str | None = None,
    from_contacts: bool = False,
    audience: dict[str, Any] | None = None,
) -> Campaign:
    """A draft campaign and its recipients, each with its text rendered,
    recorded in its history; the caller commits. The templates' placeholders
    must be known (``placeholders.unknown``): forms check that first.
    ``audience``: what recipients chosen from contacts were chosen by (``Campaign.audience``)."""
    subject = subject if channel == Channel.EMAIL else None
    campaign = Campaign(
        title=title,
        channel=channel,
        message=message,
        subject=subject,
        recipient_count=len(recipients),
        created_by_id=created_by.id if created_by is not None else None,
        audience=audience,
    )
    db.session.add(campaign)
    db.session.flush()
    report = insert_recipients(
        campaign.id, recipients, Templates(channel, message, subject), created_by, from_contacts, via
    )
    campaign.sms_segments = report.segments if channel == Channel.SMS else None
    audit.record(
        Action.CAMPAIGN_CREATED,
        actor=created_by,
        via=via,
        campaign_id=campaign.id,
        detail=plural(len(recipients), "recipient") + (f", sent to {campaign.audience_said}" if audience else ""),
    )
    return campaign


class Templates:
    """A campaign's message and subject, rendered for each pasted recipient;
    None where a template is the same for everyone."""

    def __init__(self, channel: str, message: str, subject: str | None) -> None:
        self.channel = channel
        self.contact_field = Channel(channel).contact_field
        self.literal = message
        self.message = message if placeholders.is_personal(message) else None
        self.subject = subject if subject and placeholders.is_personal(subject) else None

    @property
    def personal(self) -> bool:
        return self.message is not None or self.subject is not None

    def render(
        self, recipient: ParsedRecipient, values: placeholders.Values | None = None
    ) -> tuple[str | None, str | None]:
        """The recipient's text and subject, from ``values`` (its contact's), or
        else from its pasted line alone."""
        if not self.personal:
            return None, None
        if values is None:
            values = placeholders.from_paste(recipient.name, recipient.address_normalized, Channel(self.channel))
        return (
            None if self.message is None else placeholders.render(self.message, values),
            None if self.subject is None else placeholders.render(self.subject, values),
        )

    def lengths(
        self, recipients: list[ParsedRecipient], sms_max_segments: int, from_contacts: bool = False
    ) -> length.Report:
        """How long each recipient's message is, and which are too long for the channel."""
        report = length.Report(self.channel, sms_max_segments)
        if self.message is None:
            if recipients:
                report.add(length.measure(self.literal, self.channel), len(recipients), recipients[0].line)
            return report
        for recipient, values in zip(recipients, values_for(self.channel, recipients, from_contacts), strict=True):
            content, _ = self.render(recipient, values)
            report.add(length.measure(content or "", self.channel), where=recipient.line)
        return report


def too_long(
    channel: str,
    message: str,
    subject: str | None,
    recipients: list[ParsedRecipient],
    *,
    sms_max_segments: int,
    from_contacts: bool = False,
) -> str | None:
    """Why some of these recipients' messages (each rendered as it will be
    stored) do not fit the channel, as the form says it; None when all fit."""
    templates = Templates(channel, message, subject)
    report = templates.lengths(recipients, sms_max_segments, from_contacts)
    if not report.too_long:
        return None
    if templates.message is None:  # the same text for everyone
        return f"The message is too long: {report.too_long[0][1]}. Shorten it; nothing is cut off."
    lines = "; ".join(f"line {line}: {why}" for line, why in report.too_long)
    more = report.too_long_count - len(report.too_long)
    return (
        f"Too long for {plural(report.too_long_count, 'recipient')} ({lines}"
        f"{f'; and {more:,} more' if more else ''}). Shorten the message; nothing is cut off."
    )


def values_for(
    channel: str, recipients: list[ParsedRecipient], from_contacts: bool = False
) -> list[placeholders.Values]:
    """Each pasted line's values as they will be once it is stored
    (``pasted.values_after``); recipients chosen ``from_contacts`` are their
    contacts as they are."""
    found: list[placeholders.Values] = []
    for start in range(0, len(recipients), INSERT_CHUNK):
        lines = [(r.name, r.address_normalized) for r in recipients[start : start + INSERT_CHUNK]]
        found += pasted.values_after(channel, lines, renaming=not from_contacts)
    return found


def insert_recipients(
    campaign_id: int,
    recipients: list[ParsedRecipient],
    templates: Templates,
    actor: User | None,
    from_contacts: bool = False,
    via: Via = Via.WEB,
) -> length.Report:
    """Store the recipients with their own texts, each pasted line becoming or
    updating a contact (by phone, or by email on an email campaign; a name on
    the line replaces the contact's; recipients chosen ``from_contacts`` are
    contacts already); returns how long the texts are.

    Each contact the paste adds or changes has it in its history, by ``actor``;
    one whose name the line does not change is left alone.

    Rows are inserted in paste order, so ids follow it (pages and claims go by
    id): the contact is a scalar subquery, not a join, which could reorder them.

    Bulk statements, a chunk of rows each as arrays unnested by PostgreSQL:
    several times faster than one VALUES tuple per row, and unlike COPY they
    work under gevent (psycopg2 refuses COPY with psycogreen's wait callback).
    """
    key = templates.contact_field
    statement = text(
        f"""
        INSERT INTO recipients (
            campaign_id, line, name, address, address_normalized, rendered_content, rendered_subject, contact_id
        )
        SELECT :campaign_id, r.*, (SELECT c.id FROM contacts AS c WHERE c.{key} = r.normalized) FROM unnest(
            CAST(:lines AS integer[]), CAST(:names AS text[]),
            CAST(:addresses AS text[]), CAST(:normalized AS text[]),
            CAST(:contents AS text[]), CAST(:subjects AS text[])
        ) AS r(line, name, address, normalized, content, subject)
        """
    )
    report = length.Report(templates.channel, sms_max_segments=None)
    if templates.message is None and recipients:
        report.add(length.measure(templates.literal, templates.channel), len(recipients))
    for start in range(0, len(recipients), INSERT_CHUNK):
        chunk = recipients[start : start + INSERT_CHUNK]
        if not from_contacts:
            lines = [(r.name, r.address_normalized) for r in chunk]
            source = f"the recipients of campaign {campaign_id}"
            pasted.save(templates.channel, lines, actor=actor, via=via, source=source)
        # Each text is rendered from the contact as it now is: the pasted name,
        # and what the contact book knows besides (location, attributes…).
        keys = [r.address_normalized for r in chunk]
        known = book.values_by_address(templates.channel, keys) if templates.personal else {}
        rendered = [templates.render(r, known.get(r.address_normalized)) for r in chunk]
        if templates.message is not None:
            for content, _ in rendered:
                report.add(length.measure(content or "", templates.channel))
        db.session.execute(
            statement,
            {
                "campaign_id": campaign_id,
                "lines": [r.line for r in chunk],
                "names": [r.name for r in chunk],
                "addresses": [r.address for r in chunk],
                "normalized": [r.address_normalized for r in chunk],
                "contents": [content for content, _ in rendered],
                "subjects": [subject for _, subject in rendered],
            },
        )
    return report


def edit(
    campaign_id: int,
    title: str,
    channel: str,
    message: str,
    recipients: list[ParsedRecipient],
    *,
    actor: User,
    subject: str | None = None,
) -> bool:
    """Replace a draft's title, channel, subject, message and recipients (their
    texts rendered afresh), saying what changed in its history; False if it is
    no longer a draft."""
    before = lifecycle.lock_for(campaign_id, Change.EDIT)
    if before is None:
        return False
    subject = subject if channel == Channel.EMAIL else None
    fields = {"title": title, "channel": channel, "subject": subject, "message": message}
    changed = [name for name, new in fields.items() if before[name] != new]
    db.session.execute(
        text(
            "UPDATE campaigns SET title = :title, channel = :channel, subject = :subject, message = :message, "
            # Edited, its recipients are the lines of the form: no longer what a filter chose.
            "schedule_refusal = NULL, audience = NULL, "
            "recipient_count = :count WHERE id = :id"
        ),
        {**fields, "id": campaign_id, "count": len(recipients)},
    )
    db.session.execute(text("DELETE FROM recipients WHERE campaign_id = :id"), {"id": campaign_id})
    report = insert_recipients(campaign_id, recipients, Templates(channel, message, subject), actor)
    db.session.execute(
        text("UPDATE campaigns SET sms_segments = :segments WHERE id = :id"),
        {"id": campaign_id, "segments": report.segments if channel == Channel.SMS else None},
    )
    changed.append(f"recipients ({number(before['recipient_count'])} → {number(len(recipients))})")
    audit.record(Action.CAMPAIGN_EDITED, actor=actor, campaign_id=campaign_id, detail=", ".join(changed))
    return True


def delete(campaign_id: int, *, actor: User) -> str | None:
    """Delete a draft and its recipients; returns its title, or None if it is
    no longer a draft. Its history goes with it; the deletion is recorded."""
    draft = lifecycle.lock_for(campaign_id, Change.DELETE)
    if draft is None:
        return None
    db.session.execute(text("DELETE FROM campaigns WHERE id = :id"), {"id": campaign_id})
    detail = f"“{draft['title']}” (campaign {campaign_id}, {plural(draft['recipient_count'], 'recipient')})"
    audit.record(Action.CAMPAIGN_DELETED, actor=actor, detail=detail)
    return draft["title"]


def as_paste(campaign_id: int) -> str:
    """The draft's recipients as lines to paste, ``Name, address`` in line order:
    what the edit form starts from."""
    rows = db.session.execute(
        text("SELECT name, address FROM recipients WHERE campaign_id = :id ORDER BY line, id"), {"id": campaign_id}
    ).all()
    return "\n".join(f"{_quoted(name)}, {address}" if name else address for name, address in rows)


def _quoted(name: str) -> str:
    """A name as CSV would write it, so its commas and quotes read back the same."""
    if any(c in name for c in ',"') or name.startswith("<"):
        return '"' + name.replace('"', '""') + '"'
    return name
