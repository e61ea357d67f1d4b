"""Sending a campaign: to customers by id (``/send``), to its pasted
recipients (``/start``), and a preview of one customer's message.

``/send`` adds the customers and starts the campaign in one transaction
(``adding.send_to_contacts``), then commits, enqueues and publishes through
``controls.carry_out``, as the Start button does.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator
from werkzeug.wrappers import Response

from app.api import shapes
from app.api.auth import api_user
from app.api.body import Empty, Id, StrictModel
from app.api.campaigns import campaign_or_404, refusal
from app.api.limits import counts_as_send
from app.api.problems import Problem
from app.api.shapes import CustomerOut, json_response
from app.api.spec import endpoint
from app.audit import Via
from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import adding, controls, lifecycle, live
from app.campaigns.transitions import Change
from app.contacts.book import values_of
from app.contacts.models import Contact
from app.extensions import db
from app.formatting import plural
from app.messaging import placeholders

MAX_CUSTOMERS = 50_000
# A problem lists at most this many ids at fault; its detail says how many in all.
LISTED = 100


class SendIn(StrictModel):
    customer_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_CUSTOMERS)] = Field(
        description="1–50,000 customer ids; repeats are sent to once."
    )


class SendStatus(StrEnum):
    """The campaign's status once its recipients are in: sending, scheduled (they wait for
    its time), or sent when every one of them had opted out and nothing was left to send."""

    SENDING = "sending"
    SCHEDULED = "scheduled"
    SENT = "sent"


class SendOut(BaseModel):
    campaign_id: int
    messages_queued: int = Field(description="The campaign's recipients now queued or waiting.")
    status: SendStatus


def _ids_problem(status: int, detail: str, items: list[tuple[int, int]], message: str) -> Problem:
    errors = [{"field": f"customer_ids[{at}]", "message": message.format(id=cid)} for at, cid in items[:LISTED]]
    more = f" (the first {LISTED} are listed)" if len(items) > LISTED else ""
    return Problem(status, f"{detail}{more}.", errors=errors)


@requires(Role.OPERATOR)
@counts_as_send
@endpoint({202: SendOut}, errors=(404, 409), json=SendIn, tags=["sending"])
def send(campaign_id: int, json: SendIn) -> Response:
    """Send a campaign to customers

    All of them or none: 404 names the ids that do not exist. A draft starts sending; a
    scheduled campaign keeps them for its time (``status`` says which). Counts against the
    send rate limit."""
    campaign_or_404(campaign_id)
    seen: dict[str, Any] = {}

    def change() -> lifecycle.Result:
        result = adding.send_to_contacts(campaign_id, json.customer_ids, actor=api_user(), via=Via.API)
        # Read in the transaction: a fast worker could finish the campaign before we read it after.
        seen["status"] = shapes.api_status(live.fresh(campaign_id))
        return result

    try:
        result = controls.carry_out(campaign_id, change)
    except adding.UnknownContacts as error:
        raise _ids_problem(
            404, f"{_no_such(len(error.missing))}; nothing was sent", error.missing, "there is no customer {id}"
        ) from None
    except adding.Unreachable as error:
        raise _ids_problem(
            400, f"{error}; nothing was sent", error.contacts, f"customer {{id}} has no {error.what}"
        ) from None
    except adding.TooLong as error:
        raise _too_long(error) from None
    if not result.changed:
        # Refused by its status (in [003]'s words), or a draft refused by its budget.
        raise refusal(campaign_id, Change.EDIT, result.notice, "Campaign already processed")
    body = {"campaign_id": campaign_id, "messages_queued": result.count, "status": seen["status"]}
    return json_response(body, 202)


def _no_such(count: int) -> str:
    """``1 customer id does not exist``, ``3 customer ids do not exist``."""
    return f"{plural(count, 'customer id')} {'does' if count == 1 else 'do'} not exist"


def _too_long(error: adding.TooLong) -> Problem:
    report = error.report
    return Problem(
        400,
        f"The message is too long for {report.too_long_count} of these customers; nothing was sent.",
        errors=[{"field": "customer_ids", "message": why} for _, why in report.too_long],
    )


@requires(Role.OPERATOR)
@counts_as_send
@endpoint({202: SendOut}, errors=(404, 409), json=Empty, tags=["sending"])
def start(campaign_id: int, json: Empty) -> Response:
    """Start a campaign

    Send now to the recipients added from pasted lines (addRecipients), as the page's Start
    dispatch does; a scheduled campaign starts at once. Takes no body. Counts against the send
    rate limit."""
    campaign_or_404(campaign_id)
    seen: dict[str, Any] = {}

    def change() -> lifecycle.Result:
        result = lifecycle.start(campaign_id, api_user(), Via.API)
        # Read in the transaction, as /send does: read after, it could be a fast worker's "sent".
        seen["status"] = shapes.api_status(live.fresh(campaign_id))
        return result

    result = controls.carry_out(campaign_id, change)
    if not result.changed:
        raise refusal(campaign_id, Change.START, result.notice)
    body = {"campaign_id": campaign_id, "messages_queued": result.to_send, "status": seen["status"]}
    return json_response(body, 202)


class PreviewIn(StrictModel):
    customer_id: Id
    override_template: Annotated[str, StringConstraints(max_length=4000)] | None = Field(
        None, description="Rendered instead of the campaign's base_template; absent, null or empty: not."
    )

    @field_validator("override_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value and (unknown := placeholders.unknown(value)):
            raise ValueError(placeholders.unknown_message(unknown))
        return value or None


class PreviewOut(BaseModel):
    rendered_message: str
    used_template: str
    customer: CustomerOut


@requires(Role.VIEWER)
@endpoint({200: PreviewOut}, errors=(404,), json=PreviewIn, tags=["sending"])
def preview(campaign_id: int, json: PreviewIn) -> Response:
    """Preview a customer's message

    The message as this customer would get it, from the campaign's template or from
    ``override_template``. Changes nothing."""
    campaign = campaign_or_404(campaign_id)
    customer = db.session.get(Contact, json.customer_id)
    if customer is None:
        raise Problem(404, f"There is no customer {json.customer_id}.")
    template = json.override_template or campaign.message
    body = {
        "rendered_message": placeholders.render(template, values_of(customer)),
        "used_template": template,
        "customer": shapes.customer(customer),
    }
    return json_response(body)
