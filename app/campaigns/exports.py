"""A campaign's recipients as a CSV file: those a status tab and a search
choose (``recipient_search.chosen``), each with their own text, how their
sending went, and when. Written by ``app.exporting``'s rule, from a
server-side cursor, and recorded in the campaign's history with its count."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Response
from sqlalchemy import Select

from app import audit, exporting
from app.audit import Action, Via
from app.campaigns.models import Campaign, Recipient, RecipientStatus, own_text
from app.clock import utcnow
from app.formatting import quote

if TYPE_CHECKING:
    from app.auth.models import User

HEADER = (
    "line",
    "name",
    "address",
    "sends_to",
    "message",
    "status",
    "attempts",
    "error_code",
    "last_error",
    "provider_message_id",
    "delivery",
    "delivery_at",
    "delivery_reason",
    "created_at",
    "last_attempt_at",
    "sent_at",
)
COLUMNS = (
    Recipient.line,
    Recipient.name,
    Recipient.address,
    Recipient.address_normalized,
    Recipient.rendered_content,
    Recipient.status,
    Recipient.attempts,
    Recipient.error_code,
    Recipient.last_error,
    Recipient.provider_message_id,
    Recipient.delivery,
    Recipient.delivery_at,
    Recipient.delivery_error,
    Recipient.created_at,
    Recipient.attempt_started_at,
    Recipient.finished_at,
)


def rows(campaign: Campaign, found: Select) -> Iterator[list[Any]]:
    """The file's rows for the recipients ``found`` selects, in its order: the
    message as the recipient is sent it, and when they were sent (a sent
    recipient's ``finished_at``)."""
    for row in exporting.read(found.with_only_columns(*COLUMNS)):
        rendered, status, done = row[4], row[5], row[-1]
        sent = done if status == RecipientStatus.SENT else None
        yield [*row[:4], own_text(rendered, campaign), *row[5:-1], sent]


def which(status: str | None, q: str) -> str:
    """The tab and search exported, as the history says it."""
    parts = [f"{status} only" if status else "every status"]
    if q:
        parts.append(f"matching {quote(q)}")
    return ", ".join(parts)


def download(campaign: Campaign, found: Select, *, asked: str, actor: User, via: Via) -> Response:
    """The CSV file of the recipients ``found`` selects, named for the campaign
    and today; ``asked`` says which in the history, with who and how many."""
    campaign_id = campaign.id

    def record(count: int, complete: bool) -> None:
        said = f"{exporting.counted(count, 'recipient', complete=complete)} ({asked})"
        audit.record(Action.CAMPAIGN_EXPORTED, actor=actor, via=via, campaign_id=campaign_id, detail=said)

    title = campaign.title if exporting.slug(campaign.title) else f"campaign {campaign.id}"
    name = exporting.filename(title, utcnow().date())
    return exporting.download(HEADER, rows(campaign, found), name, record)
