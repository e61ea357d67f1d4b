"""Carrying out a change to a campaign, whichever door it came through (a
button on its page, the JSON API): make it, commit it, then enqueue the jobs
it owes and show it on every open page of the campaign.

In that order: a job must never find its campaign not yet ``sending``, and a
page must never show what the database could still roll back.
"""

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from redis.exceptions import RedisError

from app import jobqueue
from app.campaigns import live
from app.extensions import db

log = logging.getLogger(__name__)


class Outcome(Protocol):
    """What a change says of itself: ``lifecycle.Result``, ``adding.Added``."""

    @property
    def changed(self) -> bool: ...

    @property
    def to_send(self) -> int: ...


Done = TypeVar("Done", bound=Outcome)


def carry_out(campaign_id: int, change: Callable[[], Done]) -> Done:
    """Run ``change`` (a ``lifecycle`` or ``adding`` function, bound to its
    arguments), commit, enqueue for what it owes, and publish it live if it
    changed anything.

    A refused change is rolled back whole: a send whose Start a budget
    refused keeps none of the recipients it added. An exception from
    ``change`` leaves the rollback to the caller."""
    result = change()
    if not result.changed:
        db.session.rollback()
        return result
    commit_and_announce(campaign_id, result.to_send)
    return result


def commit_and_announce(campaign_id: int, to_send: int) -> None:
    """Commit a change made to the campaign, then enqueue jobs for the
    ``to_send`` recipients it owes, then show it on every open page of the
    campaign: the Start button, the API and the scheduler's start alike."""
    db.session.commit()
    if to_send:
        try:
            jobqueue.enqueue_send(campaign_id, to_send)
        except RedisError as error:
            # Committed all the same: the reconciler enqueues what the database says is owed.
            log.warning("campaign %s: a change was committed but Redis was unreachable: %s", campaign_id, error)
    live.show_campaign_change(campaign_id)
