"""Scheduled campaigns start by themselves: the scheduler's pass.

The truth is in PostgreSQL: a campaign is ``scheduled`` with a
``scheduled_at``, and nothing about it lives in Redis, so a pass after any
outage finds whatever fell due meanwhile. Each due campaign is taken with
``FOR UPDATE SKIP LOCKED`` and started in a transaction of its own, through
the same guarded change as the Start button (``lifecycle.start``: the budget
refusal, the opt-out skipping): several schedulers each take different
campaigns, and none can start one twice. After each commit its jobs are
enqueued and every open page is told (``live.show_campaign_change``), as
after Start.

At its time a campaign may no longer be startable as it was scheduled: one
with no recipients is cancelled, one its channel's budget refuses goes back
to draft with the reason on its page; each says why in its history.
"""

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.audit import Via
from app.campaigns import controls, lifecycle
from app.campaigns.models import CampaignStatus, lit
from app.extensions import db

log = logging.getLogger(__name__)

# One due campaign, locked for this transaction, skipping any another scheduler holds.
# Due by the transaction's own time, now(), which its start also records as
# started_at: by clock_timestamp() a campaign could be found due a moment
# after now() and so be recorded as started before its time.
_NEXT_DUE = text(
    f"""
    SELECT id, scheduled_at, recipient_count, COALESCE(:now, now()) AS now
    FROM campaigns
    WHERE status = {lit(CampaignStatus.SCHEDULED)} AND scheduled_at <= COALESCE(:now, now())
      AND id <> ALL(CAST(:passed AS integer[]))
    ORDER BY scheduled_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
    """
)
NO_RECIPIENTS = "no recipients at its scheduled time, so nothing to send"


def start_due(now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose time has come (by ``now``, else
    the database's clock); returns those started, in the order they were due.

    Commits: each campaign in a transaction of its own, then its jobs are
    enqueued and its pages told. Call it with nothing uncommitted.
    """
    started: list[int] = []
    passed: list[int] = []
    while True:
        row = db.session.execute(_NEXT_DUE, {"now": now, "passed": passed}).one_or_none()
        if row is None:
            db.session.commit()
            return started
        passed.append(row.id)
        try:
            to_send = _start_one(row.id, row.recipient_count, (row.now - row.scheduled_at).total_seconds())
            # Enqueued and shown only once committed; a cancel or a refusal is shown too.
            controls.commit_and_announce(row.id, to_send or 0)
        except DBAPIError as error:
            # Its neighbours still start; this one is tried again next pass.
            db.session.rollback()
            log.warning("campaign %s: scheduled start failed, tried again next pass: %s", row.id, error)
            continue
        if to_send is not None:
            started.append(row.id)


def _start_one(campaign_id: int, recipients: int, late_seconds: float) -> int | None:
    """Start one due campaign, its row locked by the caller; returns the
    recipients to send, or None if it was cancelled or refused instead."""
    if recipients == 0:
        lifecycle.cancel(campaign_id, None, via=Via.SCHEDULER, reason=NO_RECIPIENTS)
        return None
    result = lifecycle.start(campaign_id, None, via=Via.SCHEDULER, note=lateness(late_seconds))
    if result.changed:
        return result.to_send
    # Refused (a budget): a draft again, saying why, until someone acts on it.
    reason = f"Not started at its scheduled time. {result.refusal or result.notice} It is a draft again."
    lifecycle.unschedule(campaign_id, None, via=Via.SCHEDULER, reason=reason)
    return None


def lateness(seconds: float) -> str:
    """What the history says about a start later than SCHEDULE_LATE_SECONDS after its time."""
    if seconds <= current_app.config["SCHEDULE_LATE_SECONDS"]:
        return ""
    minutes = max(round(seconds / 60), 1)
    return (
        f"{minutes} min late because no scheduler was running (or none could reach the database) "
        "when it fell due; started on recovery"
    )
