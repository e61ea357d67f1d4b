"""The operator's controls over a campaign that has started: pause, resume,
cancel and retry failed recipients.

    draft ──start──▶ sending ◀──resume── paused
      │                │  └──pause (or too many failures)──▶ │
      │                ├──▶ completed ──retry failed──▶ sending
      └──cancel────────┴──cancel──▶ cancelled ◀──cancel──────┘

Each is one guarded change made under the campaign's claim lock held
exclusively, so it waits for loop turns in progress and none claims after it
commits; two presses of a button, or two operators, change things once. Each
records who did it and why. None of them commits: the caller does, then
enqueues any jobs (``dispatch.enqueue_send``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import text

from app import audit
from app.audit import Action
from app.campaigns.delivery import hold_claim_lock
from app.campaigns.dispatch import bump_counters
from app.campaigns.models import CampaignStatus, ErrorKind
from app.campaigns.parsing import plural
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.models import User


@dataclass(frozen=True)
class Result:
    changed: bool
    notice: str
    # Recipients a dispatch job now has to send; the caller enqueues for them.
    to_send: int = 0


def _change_status(campaign_id: int, from_: tuple[CampaignStatus, ...], to: CampaignStatus, **values) -> bool:
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    return (
        db.session.execute(
            text(
                f"UPDATE campaigns SET status = :to{', ' + assignments if assignments else ''} "
                "WHERE id = :id AND status = ANY(:from_)"
            ),
            {"id": campaign_id, "to": to.value, "from_": [s.value for s in from_], **values},
        ).rowcount
        == 1
    )


def _status(campaign_id: int) -> str:
    return db.session.execute(text("SELECT status FROM campaigns WHERE id = :id"), {"id": campaign_id}).scalar_one()


def pause(campaign_id: int, actor: User | None) -> Result:
    hold_claim_lock(campaign_id, exclusive=True)
    reason = f"Paused by {actor.email}." if actor is not None else "Paused."
    if not _change_status(campaign_id, (CampaignStatus.SENDING,), CampaignStatus.PAUSED, pause_reason=reason):
        return Result(False, f"This campaign is {_status(campaign_id)}; only a sending campaign can be paused.")
    audit.record(Action.CAMPAIGN_PAUSED, actor=actor, campaign_id=campaign_id)
    return Result(True, "Paused. Sends already in flight finish; nothing new is sent until you resume.")


def resume(campaign_id: int, actor: User | None) -> Result:
    hold_claim_lock(campaign_id, exclusive=True)
    # Auto-pause judges a resumed campaign only on attempts made after the resume.
    changed = db.session.execute(
        text(
            """
            UPDATE campaigns SET status = 'sending', pause_reason = NULL, recent_outcomes = ''
            WHERE id = :id AND status = 'paused'
            RETURNING recipient_count - sending_count - sent_count - failed_count - cancelled_count
            """
        ),
        {"id": campaign_id},
    ).scalar_one_or_none()
    if changed is None:
        return Result(False, f"This campaign is {_status(campaign_id)}; only a paused campaign can be resumed.")
    audit.record(Action.CAMPAIGN_RESUMED, actor=actor, campaign_id=campaign_id)
    return Result(True, "Resumed. Recipients already sent are not sent again.", to_send=changed)


def cancel(campaign_id: int, actor: User | None) -> Result:
    """Cancel every recipient not yet sent; sends in flight finish and keep their outcome."""
    hold_claim_lock(campaign_id, exclusive=True)
    if not _change_status(
        campaign_id,
        (CampaignStatus.DRAFT, CampaignStatus.SENDING, CampaignStatus.PAUSED),
        CampaignStatus.CANCELLED,
        pause_reason=None,
    ):
        return Result(False, f"This campaign is {_status(campaign_id)}; it cannot be cancelled.")
    db.session.execute(text("UPDATE campaigns SET finished_at = now() WHERE id = :id"), {"id": campaign_id})
    counts = dict(
        db.session.execute(
            text(
                """
            WITH cancelled AS (
                UPDATE recipients AS r
                SET status = 'cancelled', next_attempt_at = NULL, finished_at = now(), updated_at = now()
                FROM recipients AS before
                WHERE before.id = r.id AND r.campaign_id = :id AND r.status IN ('queued', 'retrying')
                RETURNING before.status AS was
            )
            SELECT was, count(*) FROM cancelled GROUP BY was
            """
            ),
            {"id": campaign_id},
        ).all()
    )
    cancelled = sum(counts.values())
    bump_counters(campaign_id, retrying=-counts.get("retrying", 0), cancelled=cancelled)
    detail = f"{plural(cancelled, 'recipient')} not sent"
    audit.record(Action.CAMPAIGN_CANCELLED, actor=actor, campaign_id=campaign_id, detail=detail)
    return Result(True, f"Cancelled: {detail}. Sends already in flight finish.")


def retry_failed(campaign_id: int, actor: User | None, include_permanent: bool = False) -> Result:
    """Queue the failed recipients again (only those whose failure was transient,
    unless ``include_permanent``), each with RETRY_MAX_ATTEMPTS more attempts.

    A recipient is queued again once however often this runs: a second press
    finds it queued, not failed.
    """
    hold_claim_lock(campaign_id, exclusive=True)
    status = _status(campaign_id)
    if status not in (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.COMPLETED):
        return Result(False, f"This campaign is {status}; its failed recipients cannot be retried.")
    kinds = [ErrorKind.TRANSIENT.value] + ([ErrorKind.PERMANENT.value] if include_permanent else [])
    queued = db.session.execute(
        text(
            """
            UPDATE recipients
            SET status = 'queued', attempt_limit = attempts + :more, last_error = NULL, error_code = NULL,
                error_kind = NULL, provider_message_id = NULL, finished_at = NULL, updated_at = now()
            WHERE campaign_id = :id AND status = 'failed' AND error_kind = ANY(:kinds)
            """
        ),
        {"id": campaign_id, "kinds": kinds, "more": current_app.config["RETRY_MAX_ATTEMPTS"]},
    ).rowcount
    which = "failed" if include_permanent else "temporarily failed"
    if not queued:
        return Result(False, f"No {which} recipients to retry.")
    bump_counters(campaign_id, failed=-queued)
    if status == CampaignStatus.COMPLETED:
        _change_status(campaign_id, (CampaignStatus.COMPLETED,), CampaignStatus.SENDING, finished_at=None)
    detail = f"{plural(queued, 'recipient')} ({'all failures' if include_permanent else 'temporary failures only'})"
    audit.record(Action.CAMPAIGN_RETRIED, actor=actor, campaign_id=campaign_id, detail=detail)
    paused = " They are sent when you resume." if status == CampaignStatus.PAUSED else ""
    return Result(
        True,
        f"Queued {plural(queued, f'{which} recipient')} again.{paused}",
        to_send=queued if status != CampaignStatus.PAUSED else 0,
    )
