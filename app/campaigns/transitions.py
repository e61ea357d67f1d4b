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

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING

from app.campaigns.models import CampaignStatus, ErrorKind

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
    # The message, to the operator's own address, before Start (app.campaigns.test_sends).
    SEND_TEST = "send_test"
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
    # Changes no status: a test is before Start, while the message may still change.
    Change.SEND_TEST: {C.DRAFT: C.DRAFT, C.SCHEDULED: C.SCHEDULED},
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
    Change.SEND_TEST,
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


class Failures(StrEnum):
    """Which failed recipients Retry failed queues again."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    ALL = "all"

    @property
    def kinds(self) -> list[str]:
        """The error kinds (``ErrorKind``) of the failures it takes."""
        both = [ErrorKind.TRANSIENT.value, ErrorKind.PERMANENT.value]
        return both if self is Failures.ALL else [self.value]

    def of(self, campaign: Campaign) -> int:
        """How many of the campaign's failed recipients it takes."""
        return {
            Failures.TRANSIENT: campaign.failed_transient_count,
            Failures.PERMANENT: campaign.failed_permanent_count,
            Failures.ALL: campaign.failed_count,
        }[self]


def retry_choices(campaign: Campaign) -> list[Failures]:
    """What Retry failed may take now, each with something to retry: a kind
    that has failures, and all of them when both kinds have."""
    if not may(campaign, Change.RETRY_FAILED):
        return []
    kinds = [f for f in (Failures.TRANSIENT, Failures.PERMANENT) if f.of(campaign) > 0]
    return [*kinds, Failures.ALL] if len(kinds) == 2 else kinds


def allowed(campaign: Campaign) -> list[Change]:
    """The changes staff may make now: for the page's controls, the views and the API alike."""
    return [change for change in OPERATOR_CHANGES if may(campaign, change)]


# How a refusal names each change the operator makes: "can {done}".
DONE = {
    Change.START: "be started",
    Change.SCHEDULE: "be scheduled",
    Change.RESCHEDULE: "be rescheduled",
    Change.UNSCHEDULE: "be unscheduled",
    Change.EDIT: "be edited",
    Change.SEND_TEST: "have a test sent",
    Change.DELETE: "be deleted",
    Change.PAUSE: "be paused",
    Change.RESUME: "be resumed",
    Change.CANCEL: "be cancelled",
    Change.RETRY_FAILED: "have its failed recipients retried",
}


def sources(change: Change) -> list[CampaignStatus]:
    """The statuses ``change`` may be made from; Schedule's include
    Reschedule's, since the one control does both."""
    found = list(TRANSITIONS[change])
    if change is Change.SCHEDULE:
        found += [status for status in TRANSITIONS[Change.RESCHEDULE] if status not in found]
    return found


def as_stored(status: CampaignStatus) -> list[str]:
    """A status's name as the page says it: its own."""
    return [status.value]


def which(change: Change, names: Callable[[CampaignStatus], list[str]] = as_stored) -> str:
    """The campaigns ``change`` may be made to, from ``TRANSITIONS``: ``a draft
    or a scheduled campaign``. ``names`` says how each status reads (the API
    says ``sent`` or ``failed`` for ``completed``)."""
    kinds = ["a draft"] if C.DRAFT in sources(change) else []
    others = [name for status in sources(change) if status != C.DRAFT for name in names(status)]
    if others:
        listed = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} or {others[-1]}"
        kinds.append(f"a {listed} campaign")
    return " or ".join(kinds)


def only(change: Change, names: Callable[[CampaignStatus], list[str]] = as_stored) -> str:
    """``only a sending campaign can be paused``: the rule a refusal states."""
    return f"only {which(change, names)} can {DONE[change]}"


def refused(change: Change, status: str) -> str:
    """Why ``change`` is refused to a campaign that is ``status``, as the page says it."""
    return f"This campaign is {status}; {only(change)}."
