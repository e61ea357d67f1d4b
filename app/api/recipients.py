"""A campaign's recipients: add pasted lines, list them, read one with its attempts.

Pasted text is read by ``parsing.parse_recipients`` with the web form's
settings and stored by ``adding.add_pasted``, as the New campaign form stores it.
"""

from __future__ import annotations

from typing import Annotated

from flask import current_app
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import Select, select
from werkzeug.wrappers import Response

from app.api import shapes
from app.api.auth import api_user
from app.api.body import StrictModel
from app.api.campaigns import campaign_or_404, refusal
from app.api.problems import Problem, invalid
from app.api.shapes import (
    PageQuery,
    ProblemError,
    RecipientDetailOut,
    RecipientPage,
    RecipientStatusFilter,
    json_response,
)
from app.api.spec import endpoint
from app.audit import Via
from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import adding, controls, lifecycle, live, transitions
from app.campaigns.models import DeliveryAttempt, Recipient, RecipientStatus
from app.campaigns.parsing import parse_recipients
from app.campaigns.transitions import Change
from app.extensions import db
from app.formatting import plural
from app.messaging.channels import Channel

# A 400 lists at most this many lines at fault; its detail says how many in all.
LISTED = 1_000
NOT_EDITABLE = f"Recipients can be added only to {transitions.which(Change.EDIT, shapes.status_names)}"


class PasteIn(StrictModel):
    text: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="One recipient a line: Name, Email or Phone (tabs and quoted names too), as the web form takes."
    )
    skip_invalid: bool = Field(False, description="Add the valid lines and report the others in skipped_lines.")


class PasteOut(BaseModel):
    campaign_id: int
    added: int
    duplicate_lines: list[int]
    skipped_lines: list[ProblemError]
    recipient_count: int


def _line_errors(errors: list[tuple[int, str]]) -> list[dict]:
    return [{"line": line, "message": message} for line, message in errors[:LISTED]]


@requires(Role.OPERATOR)
@endpoint({201: PasteOut}, errors=(404, 409), json=PasteIn, tags=["recipients"])
def add(campaign_id: int, json: PasteIn) -> Response:
    """Add pasted recipients

    Lines of text, read as the web form reads them, become recipients of a draft or
    scheduled campaign. A line whose address is already in the text or the campaign is a
    duplicate, not added; lines that are not recipients are a 400 unless ``skip_invalid``."""
    campaign = campaign_or_404(campaign_id)
    if not transitions.may(campaign, Change.EDIT):
        raise refusal(campaign_id, Change.EDIT, "", NOT_EDITABLE)
    limit = current_app.config["RECIPIENT_LINE_LIMIT"]
    parsed = parse_recipients(
        json.text,
        Channel(campaign.channel),
        current_app.config["DEFAULT_REGION"],
        limit,
        line_max=current_app.config["RECIPIENT_LINE_MAX_CHARS"],
    )
    if parsed.over_limit is not None:
        raise invalid("text", f"{parsed.over_limit:,} recipient lines; at most {limit:,} are taken at once")
    errors = [(e.line, e.message) for e in parsed.errors]
    if not parsed.recipients or (errors and not json.skip_invalid):
        many = f" (the first {LISTED} are listed)" if len(errors) > LISTED else ""
        detail = (
            "None of the lines is a valid recipient; nothing was added"
            if not parsed.recipients
            else f"{plural(len(errors), 'line')} could not be understood; nothing was added. "
            "Fix them, or send skip_invalid"
        )
        raise Problem(400, f"{detail}{many}.", errors=_line_errors(errors) or [{"field": "text", "message": detail}])
    try:
        added = controls.carry_out(
            campaign_id, lambda: adding.add_pasted(campaign_id, parsed.recipients, actor=api_user(), via=Via.API)
        )
    except adding.TooLong as error:
        raise Problem(
            400,
            f"The message is too long for {error.report.too_long_count} of these recipients; nothing was added.",
            errors=[{"line": line, "message": why} for line, why in error.report.too_long],
        ) from None
    if isinstance(added, lifecycle.Result):  # it started meanwhile
        raise refusal(campaign_id, Change.EDIT, added.notice, NOT_EDITABLE)
    if parsed.header_line is not None:
        errors.insert(0, (parsed.header_line, "skipped as a header row"))
    body = {
        "campaign_id": campaign_id,
        "added": added.added,
        "duplicate_lines": sorted(parsed.duplicate_lines + added.duplicate_lines),
        "skipped_lines": [{"line": line, "message": message} for line, message in errors],
        "recipient_count": live.fresh(campaign_id).recipient_count,
    }
    return json_response(body, 201)


class RecipientQuery(PageQuery):
    status: RecipientStatusFilter | None = Field(None, description="Only the recipients with this status.")


def with_status(found: Select, status: RecipientStatusFilter | None) -> Select:
    """Those of ``found`` with this status; ``pending``: queued or retrying."""
    if status == RecipientStatusFilter.PENDING:
        return found.where(Recipient.status.in_([RecipientStatus.QUEUED.value, RecipientStatus.RETRYING.value]))
    return found if status is None else found.where(Recipient.status == status.value)


@requires(Role.VIEWER)
@endpoint({200: RecipientPage}, errors=(400, 404), query=RecipientQuery, tags=["recipients"])
def index(campaign_id: int, query: RecipientQuery) -> Response:
    """List a campaign's recipients

    The campaign's recipients in the order they were added (id ascending), a page at a time,
    each with its status and its rendered message."""
    campaign = campaign_or_404(campaign_id)
    found = with_status(select(Recipient).where(Recipient.campaign_id == campaign_id), query.status)
    page = shapes.paginated(found, lambda row: shapes.recipient(row, campaign), order_by=[Recipient.id.asc()])
    return json_response(page)


@requires(Role.VIEWER)
@endpoint({200: RecipientDetailOut}, errors=(404,), tags=["recipients"])
def show(campaign_id: int, recipient_id: int) -> Response:
    """Get a recipient

    One recipient of the campaign, with every attempt to send to it (``attempt_log``)."""
    campaign = campaign_or_404(campaign_id)
    found = db.session.get(Recipient, recipient_id)
    if found is None or found.campaign_id != campaign_id:
        raise Problem(404, f"Campaign {campaign_id} has no recipient {recipient_id}.")
    attempts = db.session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.recipient_id == found.id).order_by(DeliveryAttempt.id)
    )
    return json_response({**shapes.recipient(found, campaign), "attempt_log": [shapes.attempt(a) for a in attempts]})
