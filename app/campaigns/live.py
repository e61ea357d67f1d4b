"""Live updates of a campaign page, rendered from the page's own partials."""
from dataclasses import dataclass

from flask import render_template

from app.campaigns.models import Campaign
from app.extensions import db, redis
from app.live.channel import campaign_channel, publish

UPDATE_EVENT = "update"


@dataclass(frozen=True)
class BadgeChange:
    id: int
    status: str
    error: str | None = None


def publish_update(campaign_id: int, changes: list[BadgeChange]) -> None:
    """Push the current header and the changed badges to everyone watching.

    Call after the changes are committed: the header is read fresh, so a page
    never shows a state the database does not have.
    """
    campaign = db.session.get(Campaign, campaign_id, populate_existing=True)
    html = render_template("campaigns/_update.html", campaign=campaign, changes=changes)
    publish(redis.client, campaign_channel(campaign_id), html, type=UPDATE_EVENT)
