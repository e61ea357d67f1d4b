"""A campaign's life: every change of its status (``transitions``), made.

Every change below is one guarded ``UPDATE … WHERE status IN (its sources)``
built from ``TRANSITIONS``, so two requests, two jobs, or a request and a
job racing each other can never both win. The operator's changes run under
the campaign's claim lock held exclusively, so they wait for dispatch loop
turns in progress and none claims a recipient after they commit. Counters
change in the transaction that changes the rows they count, and the history
records who made each change and why.

None of these functions commits: the caller does, then enqueues any jobs
(``app.jobqueue``) and shows the change (``app.campaigns.live``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from flask import current_app
from sqlalchemy import CursorResult, RowMapping, TextClause, text

from app import audit, zones
from app.audit import Action, Via
from app.campaigns import cost, skipping
from app.campaigns.models import RATE_SECONDS, CampaignStatus, ErrorKind, RecipientStatus, lit
from app.campaigns.transitions import TRANSITIONS, Change, Failures, refused
from app.clock import utcnow
from app.extensions import db
from app.formatting import plural, when

if TYPE_CHECKING:
    from app.auth.models import User

C = CampaignStatus
R = RecipientStatus


@dataclass(frozen=True)
class Result:
    changed: bool
    notice: str
    # Recipients a dispatch job now has to send; the caller enqueues for them.
    to_send: int = 0
    # Why Start was refused by a rule (a budget), not by the campaign's status.
    refusal: str = ""
    # Recipients the change touched (Retry failed: how many it queued again),
    # which the JSON API reports even when a paused campaign owes no job yet.
    count: int = 0


# pg_advisory_xact_lock(CLAIM_LOCK, campaign_id): the first key names what the lock is for.
CLAIM_LOCK = 7301


def hold_claim_lock(campaign_id: int, exclusive: bool = False) -> None:
    """Until commit: shared by dispatch loop turns, exclusive for an operator's change."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    db.session.execute(text(f"SELECT {function}(:lock, :id)"), {"lock": CLAIM_LOCK, "id": campaign_id})


def lock_for(campaign_id: int, change: Change) -> RowMapping | None:
    """The campaign's row, locked until commit, if ``change`` may be made to it
    now (its status is one of the change's sources); else None."""
    row = (
        db.session.execute(text("SELECT * FROM campaigns WHERE id = :id FOR UPDATE"), {"id": campaign_id})
        .mappings()
        .one_or_none()
    )
    return row if row is not None and row["status"] in TRANSITIONS[change] else None


def _move(campaign_id: int, change: Change, also: str = "", when: str = "", **params: object) -> bool:
    """Make ``change`` if the campaign is in one of its source statuses (and
    ``when`` holds), setting ``also`` as well; False if it was not."""
    moves = TRANSITIONS[change]
    # A scheduled start's refusal is shown until the campaign's next change.
    if "schedule_refusal" not in also:
        also = f"schedule_refusal = NULL{', ' + also if also else ''}"
    cases = " ".join(f"WHEN {lit(source)} THEN {lit(target)}" for source, target in moves.items())
    sources = ", ".join(lit(source) for source in moves)
    statement = (
        f"UPDATE campaigns SET status = CASE status {cases} END, {also} "
        f"WHERE id = :id AND status IN ({sources}){' AND ' + when if when else ''}"
    )
    return _rowcount(text(statement), {"id": campaign_id, **params}) == 1


def _rowcount(statement: TextClause, params: dict[str, object]) -> int:
    """Rows an UPDATE changed."""
    return cast(CursorResult, db.session.execute(statement, params)).rowcount


def _status(campaign_id: int, lock: bool = False) -> str:
    statement = f"SELECT status FROM campaigns WHERE id = :id{' FOR UPDATE' if lock else ''}"
    return db.session.execute(text(statement), {"id": campaign_id}).scalar_one()


# Seconds since the send rate was last brought up to date; a longer gap than
# RATE_GAP_SECONDS (a stalled worker) counts as that much sending time.
_SINCE_RATE = "LEAST(GREATEST(extract(epoch FROM clock_timestamp() - coalesce(rate_at, clock_timestamp())), 0), :gap)"
RATE_GAP_SECONDS = 30.0


# The recipients that are done with: sent, failed, cancelled or skipped. As SQL on a campaigns row.
DONE = "(sent_count + failed_count + cancelled_count + skipped_count)"


def bump_counters(campaign_id: int, progress: int | None = None, **deltas: int) -> None:
    """Add to the campaign's counters (``sending=``, ``retrying=``, ``sent=``,
    ``failed=``, ``failed_permanent=``, ``cancelled=``, ``skipped=``), in the
    transaction that changes the rows they count.

    ``progress``, from a send job's loop turn: the sends it finished, which
    also bring the campaign's recent send rate up to date (``Campaign.send_rate``).
    """
    deltas = {name: delta for name, delta in deltas.items() if delta}
    assignments = [f"{name}_count = {name}_count + :{name}" for name in deltas]
    params: dict[str, object] = {"id": campaign_id, **deltas}
    if progress is not None:
        assignments += [
            f"rate = rate * exp(-{_SINCE_RATE} / :tau) + :progress / :tau",
            f"active_seconds = active_seconds + {_SINCE_RATE}",
            "rate_at = clock_timestamp()",
        ]
        params.update(progress=progress, tau=RATE_SECONDS, gap=RATE_GAP_SECONDS)
    if assignments:
        db.session.execute(text(f"UPDATE campaigns SET {', '.join(assignments)} WHERE id = :id"), params)


# Start and Retry failed measure the send rate afresh.
_RATE_AFRESH = "rate = 0, active_seconds = 0, rate_at = now()"


def _refused(campaign_id: int, change: Change) -> Result:
    return Result(False, refused(change, _status(campaign_id)))


# The operator's changes.


def start(campaign_id: int, actor: User | None, via: Via = Via.WEB, note: str = "") -> Result:
    """Start dispatch, if the campaign is a draft or scheduled, has recipients,
    and its channel's monthly budget allows what it is estimated to cost (kept
    on the row). Recipients whose address has opted out of the channel are
    skipped, and not paid for. ``note`` goes in the history (the scheduler's lateness)."""
    row = lock_for(campaign_id, Change.START)
    # A draft made through the API has none until some are added; started, it would never complete.
    if row is not None and row["recipient_count"] == 0:
        return Result(False, "This campaign has no recipients yet: add some, then start it.")
    estimate = cost.at_start(row, current_app.config) if row is not None else None
    if row is not None and estimate and (refusal := cost.budget_refusal(row["channel"], estimate, current_app.config)):
        return Result(False, f"{refusal} Nothing was changed.", refusal=refusal)
    also = f"started_at = now(), {_RATE_AFRESH}, estimated_cost = :cost"
    if not _move(campaign_id, Change.START, also, cost=estimate.amount if estimate else None):
        status = _status(campaign_id)
        if status == C.SENDING:
            return Result(False, "This campaign is already dispatching.")
        return Result(False, refused(Change.START, status))
    assert row is not None
    skipped_now = skipping.skip(campaign_id, row["channel"])
    bump_counters(campaign_id, skipped=skipped_now)
    details = [note, f"{plural(skipped_now, 'recipient')} skipped: opted out" if skipped_now else ""]
    audit.record(
        Action.CAMPAIGN_STARTED, actor=actor, via=via, campaign_id=campaign_id, detail="; ".join(filter(None, details))
    )
    if skipped_now and complete_if_done(campaign_id):
        return Result(True, "Nothing to send: every recipient has opted out. The campaign is complete.")
    return Result(True, "Dispatch started.", to_send=owed(campaign_id))


def schedule(campaign_id: int, at: datetime, actor: User | None, via: Via = Via.WEB) -> Result:
    """Start the campaign by itself at ``at`` (aware): a draft is scheduled,
    a scheduled one rescheduled. A time not in the future is refused.

    Budgets and opt-outs are checked when it starts, not now. The history
    keeps the instant, and each reader reads it in their own zone."""
    if at.tzinfo is None:
        raise ValueError("a scheduled time must be timezone-aware")
    said = when(at, zones.of(actor))
    if at <= utcnow():
        return Result(False, f"{said} is in the past: choose a time to come. Nothing was changed.")
    # A draft is scheduled, a scheduled campaign rescheduled; the guarded move refuses any other.
    was_draft = _status(campaign_id, lock=True) == C.DRAFT
    change = Change.SCHEDULE if was_draft else Change.RESCHEDULE
    if not _move(campaign_id, change, "scheduled_at = :at", at=at):
        return _refused(campaign_id, Change.SCHEDULE)
    action = Action.CAMPAIGN_SCHEDULED if was_draft else Action.CAMPAIGN_RESCHEDULED
    audit.record(action, actor=actor, via=via, campaign_id=campaign_id, detail="to start at", about_at=at)
    return Result(True, f"Scheduled: it starts by itself at {said}.")


def unschedule(campaign_id: int, actor: User | None, via: Via = Via.WEB, reason: str = "") -> Result:
    """Back to draft: it no longer starts by itself. ``reason``, from the
    scheduler (Start refused it at its time), is shown on its page and in the history."""
    also = "scheduled_at = NULL, schedule_refusal = :reason"
    if not _move(campaign_id, Change.UNSCHEDULE, also, reason=reason or None):
        return _refused(campaign_id, Change.UNSCHEDULE)
    action = Action.CAMPAIGN_START_REFUSED if reason else Action.CAMPAIGN_UNSCHEDULED
    audit.record(action, actor=actor, via=via, campaign_id=campaign_id, detail=reason)
    return Result(True, reason or "Unscheduled: it is a draft again, and starts only when someone starts it.")


def pause(campaign_id: int, actor: User | None, via: Via = Via.WEB) -> Result:
    hold_claim_lock(campaign_id, exclusive=True)
    reason = f"Paused by {actor.email}." if actor is not None else "Paused."
    if not _move(campaign_id, Change.PAUSE, "pause_reason = :reason", reason=reason):
        return _refused(campaign_id, Change.PAUSE)
    audit.record(Action.CAMPAIGN_PAUSED, actor=actor, via=via, campaign_id=campaign_id)
    return Result(True, "Paused. Messages already with the provider finish; nothing new is sent until you resume.")


def resume(campaign_id: int, actor: User | None, via: Via = Via.WEB) -> Result:
    hold_claim_lock(campaign_id, exclusive=True)
    # Auto-pause judges a resumed campaign only on attempts made after the resume.
    # Paused time is not sending time: the rate's clock starts again now.
    if not _move(campaign_id, Change.RESUME, "pause_reason = NULL, recent_outcomes = '', rate_at = now()"):
        return _refused(campaign_id, Change.RESUME)
    audit.record(Action.CAMPAIGN_RESUMED, actor=actor, via=via, campaign_id=campaign_id)
    return Result(True, "Resumed. Recipients already sent are not sent again.", to_send=owed(campaign_id))


def cancel(campaign_id: int, actor: User | None, via: Via = Via.WEB, reason: str = "") -> Result:
    """Cancel every recipient not yet sent; sends in flight finish and keep their outcome."""
    hold_claim_lock(campaign_id, exclusive=True)
    if not _move(campaign_id, Change.CANCEL, "pause_reason = NULL, finished_at = now()"):
        return _refused(campaign_id, Change.CANCEL)
    counts: dict[str, int] = dict(
        db.session.execute(
            text(
                f"""
                WITH cancelled AS (
                    UPDATE recipients AS r
                    SET status = {lit(R.CANCELLED)}, next_attempt_at = NULL, finished_at = now(), updated_at = now()
                    FROM recipients AS before
                    WHERE before.id = r.id AND r.campaign_id = :id AND r.status IN ({lit(R.QUEUED)}, {lit(R.RETRYING)})
                    RETURNING before.status AS was
                )
                SELECT was, count(*) FROM cancelled GROUP BY was
                """
            ),
            {"id": campaign_id},
        ).all()
    )
    cancelled = sum(counts.values())
    bump_counters(campaign_id, retrying=-counts.get(R.RETRYING, 0), cancelled=cancelled)
    detail = reason or f"{plural(cancelled, 'recipient')} not sent"
    audit.record(Action.CAMPAIGN_CANCELLED, actor=actor, via=via, campaign_id=campaign_id, detail=detail)
    in_flight = db.session.execute(
        text("SELECT sending_count FROM campaigns WHERE id = :id"), {"id": campaign_id}
    ).scalar_one()
    if not in_flight:
        return Result(True, f"Cancelled: {detail}.")
    # Their outcomes come later: a send that then fails for a reason worth
    # retrying is cancelled too, so the header's counts still move. How many
    # the provider has is the header's to say: claims it did not yet have are
    # cancelled as their jobs learn of it.
    return Result(
        True,
        f"Cancelled: {detail}. Messages already with the provider finish; any of them that fails now is cancelled too.",
    )


def retry_failed(
    campaign_id: int, actor: User | None, which: Failures = Failures.TRANSIENT, via: Via = Via.WEB
) -> Result:
    """Queue the failed recipients again (``which``: the temporary failures, the
    permanent ones, or all), each with RETRY_MAX_ATTEMPTS more attempts.

    A recipient is queued again once however often this runs: a second press
    finds it queued, not failed.
    """
    hold_claim_lock(campaign_id, exclusive=True)
    status = _status(campaign_id, lock=True)
    if status not in TRANSITIONS[Change.RETRY_FAILED]:
        return Result(False, refused(Change.RETRY_FAILED, status))
    counts: dict[str, int] = dict(
        db.session.execute(
            text(
                f"""
                WITH queued AS (
                    UPDATE recipients AS r
                    SET status = {lit(R.QUEUED)}, attempt_limit = r.attempts + :more, last_error = NULL,
                        error_code = NULL, error_kind = NULL, provider_message_id = NULL, finished_at = NULL,
                        updated_at = now()
                    FROM recipients AS before
                    WHERE before.id = r.id AND r.campaign_id = :id AND r.status = {lit(R.FAILED)}
                      AND r.error_kind = ANY(:kinds)
                    RETURNING before.error_kind AS kind
                )
                SELECT kind, count(*) FROM queued GROUP BY kind
                """
            ),
            {"id": campaign_id, "kinds": which.kinds, "more": current_app.config["RETRY_MAX_ATTEMPTS"]},
        ).all()
    )
    queued = sum(counts.values())
    which_failed = {
        Failures.TRANSIENT: "temporarily failed",
        Failures.PERMANENT: "permanently failed",
        Failures.ALL: "failed",
    }[which]
    if not queued:
        return Result(False, f"No {which_failed} recipients to retry.")
    bump_counters(campaign_id, failed=-queued, failed_permanent=-counts.get(ErrorKind.PERMANENT, 0))
    # Judged afresh, as on Resume: the failures being retried must not pause it again.
    _move(campaign_id, Change.RETRY_FAILED, f"finished_at = NULL, recent_outcomes = '', {_RATE_AFRESH}")
    kinds_said = {
        Failures.TRANSIENT: "temporary failures only",
        Failures.PERMANENT: "permanent failures only",
        Failures.ALL: "all failures",
    }[which]
    detail = f"{plural(queued, 'recipient')} ({kinds_said})"
    audit.record(Action.CAMPAIGN_RETRIED, actor=actor, via=via, campaign_id=campaign_id, detail=detail)
    said = f"Queued {plural(queued, f'{which_failed} recipient')} again."
    if status == C.PAUSED:
        return Result(True, f"{said} They are sent when you resume.", count=queued)
    return Result(True, said, to_send=queued, count=queued)


def owed(campaign_id: int) -> int:
    """Recipients queued or waiting for a retry."""
    return db.session.execute(
        text(f"SELECT recipient_count - sending_count - {DONE} FROM campaigns WHERE id = :id"),
        {"id": campaign_id},
    ).scalar_one()


# The dispatcher's changes.


def complete_if_done(campaign_id: int) -> bool:
    """Mark the campaign completed once every recipient is sent, failed,
    cancelled or skipped: none queued, sending or waiting for a retry."""
    completed = _move(
        campaign_id, Change.COMPLETE, "finished_at = now(), pause_reason = NULL", when=f"{DONE} = recipient_count"
    )
    if completed:
        audit.record(Action.CAMPAIGN_COMPLETED, via=Via.DISPATCHER, campaign_id=campaign_id)
    return completed


def too_many_failures(recent: str) -> bool:
    """Whether a window of outcomes ("0" a success, "1" a failure, oldest
    first) is full and at least AUTO_PAUSE_FAILURE_RATE of it failed."""
    config = current_app.config
    threshold, window = config["AUTO_PAUSE_FAILURE_RATE"], config["AUTO_PAUSE_WINDOW"]
    recent = recent[-window:] if window > 0 else ""
    return threshold > 0 and len(recent) == window > 0 and recent.count("1") >= threshold * window


def outcomes_window(failed: list[bool]) -> str:
    return "".join("1" if f else "0" for f in failed)


def note_outcomes(campaign_id: int, failed: list[bool]) -> bool:
    """Add outcomes to the campaign's recent ones, and pause it if
    ``too_many_failures``; True if it did. Called last in a loop turn, like the
    counters, so the campaign row every job updates stays locked only until the
    commit."""
    config = current_app.config
    threshold, window = config["AUTO_PAUSE_FAILURE_RATE"], config["AUTO_PAUSE_WINDOW"]
    if threshold <= 0 or window <= 0 or not failed:
        return False
    recent = db.session.execute(
        text(
            "UPDATE campaigns SET recent_outcomes = right(recent_outcomes || :outcomes, :window) "
            "WHERE id = :id RETURNING recent_outcomes"
        ),
        {"id": campaign_id, "window": window, "outcomes": outcomes_window(failed)},
    ).scalar_one()
    if not too_many_failures(recent):
        return False
    failures = recent.count("1")
    reason = (
        f"Paused automatically: {failures} of the last {window} attempts failed "
        f"({100 * failures / window:.0f} %), at or over the {100 * threshold:.0f} % threshold."
    )
    if not _move(campaign_id, Change.AUTO_PAUSE, "pause_reason = :reason", reason=reason):
        return False
    audit.record(Action.CAMPAIGN_PAUSED, via=Via.DISPATCHER, campaign_id=campaign_id, detail=reason)
    return True
