"""Pause, resume, cancel and retry failed: the campaign page's buttons, as
endpoints. Each calls the same ``lifecycle`` change through
``controls.carry_out`` as the button does, recorded as the token's person via API."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field
from werkzeug.wrappers import Response

from app.api import shapes
from app.api.auth import api_user
from app.api.body import Empty, Options
from app.api.campaigns import campaign_or_404, refusal
from app.api.shapes import CampaignOut, CampaignStatus, json_response
from app.api.spec import endpoint
from app.audit import Via
from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import controls, lifecycle, live, transitions
from app.campaigns.lifecycle import Result
from app.campaigns.transitions import Change, Failures


def _control(campaign_id: int, change: Change, make: Callable[[], Result]) -> Response:
    campaign_or_404(campaign_id)
    result = controls.carry_out(campaign_id, make)
    if not result.changed:
        raise refusal(campaign_id, change, result.notice)
    return json_response(shapes.campaign(live.fresh(campaign_id)))


@requires(Role.OPERATOR)
@endpoint({200: CampaignOut}, errors=(404, 409), json=Empty, tags=["controls"])
def pause(campaign_id: int, json: Empty) -> Response:
    """Pause a sending campaign

    Sends in flight finish; nothing new is sent until it is resumed. Takes no body."""
    return _control(campaign_id, Change.PAUSE, lambda: lifecycle.pause(campaign_id, api_user(), Via.API))


@requires(Role.OPERATOR)
@endpoint({200: CampaignOut}, errors=(404, 409), json=Empty, tags=["controls"])
def resume(campaign_id: int, json: Empty) -> Response:
    """Resume a paused campaign

    It goes on sending where it stopped: recipients already sent are not sent again. Takes
    no body."""
    return _control(campaign_id, Change.RESUME, lambda: lifecycle.resume(campaign_id, api_user(), Via.API))


@requires(Role.OPERATOR)
@endpoint({200: CampaignOut}, errors=(404, 409), json=Empty, tags=["controls"])
def cancel(campaign_id: int, json: Empty) -> Response:
    """Cancel a campaign

    A draft, scheduled, sending or paused campaign: every recipient not yet sent is
    cancelled; sends in flight finish. Takes no body."""
    return _control(campaign_id, Change.CANCEL, lambda: lifecycle.cancel(campaign_id, api_user(), Via.API))


class RetryIn(Options):
    include_permanent: bool = Field(False, description="Retry permanent failures too, not only temporary ones.")


class RetryOut(BaseModel):
    campaign_id: int
    requeued: int
    status: CampaignStatus


@requires(Role.OPERATOR)
@endpoint({200: RetryOut}, errors=(404, 409), json=RetryIn, tags=["controls"])
def retry_failed(campaign_id: int, json: RetryIn) -> Response:
    """Retry failed recipients

    Queue the failed recipients again (those that failed for good too with
    ``include_permanent``); a sent or failed campaign sends again. ``requeued`` is 0 when
    there was nothing to retry. The body is optional."""
    campaign_or_404(campaign_id)
    result = controls.carry_out(
        campaign_id, lambda: lifecycle.retry_failed(campaign_id, api_user(), _failures(json), Via.API)
    )
    campaign = live.fresh(campaign_id)
    if not result.changed and campaign.status not in transitions.TRANSITIONS[Change.RETRY_FAILED]:
        raise refusal(campaign_id, Change.RETRY_FAILED, result.notice)
    body = {"campaign_id": campaign_id, "requeued": result.count, "status": shapes.api_status(campaign)}
    return json_response(body)


def _failures(json: RetryIn) -> Failures:
    """The contract's choice: temporary failures, or permanent ones too."""
    return Failures.ALL if json.include_permanent else Failures.TRANSIENT
