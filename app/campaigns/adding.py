"""Recipients added to a campaign that has not started: customers chosen by id
(the JSON API's send), or more pasted lines. Both lock the campaign's row
first and need it still a draft (or scheduled), so an add racing a Start, or
another add, either comes first or is refused.

Nothing here commits; a refusal by exception leaves the caller to roll back,
so an add is whole or nothing. ``app.campaigns.controls.carry_out`` commits,
then enqueues and shows the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import text

from app import audit
from app.audit import Action, Via
from app.campaigns import drafts, lifecycle
from app.campaigns.lifecycle import Result
from app.campaigns.models import CampaignStatus
from app.campaigns.parsing import ParsedRecipient
from app.campaigns.transitions import Change, which
from app.contacts.book import render_sql
from app.extensions import db
from app.formatting import plural
from app.messaging import length
from app.messaging.channels import Channel
from app.messaging.names import MAX_NAME

if TYPE_CHECKING:
    from app.auth.models import User


class UnknownContacts(Exception):
    """Some ids name no contact; ``missing`` holds (position in the request, id)."""

    def __init__(self, missing: list[tuple[int, int]]) -> None:
        super().__init__(f"{plural(len(missing), 'customer')} not found")
        self.missing = missing


class Unreachable(Exception):
    """Some contacts have no address on the campaign's channel (an email campaign, no email)."""

    def __init__(self, channel: str, contacts: list[tuple[int, int]]) -> None:
        what = "email address" if channel == Channel.EMAIL else "phone number"
        article = "an" if channel == Channel.EMAIL else "a"
        super().__init__(
            f"{plural(len(contacts), 'customer')} without {article} {what}, which {Channel(channel).label} needs"
        )
        self.what = what
        self.contacts = contacts


class TooLong(Exception):
    """Some recipients' texts do not fit the channel (``report.too_long``: line, why)."""

    def __init__(self, report: length.Report) -> None:
        super().__init__(f"too long for {plural(report.too_long_count, 'recipient')}")
        self.report = report


@dataclass(frozen=True)
class Added:
    added: int
    # Lines of the paste not added: their address is already in it, or in the campaign.
    duplicate_lines: list[int] = field(default_factory=list)
    # Nothing is owed a job before the campaign starts.
    to_send: int = 0

    @property
    def changed(self) -> bool:
        return self.added > 0


def _refused(campaign_id: int) -> Result:
    status = db.session.execute(text("SELECT status FROM campaigns WHERE id = :id"), {"id": campaign_id}).scalar_one()
    return Result(False, f"This campaign is {status}; recipients can be added only to {which(Change.EDIT)}.")


def send_to_contacts(campaign_id: int, contact_ids: list[int], *, actor: User | None, via: Via = Via.WEB) -> Result:
    """Add these contacts (ids, repeats ignored) as recipients and start a
    draft; a scheduled campaign keeps them until its time. ``count`` is how
    many recipients are then queued or waiting. Refused (not changed) once
    the campaign has started; raises UnknownContacts, Unreachable or TooLong
    (roll back) for contacts that cannot all be added.
    """
    row = lifecycle.lock_for(campaign_id, Change.EDIT)
    if row is None:
        return _refused(campaign_id)
    templates = drafts.Templates(row["channel"], row["message"], row["subject"])
    added = add_contacts(campaign_id, contact_ids, templates, actor=actor, via=via)
    if row["status"] == CampaignStatus.SCHEDULED:
        owed = lifecycle.owed(campaign_id)
        return Result(True, f"{plural(added, 'recipient')} added; they wait for the scheduled time.", count=owed)
    started = lifecycle.start(campaign_id, actor, via)
    if not started.changed:
        # A budget refuses it: nothing is added either (the caller rolls back).
        return started
    return Result(True, started.notice, to_send=started.to_send, count=lifecycle.owed(campaign_id))


def add_contacts(
    campaign_id: int, contact_ids: list[int], templates: drafts.Templates, *, actor: User | None, via: Via
) -> int:
    """Store the contacts as recipients in the order given, each text rendered
    now from the contact by the INSERT … SELECT itself; returns how many were
    added (one already a recipient, by address, is not added again). The
    campaign's row must be locked for EDIT."""
    channel = templates.channel
    ids = list(dict.fromkeys(contact_ids))
    _check_contacts(ids, contact_ids, channel)
    key = templates.contact_field
    # A template the same for everyone is not stored per recipient (Recipient.content).
    content, params = render_sql(templates.message, "m") if templates.message is not None else ("NULL", {})
    subject, subject_params = render_sql(templates.subject, "s") if templates.subject is not None else ("NULL", {})
    rows = db.session.execute(
        text(
            f"""
            INSERT INTO recipients (
                campaign_id, line, name, address, address_normalized, rendered_content, rendered_subject, contact_id
            )
            SELECT :campaign_id, :after + u.n, left(btrim(c.first_name || ' ' || c.last_name), :max_name),
                   c.{key}, c.{key}, {content}, {subject}, c.id
            FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS u(id, n)
            JOIN contacts AS c ON c.id = u.id
            ORDER BY u.n
            ON CONFLICT ON CONSTRAINT recipients_one_per_address DO NOTHING
            RETURNING line, rendered_content
            """
        ),
        {
            "campaign_id": campaign_id,
            "ids": ids,
            "after": _last_line(campaign_id),
            "max_name": MAX_NAME,
            **params,
            **subject_params,
        },
    ).all()
    report = length.Report(channel, current_app.config["SMS_MAX_SEGMENTS"])
    if templates.message is None:
        if rows:
            report.add(length.measure(templates.literal, channel), len(rows), rows[0][0])
    else:
        for line, rendered in rows:
            report.add(length.measure(rendered, channel), where=line)
    if report.too_long:
        raise TooLong(report)
    _count_added(campaign_id, len(rows), report)
    detail = f"{plural(len(rows), 'recipient')} added from customers"
    audit.record(Action.CAMPAIGN_EDITED, actor=actor, via=via, campaign_id=campaign_id, detail=detail)
    return len(rows)


def _check_contacts(ids: list[int], asked: list[int], channel: str) -> None:
    key = Channel(channel).contact_field
    rows = db.session.execute(
        text(
            f"SELECT u.id, c.id IS NOT NULL FROM unnest(CAST(:ids AS bigint[])) AS u(id) "
            f"LEFT JOIN contacts AS c ON c.id = u.id WHERE c.{key} IS NULL"
        ),
        {"ids": ids},
    ).all()
    if not rows:
        return
    position: dict[int, int] = {}
    for at, contact_id in enumerate(asked):
        position.setdefault(contact_id, at)
    missing = sorted((position[cid], cid) for cid, found in rows if not found)
    if missing:
        raise UnknownContacts(missing)
    raise Unreachable(channel, sorted((position[cid], cid) for cid, _ in rows))


def add_pasted(
    campaign_id: int, recipients: list[ParsedRecipient], *, actor: User | None, via: Via = Via.WEB
) -> Added | Result:
    """Add parsed lines to a campaign not yet started, as the New campaign form
    stores them (each line becoming or updating a contact). Lines whose
    address the campaign already has are not added. Their ``line`` continues
    after the campaign's last, so its list stays in the order it was pasted.
    Refused (a Result) once the campaign has started; raises TooLong."""
    row = lifecycle.lock_for(campaign_id, Change.EDIT)
    if row is None:
        return _refused(campaign_id)
    have = set(
        db.session.scalars(
            text(
                "SELECT address_normalized FROM recipients WHERE campaign_id = :id "
                "AND address_normalized = ANY(CAST(:keys AS text[]))"
            ),
            {"id": campaign_id, "keys": [r.address_normalized for r in recipients]},
        )
    )
    new = [r for r in recipients if r.address_normalized not in have]
    duplicates = sorted(r.line for r in recipients if r.address_normalized in have)
    if not new:
        return Added(0, duplicates)
    templates = drafts.Templates(row["channel"], row["message"], row["subject"])
    report = templates.lengths(new, current_app.config["SMS_MAX_SEGMENTS"])
    if report.too_long:
        raise TooLong(report)
    after = _last_line(campaign_id)
    stored = drafts.insert_recipients(
        campaign_id, [replace(r, line=after + r.line) for r in new], templates, actor, via=via
    )
    _count_added(campaign_id, len(new), stored)
    detail = f"{plural(len(new), 'recipient')} added from pasted lines"
    audit.record(Action.CAMPAIGN_EDITED, actor=actor, via=via, campaign_id=campaign_id, detail=detail)
    return Added(len(new), duplicates)


def _last_line(campaign_id: int) -> int:
    return db.session.execute(
        text("SELECT coalesce(max(line), 0) FROM recipients WHERE campaign_id = :id"), {"id": campaign_id}
    ).scalar_one()


def _count_added(campaign_id: int, added: int, report: length.Report) -> None:
    db.session.execute(
        text(
            "UPDATE campaigns SET recipient_count = recipient_count + :added, "
            "sms_segments = CASE WHEN channel = 'sms' THEN coalesce(sms_segments, 0) + :segments END WHERE id = :id"
        ),
        {"id": campaign_id, "added": added, "segments": report.segments},
    )
