"""The reconciler's recoveries: recipients whose worker died mid-send go back
to the queue (or are cancelled with their campaign), a campaign whose last
job died before completing it is completed, and a sending campaign owed work
(queued recipients, or retries now due) with no job gets one: after a
retry's wait, a worker crash, or Redis losing its queues. Each is said in the
campaign's history.

``recover_expired_leases`` and ``JoblessCampaigns`` are the reconciler's
periodic tasks (``jobs.periodic``): each step of theirs commits in a
transaction of its own before the next, so nothing is read inside an old
transaction, whose snapshot and ``now()`` would be stale, and a page is told
of a change only once it is committed. The steps themselves, like
``app.campaigns.lifecycle``, do not commit.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

from flask import current_app
from sqlalchemy import text

from app import audit, jobqueue
from app.audit import Action, Via
from app.campaigns import delivery, lifecycle, live
from app.campaigns.lifecycle import bump_counters, hold_claim_lock
from app.campaigns.models import AttemptOutcome, CampaignStatus, RecipientStatus, lit
from app.extensions import db
from app.formatting import number, plural

C = CampaignStatus
R = RecipientStatus

LEASE_EXPIRED_NOTE = "The worker stopped before the provider answered; sent again with the same idempotency key."
CANCELLED_UNKNOWN_NOTE = (
    "The worker stopped before the provider answered, and the campaign was cancelled "
    "before it could ask again: the provider may have delivered it."
)


def recover_expired_leases() -> list[int]:
    """Reap every campaign's expired leases, each campaign in a transaction of
    its own, shown on its pages once committed; returns the campaigns reaped."""
    reaped: list[int] = []
    campaign_ids = campaigns_with_expired_leases()
    db.session.commit()
    for campaign_id in campaign_ids:
        recovered = reap_expired_leases(campaign_id)
        db.session.commit()
        if recovered:
            reaped.append(campaign_id)
            live.show_campaign_change(campaign_id)
    return reaped


def campaigns_with_expired_leases() -> list[int]:
    """Looked for among the sending rows of campaigns that have any, through the
    ``(campaign_id, status, id)`` index: a few hundred rows, not the table.

    ``clock_timestamp()``, not ``now()``: the lease ran out by the clock, not by
    when this transaction happened to start.
    """
    return list(
        db.session.scalars(
            text(
                f"""
                SELECT c.id FROM campaigns AS c
                WHERE c.sending_count > 0 AND EXISTS (
                    SELECT 1 FROM recipients AS r
                    WHERE r.campaign_id = c.id AND r.status = {lit(R.SENDING)}
                      AND r.lease_expires_at < clock_timestamp())
                """
            )
        )
    )


def reap_expired_leases(campaign_id: int) -> int:
    """Put recipients whose worker died mid-send back in the queue; returns how many.

    They are sent again under the same idempotency key, so one the provider had
    already accepted is not delivered twice. In a cancelled campaign they are
    cancelled instead, saying the provider may have them.
    """
    hold_claim_lock(campaign_id)
    rows = db.session.execute(
        text(
            f"""
            WITH expired AS (
                UPDATE recipients AS r
                SET status = CASE WHEN c.status = {lit(C.CANCELLED)} THEN {lit(R.CANCELLED)} ELSE {lit(R.QUEUED)} END,
                    last_error = CASE WHEN c.status = {lit(C.CANCELLED)} THEN :unknown END,
                    finished_at = CASE WHEN c.status = {lit(C.CANCELLED)} THEN now() END,
                    -- An attempt the provider never answered does not use up a retry.
                    attempt_limit = COALESCE(r.attempt_limit, :max_attempts) + 1,
                    lease_expires_at = NULL, updated_at = now()
                FROM campaigns AS c
                WHERE r.campaign_id = :campaign_id AND c.id = r.campaign_id
                  AND r.status = {lit(R.SENDING)} AND r.lease_expires_at < clock_timestamp()
                RETURNING r.id, r.attempts, r.attempt_started_at, r.status
            ), logged AS (
                INSERT INTO delivery_attempts (campaign_id, recipient_id, attempt, started_at, outcome, error_message)
                SELECT :campaign_id, id, attempts, attempt_started_at, {lit(AttemptOutcome.LEASE_EXPIRED)}, :note
                FROM expired
            )
            SELECT status, count(*) FROM expired GROUP BY status
            """
        ),
        {
            "campaign_id": campaign_id,
            "note": LEASE_EXPIRED_NOTE,
            "unknown": CANCELLED_UNKNOWN_NOTE,
            "max_attempts": current_app.config["RETRY_MAX_ATTEMPTS"],
        },
    ).all()
    counts: dict[str, int] = dict(rows)
    reaped = sum(counts.values())
    cancelled = counts.get(R.CANCELLED, 0)
    bump_counters(campaign_id, sending=-reaped, cancelled=cancelled)
    if reaped:
        what = "were cancelled" if cancelled else "went back to the queue"
        audit.record(
            Action.CAMPAIGN_RECOVERED,
            via=Via.DISPATCHER,
            campaign_id=campaign_id,
            detail=f"{number(reaped)} recipients whose worker stopped mid-send {what}",
        )
    return reaped


def note_restarted(campaign_id: int, queued: int) -> None:
    """The reconciler enqueued a job for a campaign whose queued recipients had none."""
    audit.record(
        Action.CAMPAIGN_RECOVERED,
        via=Via.DISPATCHER,
        campaign_id=campaign_id,
        detail=f"dispatch restarted: {plural(queued, 'queued recipient')} had no job",
    )


class Sending(NamedTuple):
    id: int
    queued: int
    # Queued or waiting for a retry.
    owed: int
    in_flight: int


@dataclass
class Restarts:
    """What one look at the sending campaigns found and did."""

    completed: list[int] = field(default_factory=list)
    # Owed work with no job queued or running.
    jobless: list[int] = field(default_factory=list)
    enqueued: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.completed or self.enqueued)

    def __str__(self) -> str:
        done = {"completed": self.completed, "enqueued": self.enqueued}
        return ", ".join(f"{what} {ids}" for what, ids in done.items() if ids)


def restart_jobless(jobless_before: set[int] | None = None) -> Restarts:
    """Complete each sending campaign with nothing left, and enqueue a job for
    each one owed work (queued recipients, or retries now due) that has no
    job queued or running; returns what it found and did.

    Only one the previous look found jobless too (``jobless_before``; None
    skips that wait) gets a job: a worker that has just taken a job off the
    queue has not beaten its heartbeat yet.
    """
    done = Restarts()
    campaigns = _sending()
    db.session.commit()
    with_jobs = jobqueue.campaigns_with_jobs(c.id for c in campaigns)
    for campaign in campaigns:
        if campaign.owed == 0 and campaign.in_flight == 0:
            # Its last job died between its last send and completing it.
            completed = lifecycle.complete_if_done(campaign.id)
            db.session.commit()
            if completed:
                done.completed.append(campaign.id)
                live.show_campaign_change(campaign.id)
            continue
        if campaign.id in with_jobs:
            continue
        if campaign.queued == 0:
            due = delivery.retry_due(campaign.id)
            db.session.commit()
            if not due:
                continue
        done.jobless.append(campaign.id)
        if jobless_before is not None and campaign.id not in jobless_before:
            continue
        if campaign.queued > 0:
            note_restarted(campaign.id, campaign.queued)
            db.session.commit()
        jobqueue.enqueue_send(campaign.id, campaign.owed)
        done.enqueued.append(campaign.id)
    return done


class JoblessCampaigns:
    """The reconciler's periodic task: ``restart_jobless``, remembering between
    calls which campaigns the last one found jobless. A process's first look
    enqueues nothing: it has no previous one to agree with."""

    def __init__(self) -> None:
        self.jobless: set[int] = set()

    def __call__(self) -> Restarts:
        found = restart_jobless(self.jobless)
        self.jobless = set(found.jobless)
        return found


def _sending() -> list[Sending]:
    """Every sending campaign, read once a look: its counters say what it is owed."""
    rows = db.session.execute(
        text(
            f"""
            SELECT id,
                   recipient_count - sending_count - retrying_count - {lifecycle.DONE},
                   recipient_count - sending_count - {lifecycle.DONE},
                   sending_count
            FROM campaigns WHERE status = {lit(C.SENDING)}
            """
        )
    ).all()
    return [Sending(*row) for row in rows]
