"""What the API answers with (contract B.2): the response models the OpenAPI
document shows, the functions that turn rows into them, the pagination
envelope, and the campaign status mapping. Every endpoint uses these, so an
object looks the same wherever it appears."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from math import ceil
from typing import TYPE_CHECKING, Annotated, Any

from flask import Response, request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict
from sqlalchemy import ColumnElement, Select, and_, func, not_, select

from app.audit import Action, Via
from app.campaigns.models import AttemptOutcome, Campaign, RecipientStatus
from app.campaigns.models import CampaignStatus as ProjectStatus
from app.extensions import db
from app.messaging.channels import Channel

if TYPE_CHECKING:
    from app.audit import AuditEvent
    from app.campaigns.models import DeliveryAttempt, Recipient
    from app.contacts.models import Contact

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


# ---- enums: each one component of the document, referenced wherever it is used ----
# The project's own where the API speaks them as they are (Channel,
# RecipientStatus, AttemptOutcome, Action, Via), so the two cannot drift apart.


class CampaignStatus(StrEnum):
    """A campaign's status: draft, scheduled (waits for scheduled_at), sending, paused,
    sent (done: something was sent, or nothing failed), failed (done: nothing was sent and
    something failed) or cancelled."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RecipientStatusFilter(StrEnum):
    """A recipient status to list, or pending: queued or retrying."""

    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    PENDING = "pending"


# A request body's channel: bodies are strict, and strict pydantic wants an
# enum member where JSON can only have its value.
ChannelIn = Annotated[Channel, Strict(False)]


# ---- response models (documentation, and a check on our own answers) ----


class ProblemError(BaseModel):
    field: str | None = None
    line: int | None = None
    message: str


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


class PaginationOut(BaseModel):
    page: int
    page_size: int
    total_count: int
    total_pages: int


class StatsOut(BaseModel):
    total: int
    pending: int = Field(description="Queued, or waiting to be retried (retrying ⊆ pending).")
    sending: int
    sent: int
    failed: int
    retrying: int
    cancelled: int
    skipped: int = Field(description="Never sent: opted out.")
    delivered: int = Field(description="Of sent, those the provider's receipt says reached the phone or inbox.")
    undelivered: int = Field(
        description="Of sent, those the provider's receipt says did not; the rest of sent have no receipt yet."
    )


class CampaignOut(BaseModel):
    id: int
    name: str
    channel: Channel
    status: CampaignStatus
    base_template: str
    scheduled_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pause_reason: str | None
    stats: StatsOut


class CustomerOut(BaseModel):
    id: int
    phone: str = Field(description="E.164, or empty for an email-only customer.")
    first_name: str
    last_name: str
    location: str
    preferred_product: str
    email: str
    attributes: dict[str, str]
    created_at: datetime


class RecipientOut(BaseModel):
    id: int
    campaign_id: int
    customer_id: int | None
    line: int | None = Field(description="Its place in the campaign's list: the pasted line, continued across pastes.")
    name: str
    address: str
    status: RecipientStatus
    rendered_content: str
    attempts: int
    last_error: str | None
    error_code: str | None
    next_attempt_at: datetime | None
    provider_message_id: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class AttemptOut(BaseModel):
    number: int
    started_at: datetime | None
    finished_at: datetime
    outcome: AttemptOutcome
    error_code: str | None
    error_message: str | None
    provider_message_id: str | None


class RecipientDetailOut(RecipientOut):
    attempt_log: list[AttemptOut]


class EventOut(BaseModel):
    id: int
    at: datetime
    action: Action
    actor: str | None = Field(description="The email of the person who made the change, if a person did.")
    via: Via
    detail: str


class RecipientPage(BaseModel):
    data: list[RecipientOut]
    pagination: PaginationOut


class EventPage(BaseModel):
    data: list[EventOut]
    pagination: PaginationOut


class CampaignPage(BaseModel):
    data: list[CampaignOut]
    pagination: PaginationOut


class CustomerPage(BaseModel):
    data: list[CustomerOut]
    pagination: PaginationOut


# ---- rows → JSON ----


def timestamp(at: datetime | None) -> str | None:
    """RFC 3339 in UTC, ``…Z``."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def api_status(campaign: Campaign) -> str:
    """The project's ``completed`` is [002]'s ``sent``, or ``failed`` when nothing was sent and something failed."""
    if campaign.status == ProjectStatus.COMPLETED:
        return "failed" if campaign.sent_count == 0 and campaign.failed_count > 0 else "sent"
    return campaign.status


def status_names(status: ProjectStatus) -> list[str]:
    """The API's names for one of the project's statuses (``api_status``)."""
    return ["sent", "failed"] if status == ProjectStatus.COMPLETED else [status.value]


def status_filter(status: CampaignStatus) -> ColumnElement[bool]:
    """The WHERE clause for an API status: the same mapping as ``api_status``."""
    all_failed = and_(Campaign.sent_count == 0, Campaign.failed_count > 0)
    if status == CampaignStatus.SENT:
        return and_(Campaign.status == ProjectStatus.COMPLETED.value, not_(all_failed))
    if status == CampaignStatus.FAILED:
        return and_(Campaign.status == ProjectStatus.COMPLETED.value, all_failed)
    return Campaign.status == status.value


def stats(campaign: Campaign) -> dict[str, int]:
    """From the campaign's counters, never by counting recipients:
    total == pending + sending + sent + failed + cancelled + skipped, and
    delivered + undelivered <= sent."""
    return {
        "total": campaign.recipient_count,
        "pending": campaign.owed_count,
        "sending": campaign.sending_count,
        "sent": campaign.sent_count,
        "failed": campaign.failed_count,
        "retrying": campaign.retrying_count,
        "cancelled": campaign.cancelled_count,
        "skipped": campaign.skipped_count,
        "delivered": campaign.delivered_count,
        "undelivered": campaign.undelivered_count,
    }


def campaign(row: Campaign) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.title,
        "channel": row.channel,
        "status": api_status(row),
        "base_template": row.message,
        "scheduled_at": timestamp(row.scheduled_at),
        "created_at": timestamp(row.created_at),
        "started_at": timestamp(row.started_at),
        "finished_at": timestamp(row.finished_at),
        "pause_reason": row.pause_reason,
        "stats": stats(row),
    }


def customer(row: Contact) -> dict[str, Any]:
    return {
        "id": row.id,
        "phone": row.phone or "",
        "first_name": row.first_name,
        "last_name": row.last_name,
        "location": row.location,
        "preferred_product": row.preferred_product,
        "email": row.email or "",
        "attributes": {str(key): str(value) for key, value in (row.attributes or {}).items()},
        "created_at": timestamp(row.created_at),
    }


def recipient(row: Recipient, campaign_row: Campaign) -> dict[str, Any]:
    """A recipient (B.2); ``status`` is the project's own, ``attempts`` [002]'s retry_count."""
    return {
        "id": row.id,
        "campaign_id": row.campaign_id,
        "customer_id": row.contact_id,
        "line": row.line,
        "name": row.name,
        "address": row.address,
        "status": row.status,
        "rendered_content": row.content(campaign_row),
        "attempts": row.attempts,
        "last_error": row.last_error,
        "error_code": row.error_code,
        "next_attempt_at": timestamp(row.next_attempt_at) if row.status == RecipientStatus.RETRYING else None,
        "provider_message_id": row.provider_message_id,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "finished_at": timestamp(row.finished_at),
    }


def attempt(row: DeliveryAttempt) -> dict[str, Any]:
    return {
        "number": row.attempt,
        "started_at": timestamp(row.started_at),
        "finished_at": timestamp(row.finished_at),
        "outcome": row.outcome,
        "error_code": row.error_code,
        "error_message": row.error_message,
        "provider_message_id": row.provider_message_id,
    }


def event(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": timestamp(row.at),
        "action": row.action,
        "actor": row.actor.email if row.actor is not None else None,
        "via": row.via,
        # A time it speaks of ("to start at …") reads in UTC, as every time the API gives.
        "detail": row.detail_in(UTC),
    }


# ---- pagination ([002], B.1) ----


def _int_arg(name: str) -> int | None:
    """A non-integer value is treated as absent ([002]'s Go parse)."""
    return _lenient_int(request.args.get(name))


def page_args() -> tuple[int, int]:
    """``page`` and ``page_size`` clamped as [002] says: page < 1 is 1,
    page_size < 1 is 20, page_size > 100 is 100."""
    page = _int_arg("page")
    size = _int_arg("page_size")
    page = 1 if page is None or page < 1 else page
    size = DEFAULT_PAGE_SIZE if size is None or size < 1 else min(size, MAX_PAGE_SIZE)
    return page, size


def paginated(query: Select, serialise, *, order_by=None) -> dict[str, Any]:
    """The envelope for ``query`` (its rows' model selected, filters applied):
    one COUNT with the filters, then the page, ``order_by`` (id DESC unless
    given). A page past the end is empty, not an error."""
    page, size = page_args()
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows: list[Any] = []
    offset = (page - 1) * size
    if offset < total:
        ordered = query.order_by(*order_by) if order_by is not None else query
        rows = list(db.session.scalars(ordered.limit(size).offset(offset)))
    return {
        "data": [serialise(row) for row in rows],
        "pagination": {"page": page, "page_size": size, "total_count": total, "total_pages": ceil(total / size)},
    }


def json_response(data: Any, status: int = 200, *, location: str | None = None) -> Response:
    """A JSON answer; ``location`` for a 201. The blueprint adds no-store and nosniff."""
    answer = Response(json.dumps(data, ensure_ascii=False), status, mimetype="application/json")
    if location is not None:
        answer.headers["Location"] = location
    return answer


def _lenient_int(value: Any) -> Any:
    """A query value that is not an integer is treated as absent ([002])."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("+-").isdigit() or len(text) > 100:
            return None  # "1.5", "x", "1_000"
        try:
            return int(text)
        except ValueError:  # "+-5"
            return None
    return value


LenientInt = Annotated[int | None, BeforeValidator(_lenient_int)]


def _absent_not_null(schema: dict[str, Any]) -> None:
    """A query parameter is absent or has a value: a query string cannot say
    null. pydantic writes ``x: T | None = None`` as ``anyOf [T, null]`` with
    ``default: null``, which generators turn into a nullable union; each
    parameter is documented as plain ``T`` instead."""
    for field in schema.get("properties", {}).values():
        options = field.pop("anyOf", None)
        if options is not None:
            kept = [option for option in options if option != {"type": "null"}]
            if len(kept) == 1:
                field.update(kept[0])
            else:
                field["anyOf"] = kept
        if "default" in field and field["default"] is None:
            del field["default"]


class QueryModel(BaseModel):
    """The base of every query model: declare a parameter as ``T | None = None``
    and the document shows an optional ``T``."""

    model_config = ConfigDict(json_schema_extra=_absent_not_null)


class PageQuery(QueryModel):
    """``page`` (from 1) and ``page_size`` (1–100, default 20); out-of-range
    values are clamped and non-integers ignored, never refused."""

    page: LenientInt = Field(
        None, description="From 1. Below 1 is 1; not an integer: absent.", json_schema_extra={"default": 1}
    )
    page_size: LenientInt = Field(
        None,
        description=f"1 to {MAX_PAGE_SIZE}. Below 1 is {DEFAULT_PAGE_SIZE}, above {MAX_PAGE_SIZE} is {MAX_PAGE_SIZE}; "
        "not an integer: absent.",
        json_schema_extra={"default": DEFAULT_PAGE_SIZE},
    )
