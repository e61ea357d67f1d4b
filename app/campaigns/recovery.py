"""The reconciler's recoveries: recipients whose worker died mid-send go back
to the queue (or are cancelled with their campaign), and a campaign whose
queued recipients had no job gets one, each said in its history.

Like ``app.campaigns.lifecycle``, nothing here commits: the reconciler runs
each step in a transaction of its own.
"""

from flask import current_app
from sqlalchemy import text

from app import audit
from app.audit import Action, Via
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
