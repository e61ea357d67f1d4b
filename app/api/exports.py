"""Export CSV through the API: a campaign's recipients and the customers, as
the web pages' Export CSV writes them (``app.campaigns.exports``,
``app.contacts.exports``), with the listing endpoints' filters, every row at
once rather than a page. Each export is in the history, ``via: api``."""

from __future__ import annotations

from flask import current_app
from pydantic import Field
from werkzeug.wrappers import Response

from app import searching
from app.api.auth import api_user
from app.api.campaigns import campaign_or_404
from app.api.customers import CustomerFilters, filters_asked
from app.api.recipients import with_status
from app.api.shapes import QueryModel, RecipientStatusFilter
from app.api.spec import CSV, endpoint
from app.audit import Via
from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import exports, recipient_search
from app.contacts import exports as contact_exports
from app.messaging.channels import Channel

SEARCH = "Only those whose {what} holds this text (any case), as the {page}'s search box finds them."


class RecipientExportQuery(QueryModel):
    status: RecipientStatusFilter | None = Field(None, description="Only the recipients with this status.")
    q: str | None = Field(
        None,
        description=SEARCH.format(what="name, address (as typed or normalized) or message", page="campaign page"),
    )


class CustomerExportQuery(CustomerFilters):
    q: str | None = Field(None, description=SEARCH.format(what="name, phone or email", page="contacts list"))


@requires(Role.VIEWER)
@endpoint({200: CSV}, errors=(400, 404), query=RecipientExportQuery, tags=["recipients"])
def recipients(campaign_id: int, query: RecipientExportQuery) -> Response:
    """Export a campaign's recipients as CSV

    Every recipient the filters choose, in paste order (the listing's order), one row
    each: line, name, address (as typed), sends_to (normalized), message (their own
    text), status, attempts, error_code, last_error, provider_message_id, created_at,
    last_attempt_at and sent_at."""
    campaign = campaign_or_404(campaign_id)
    q = searching.typed({"q": query.q or ""})
    region, phones = current_app.config["DEFAULT_REGION"], Channel(campaign.channel).uses_phone
    found = with_status(recipient_search.chosen(campaign.id, None, q, region, phones), query.status)
    asked = exports.which(query.status.value if query.status else None, q)
    return exports.download(campaign, found, asked=asked, actor=api_user(), via=Via.API)


@requires(Role.VIEWER)
@endpoint({200: CSV}, errors=(400,), query=CustomerExportQuery, tags=["customers"])
def customers(query: CustomerExportQuery) -> Response:
    """Export customers as CSV

    Every customer the filters choose (those of ``listCustomers``, and ``q``), newest
    first, one row each: first_name, last_name, phone, email, location,
    preferred_product, created_at, then one column for each attribute key any of
    them has, sorted (a key named like one of those columns is ``attributes.KEY``)."""
    filters = filters_asked(query, searching.typed({"q": query.q or ""}))
    return contact_exports.download(filters, actor=api_user(), via=Via.API)
