"""Campaigns: create a draft (or a scheduled campaign), list them, read one,
and its history.

Creating goes through ``drafts.create_campaign``, as the web form does, and
refuses the same unknown placeholders with the same message.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from flask import url_for
from pydantic import Field, StringConstraints, field_validator
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.api import shapes
from app.api.auth import api_user
from app.api.body import StrictModel
from app.api.problems import Problem
from app.api.shapes import (
    CampaignOut,
    CampaignPage,
    CampaignStatus,
    ChannelIn,
    EventPage,
    PageQuery,
    json_response,
)
from app.api.spec import endpoint
from app.audit import AuditEvent, Via
from app.auth.access import requires
from app.auth.models import Role, User
from app.campaigns import drafts, lifecycle, live, transitions
from app.campaigns.models import Campaign
from app.campaigns.transitions import Change
from app.clock import utcnow
from app.extensions import db
from app.messaging import placeholders
from app.messaging.channels import Channel

# RFC 3339 date-time, with its offset required (Python would take a naive one).
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
# Read as text and checked against RFC3339 here (pydantic's datetime takes a
# time without an offset), documented as the date-time it is.
DateTimeText = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class CampaignIn(StrictModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    channel: ChannelIn
    base_template: Annotated[str, StringConstraints(min_length=1, max_length=4000)] = Field(
        description="Placeholders: {first_name}, {last_name}, {location}, {preferred_product}, {phone}, {email}, "
        "{attributes.KEY}, each optionally with a fallback: {first_name|there}."
    )
    scheduled_at: DateTimeText | None = Field(None, description="RFC 3339 with an offset, in the future: send then.")

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("base_template")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        if unknown := placeholders.unknown(value):
            raise ValueError(placeholders.unknown_message(unknown))
        return value

    @field_validator("scheduled_at")
    @classmethod
    def _future_rfc3339(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not RFC3339.fullmatch(value):
            raise ValueError("must be an RFC 3339 date-time with an offset, such as 2030-06-01T10:00:00Z")
        try:
            at = _instant(value)
        except ValueError:
            raise ValueError("is not a real date and time") from None
        if at <= utcnow():
            raise ValueError("must be in the future")
        return value


def _instant(rfc3339: str) -> datetime:
    """An RFC 3339 date-time (``Z`` or an offset, any case) as an aware datetime."""
    return datetime.fromisoformat(rfc3339.upper().replace("Z", "+00:00"))


class CampaignQuery(PageQuery):
    channel: Channel | None = Field(None, description="Only the campaigns on this channel.")
    status: CampaignStatus | None = Field(None, description="Only the campaigns with this status.")


def _schedule(campaign_id: int, at: datetime, user: User) -> None:
    """Make the new draft ``scheduled`` for ``at``, as the web form's Send at
    does; a refusal (a time no longer to come) leaves nothing (the caller rolls back)."""
    result = lifecycle.schedule(campaign_id, at, user, via=Via.API)
    if not result.changed:
        raise Problem(400, result.notice, errors=[{"field": "scheduled_at", "message": result.notice}])


@requires(Role.OPERATOR)
@endpoint({201: CampaignOut}, json=CampaignIn, tags=["campaigns"], location=True)
def create(json: CampaignIn) -> Response:
    """Create a campaign

    A draft, or ``scheduled`` when ``scheduled_at`` is given, with no recipients yet: add them
    with sendCampaign (customers) or addRecipients (pasted lines). Its URL is in ``Location``."""
    user = api_user()
    campaign = drafts.create_campaign(json.name, json.channel, json.base_template, [], created_by=user, via=Via.API)
    if json.scheduled_at is not None:
        db.session.flush()
        _schedule(campaign.id, _instant(json.scheduled_at), user)
    db.session.commit()
    # Open campaign lists show it, as they do one created on the web.
    live.show_campaign_change(campaign.id)
    location = url_for("api.get_campaign", campaign_id=campaign.id)
    return json_response(shapes.campaign(campaign), 201, location=location)


@requires(Role.VIEWER)
@endpoint({200: CampaignPage}, errors=(400,), query=CampaignQuery, tags=["campaigns"])
def index(query: CampaignQuery) -> Response:
    """List campaigns

    Campaigns with their stats, newest first, a page at a time; ``channel`` and ``status``
    combine."""
    found = select(Campaign)
    if query.channel is not None:
        found = found.where(Campaign.channel == query.channel.value)
    if query.status is not None:
        found = found.where(shapes.status_filter(query.status))
    return json_response(shapes.paginated(found, shapes.campaign, order_by=[Campaign.id.desc()]))


@requires(Role.VIEWER)
@endpoint({200: CampaignOut}, errors=(404,), tags=["campaigns"])
def show(campaign_id: int) -> Response:
    """Get a campaign

    The campaign with its stats: how many recipients are pending, sending, sent, failed,
    retrying, cancelled and skipped."""
    return json_response(shapes.campaign(campaign_or_404(campaign_id)))


def campaign_or_404(campaign_id: int) -> Campaign:
    # Read afresh: a session that outlives a request (tests, a CLI) may hold an older copy.
    campaign = db.session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None:
        raise Problem(404, f"There is no campaign {campaign_id}.")
    return campaign


@requires(Role.VIEWER)
@endpoint({200: EventPage}, errors=(404,), query=PageQuery, tags=["campaigns"])
def events(campaign_id: int, query: PageQuery) -> Response:
    """List a campaign's events

    The campaign's history, oldest first: what happened (``action``), who did it (``actor``)
    and through what (``via``): the API, the web, the dispatcher and so on."""
    campaign_or_404(campaign_id)
    found = select(AuditEvent).where(AuditEvent.campaign_id == campaign_id)
    return json_response(shapes.paginated(found, shapes.event, order_by=[AuditEvent.id.asc()]))


def refusal(campaign_id: int, change: Change, notice: str, allowed: str = "") -> Problem:
    """The 409 for a change the campaign refused, naming its status now: which
    statuses take the change (from ``TRANSITIONS``, unless ``allowed`` says it
    in the contract's words); a refusal for another reason (no recipients, a
    budget) is said in the domain's own words (``notice``)."""
    campaign = live.fresh(campaign_id)
    status = shapes.api_status(campaign)
    if campaign.status in transitions.TRANSITIONS[change]:
        return Problem(409, f"{notice} The campaign is {status}.")
    if not allowed:
        rule = transitions.only(change, shapes.status_names)
        allowed = rule[0].upper() + rule[1:]
    return Problem(409, f"{allowed}; this campaign is {status}.")
