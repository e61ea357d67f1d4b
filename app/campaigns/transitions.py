"""A campaign's statuses and every change between them: who may make it,
and what may be done with it now.

    scheduled ◀──schedule── draft      (reschedule: scheduled → scheduled)
      │  └──unschedule (or Start refused at its time)──▶ draft
      └──start (at its time, or now)──┐      │
                                      ▼      ▼ start
    paused ──resume──▶ sending ◀──────────────┘
      ▲  pause (or too many failures)  │
      └────────────────────────────────┤
    completed ◀──complete── sending, paused;   retry failed: completed ──▶ sending
    cancelled ◀──cancel── draft, scheduled, sending, paused

``TRANSITIONS`` is the one statement of that diagram: ``lifecycle`` makes
each change from it, and the page, the API and their refusals read it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from app.campaigns.models import CampaignStatus

if TYPE_CHECKING:
    from app.campaigns.models import Campaign

C = CampaignStatus


class Change(StrEnum):
    START = "start"
    # Start at a time to come (app.campaigns.scheduling starts it then).
    SCHEDULE = "schedule"
    RESCHEDULE = "reschedule"
    UNSCHEDULE = "unschedule"
    # A draft's title, channel, message and recipients (app.campaigns.drafts).
    EDIT = "edit"
    DELETE = "delete"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    RETRY_FAILED = "retry_failed"
    # The dispatcher's own.
    AUTO_PAUSE = "auto_pause"
    COMPLETE = "complete"


# Each change: the statuses it may start from, and the status each leads to.
TRANSITIONS: dict[Change, dict[CampaignStatus, CampaignStatus]] = {
    # Start on a scheduled campaign sends it now; the scheduler makes the same change at its time.
    Change.START: {C.DRAFT: C.SENDING, C.SCHEDULED: C.SENDING},
    Change.SCHEDULE: {C.DRAFT: C.SCHEDULED},
    Change.RESCHEDULE: {C.SCHEDULED: C.SCHEDULED},
    # Also the scheduler's, when Start refuses it at its time (a budget).
    Change.UNSCHEDULE: {C.SCHEDULED: C.DRAFT},
    # A scheduled campaign's message and recipients may still change until it
    # starts (the JSON API adds recipients to one): budgets and opt-outs are
    # checked when it starts, on what it is then.
    Change.EDIT: {C.DRAFT: C.DRAFT, C.SCHEDULED: C.SCHEDULED},
    Change.DELETE: {C.DRAFT: C.DRAFT},
    Change.PAUSE: {C.SENDING: C.PAUSED},
    Change.RESUME: {C.PAUSED: C.SENDING},
    Change.CANCEL: {C.DRAFT: C.CANCELLED, C.SCHEDULED: C.CANCELLED, C.SENDING: C.CANCELLED, C.PAUSED: C.CANCELLED},
    # A completed campaign sends again; one still sending or paused stays so.
    Change.RETRY_FAILED: {C.SENDING: C.SENDING, C.PAUSED: C.PAUSED, C.COMPLETED: C.SENDING},
    Change.AUTO_PAUSE: {C.SENDING: C.PAUSED},
    Change.COMPLETE: {C.SENDING: C.COMPLETED, C.PAUSED: C.COMPLETED},
}
# What staff may do, in the order the page offers it.
OPERATOR_CHANGES = (
    Change.START,
    Change.SCHEDULE,
    Change.RESCHEDULE,
    Change.UNSCHEDULE,
    Change.EDIT,
    Change.PAUSE,
    Change.RESUME,
    Change.RETRY_FAILED,
    Change.CANCEL,
    Change.DELETE,
)


def may(campaign: Campaign, change: Change) -> bool:
    """Whether ``change`` can be made to the campaign as it is now."""
    if campaign.status not in TRANSITIONS[change]:
        return False
    if change is Change.RETRY_FAILED:
        return campaign.failed_count > 0
    return True


def allowed(campaign: Campaign) -> list[Change]:
    """The changes staff may make now: for the page's controls, the views and the API alike."""
    return [change for change in OPERATOR_CHANGES if may(campaign, change)]
