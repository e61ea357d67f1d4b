"""Live updates of a campaign page, rendered from the page's own partials."""
from dataclasses import dataclass

from flask import render_template

from app.audit import AuditEvent
from app.campaigns.models import Campaign
from app.extensions import db, redis
from app.live.channel import campaign_channel, publish

UPDATE_EVENT = "update"


@dataclass(frozen=True)
class BadgeChange:
    id: int
    status: str
    error: str | None = None


def render_update(campaign: Campaign, changes: list[BadgeChange], history: list[AuditEvent] | None = None) -> str:
    """The header and the changed badges, as out-of-band fragments.

    Render inside the transaction that made the changes, from a campaign read
    in it (``fresh``), and publish only after it commits: then a page never
    shows a state the database does not have, and the read costs no extra
    transaction.
    """
    return render_template("campaigns/_update.html", campaign=campaign, changes=changes, history=history)


def publish_update(campaign_id: int, html: str) -> None:
    publish(redis.client, campaign_channel(campaign_id), html, type=UPDATE_EVENT)


def fresh(campaign_id: int) -> Campaign:
    """The campaign row as this transaction sees it now, counters included."""
    return db.session.get(Campaign, campaign_id, populate_existing=True)
