"""Each recipient's way through dispatch: claimed with a lease, sent, and
settled as sent, failed or waiting for a retry, with every attempt recorded.

    queued ──claim──▶ sending ──▶ sent
       ▲                │ ├────▶ failed      (permanent, or out of attempts)
       │                │ └────▶ retrying ──claim when due──▶ sending
       └────────────────┘
         lease expired, or the campaign stopped before the call was made

A send job calls ``advance`` once per loop turn; the reconciler's recovery of
expired leases is in ``lifecycle``, with every other guarded change. A loop
turn holds the campaign's claim lock shared, and the operator's changes hold
it exclusively, so once Pause or Cancel commits no job claims another
recipient of the campaign. None of these functions commits: the caller does.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import text

from app import metrics
from app.audit import Via
from app.campaigns import lifecycle, rollup, skipping
from app.campaigns.models import (
    AttemptOutcome,
    CampaignStatus,
    ErrorKind,
    RecipientState,
    RecipientStatus,
    idempotency_key,
    lit,
)
from app.contacts import book
from app.extensions import db
from app.optouts import registry as opt_outs
from app.optouts.models import Source

R = RecipientStatus


@dataclass(frozen=True)
class Claimed:
    id: int
    address: str
    attempt: int
    attempt_limit: int | None = None
    # The recipient's own text and subject; None for the campaign's.
    content: str | None = None
    subject: str | None = None

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.id)


@dataclass(frozen=True)
class RetryPolicy:
    base: float
    cap: float
    max_attempts: int
    rng: random.Random

    @classmethod
    def from_config(cls, config) -> RetryPolicy:
        return cls(
            config["RETRY_BASE_SECONDS"], config["RETRY_CAP_SECONDS"], config["RETRY_MAX_ATTEMPTS"], random.Random()
        )

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter: anywhere up to the capped exponential."""
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))

    def settle(
        self,
        claimed: Claimed,
        message_id: str | None = None,
        error_code: str | None = None,
        error: str | None = None,
        kind: str | None = None,
    ) -> Outcome:
        """What one provider answer makes of a recipient."""
        if error is None:
            return Outcome(claimed.id, claimed.attempt, R.SENT, message_id=message_id)
        limit = claimed.attempt_limit or self.max_attempts
        if kind == ErrorKind.TRANSIENT and claimed.attempt < limit:
            return Outcome(
                claimed.id,
                claimed.attempt,
                R.RETRYING,
                error_code=error_code,
                error=error,
                kind=kind,
                retry_in=self.delay(claimed.attempt),
            )
        return Outcome(claimed.id, claimed.attempt, R.FAILED, error_code=error_code, error=error, kind=kind)


@dataclass(frozen=True)
class Outcome:
    recipient_id: int
    attempt: int
    status: RecipientStatus
    message_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    kind: str | None = None
    retry_in: float | None = None


@dataclass(frozen=True)
class Turn:
    settled: list[RecipientState]
    claimed: list[Claimed]
    # The campaign is no longer sending (paused, by someone or by itself, or
    # cancelled): the job should claim nothing more.
    halted: bool = False
    auto_paused: bool = False
    # Claimed, but opted out: skipped, not sent.
    skipped: list[RecipientState] = field(default_factory=list)
    # Claimed, but never called, as the campaign stopped: queued again (cancelled, in a cancelled campaign).
    released: list[RecipientState] = field(default_factory=list)
    # The campaign row's version when the turn began.
    version: int = 0

    @property
    def taken(self) -> int:
        """Recipients this turn took from the queue or the retries: claimed or skipped."""
        return len(self.claimed) + len(self.skipped)


def advance(campaign_id: int, outcomes: list[Outcome], limit: int, released: Sequence[Claimed] = ()) -> Turn:
    """Store provider outcomes for claimed recipients, put back those whose call
    was never made (``released``: the campaign stopped before their turn), then
    claim up to ``limit`` recipients that are queued or due for a retry, each
    with a lease.

    An outcome is stored only while its recipient is still ``sending`` in the
    same attempt, so one reported twice, or reported after its lease expired
    and the recipient was claimed again, counts once. ``SKIP LOCKED`` lets
    several jobs claim from one campaign at once. The counters change once,
    last, so the campaign row stays locked only until the caller's commit.
    """
    lifecycle.hold_claim_lock(campaign_id)
    status, channel, retrying, recent, version = db.session.execute(
        text("SELECT status, channel, retrying_count, recent_outcomes, version FROM campaigns WHERE id = :id"),
        {"id": campaign_id},
    ).one()
    cancelled = status == CampaignStatus.CANCELLED
    settled, opted_out, failed_permanent = _store(campaign_id, outcomes, cancelled=cancelled)
    put_back = _release(campaign_id, released, cancelled=cancelled)
    for address in opted_out:
        contact_id = book.id_by_address(channel, address)
        opt_outs.add(
            channel, address, Source.PROVIDER, via=Via.DISPATCHER, campaign_id=campaign_id, contact_id=contact_id
        )
    failed = [s.status != R.SENT for s in settled]
    # A turn whose outcomes will pause the campaign claims nothing more. (No
    # outcomes, no pause: note_outcomes judges only a turn that has some.)
    pausing = bool(failed) and lifecycle.too_many_failures(recent + lifecycle.outcomes_window(failed))
    claimed: list[Claimed] = []
    skipped: list[RecipientState] = []
    from_retrying = 0
    if status == CampaignStatus.SENDING and limit > 0 and not pausing:
        if retrying:
            claimed, skipped = _claim(campaign_id, channel, limit, R.RETRYING)
            from_retrying = len(claimed) + len(skipped)
        more, more_skipped = _claim(campaign_id, channel, limit - len(claimed) - len(skipped), R.QUEUED)
        claimed += more
        skipped += more_skipped
    counts = Counter(s.status for s in settled)
    lifecycle.bump_counters(
        campaign_id,
        # Sends that finish after a pause or cancel do not count toward the rate.
        progress=counts[R.SENT] + counts[R.FAILED] if status == CampaignStatus.SENDING else None,
        sending=len(claimed) - len(settled) - len(put_back),
        retrying=counts[R.RETRYING] - from_retrying,
        sent=counts[R.SENT],
        failed=counts[R.FAILED],
        failed_permanent=failed_permanent,
        cancelled=counts[R.CANCELLED] + (len(put_back) if cancelled else 0),
        skipped=len(skipped),
    )
    _count(campaign_id, channel, outcomes, settled, skipped)
    # Decided again on the row itself, last: other jobs' outcomes may have come in between.
    auto_paused = status == CampaignStatus.SENDING and lifecycle.note_outcomes(campaign_id, failed)
    halted = status != CampaignStatus.SENDING or auto_paused
    return Turn(
        settled, claimed, halted=halted, auto_paused=auto_paused, skipped=skipped, released=put_back, version=version
    )


def _count(
    campaign_id: int,
    channel: str,
    outcomes: list[Outcome],
    settled: list[RecipientState],
    skipped: list[RecipientState],
) -> None:
    """Count what was stored, in the rollups now and in the metrics once
    committed: an outcome reported twice, or after its lease ran out, was not
    stored and is not counted."""
    codes = {outcome.recipient_id: outcome.error_code or "" for outcome in outcomes}
    stored = Counter((state.status, codes.get(state.id, "")) for state in settled)
    stored[(R.SKIPPED.value, skipping.SKIPPED_CODE)] += len(skipped)
    rollup.add(campaign_id, channel, stored)
    metrics.count_messages_on_commit(db.session(), channel, stored)


def _release(campaign_id: int, released: Sequence[Claimed], cancelled: bool) -> list[RecipientState]:
    """Put back claimed recipients whose call was never made: queued again as
    they were, the claim's attempt taken back, nothing logged, since the
    provider never heard of them; in a cancelled campaign, cancelled.

    Like an outcome, only while the recipient is still ``sending`` in the
    attempt it was claimed for."""
    if not released:
        return []
    rows = db.session.execute(
        text(
            f"""
            UPDATE recipients AS r
            SET status = CASE WHEN :cancelled THEN {lit(R.CANCELLED)} ELSE {lit(R.QUEUED)} END,
                attempts = r.attempts - 1, lease_expires_at = NULL,
                finished_at = CASE WHEN :cancelled THEN now() END, updated_at = now()
            FROM unnest(CAST(:ids AS integer[]), CAST(:attempts AS integer[])) AS c(id, attempt)
            WHERE r.id = c.id AND r.campaign_id = :campaign_id AND r.status = {lit(R.SENDING)}
              AND r.attempts = c.attempt
            RETURNING r.id, r.status, r.attempts, r.last_error
            """
        ),
        {
            "campaign_id": campaign_id,
            "cancelled": cancelled,
            "ids": [c.id for c in released],
            "attempts": [c.attempt for c in released],
        },
    ).all()
    return [RecipientState(*row) for row in rows]


def _claim(
    campaign_id: int, channel: str, limit: int, source: RecipientStatus
) -> tuple[list[Claimed], list[RecipientState]]:
    """Claim up to ``limit`` recipients with ``source`` status, in order; those
    whose address has opted out of the channel are skipped instead, in the same
    statement, so an opt-out committed before it stops the send."""
    if limit <= 0:
        return [], []
    due = "AND r.next_attempt_at <= now()" if source == R.RETRYING else ""
    rows = db.session.execute(
        text(
            f"""
            WITH picked AS (
                SELECT r.id, {opt_outs.opted_out(":channel", "r.address_normalized")} AS opted_out
                FROM recipients AS r
                WHERE r.campaign_id = :campaign_id AND r.status = :source {due}
                ORDER BY r.id LIMIT :limit
                FOR UPDATE OF r SKIP LOCKED
            )
            UPDATE recipients AS r
            SET status = CASE WHEN p.opted_out THEN {lit(R.SKIPPED)} ELSE {lit(R.SENDING)} END,
                attempts = r.attempts + CASE WHEN p.opted_out THEN 0 ELSE 1 END,
                attempt_started_at = CASE WHEN p.opted_out THEN r.attempt_started_at ELSE now() END,
                lease_expires_at = CASE WHEN NOT p.opted_out THEN now() + make_interval(secs => :lease) END,
                finished_at = CASE WHEN p.opted_out THEN now() END,
                error_code = CASE WHEN p.opted_out THEN :skipped_code ELSE r.error_code END,
                last_error = CASE WHEN p.opted_out THEN :reason ELSE r.last_error END,
                next_attempt_at = NULL, updated_at = now()
            FROM picked AS p
            WHERE r.id = p.id
            RETURNING r.id, r.address_normalized, r.attempts, r.attempt_limit, r.rendered_content,
                      r.rendered_subject, p.opted_out, r.last_error
            """
        ),
        {
            "campaign_id": campaign_id,
            "channel": channel,
            "limit": limit,
            "source": source.value,
            "lease": current_app.config["LEASE_SECONDS"],
            "reason": skipping.skipped_reason(channel),
            "skipped_code": skipping.SKIPPED_CODE,
        },
    ).all()
    claimed = sorted((Claimed(*row[:6]) for row in rows if not row.opted_out), key=lambda c: c.id)
    skipped = [RecipientState(row.id, R.SKIPPED, row.attempts, row.last_error) for row in rows if row.opted_out]
    return claimed, skipped


# Written once per outcome, so each says what it means: a retry is stored as
# one unless the campaign was cancelled, when it is cancelled instead.
RETRY = f"o.status = {lit(R.RETRYING)} AND NOT :cancelled"


def _store(campaign_id: int, outcomes: list[Outcome], cancelled: bool) -> tuple[list[RecipientState], list[str], int]:
    """Write outcomes and log each as an attempt, a batch per statement as arrays;
    returns the recipients' new states, the addresses the provider said have
    opted out, and how many failed permanently.

    Naming the campaign as well as the ids lets PostgreSQL find the rows through
    the ``(campaign_id, status, id)`` index, among the few now ``sending``. In a
    cancelled campaign a transient failure is not retried: it is cancelled.
    """
    if not outcomes:
        return [], [], 0
    rows = db.session.execute(
        text(
            f"""
            WITH o AS (
                SELECT * FROM unnest(
                    CAST(:ids AS integer[]), CAST(:attempts AS integer[]), CAST(:statuses AS text[]),
                    CAST(:message_ids AS text[]), CAST(:codes AS text[]), CAST(:errors AS text[]),
                    CAST(:kinds AS text[]), CAST(:delays AS float8[])
                ) AS o(id, attempt, status, message_id, code, error, kind, delay)
            ), stored AS (
                UPDATE recipients AS r
                SET status = CASE WHEN o.status = {lit(R.RETRYING)} AND :cancelled
                                  THEN {lit(R.CANCELLED)} ELSE o.status END,
                    provider_message_id = o.message_id, error_code = o.code, last_error = o.error, error_kind = o.kind,
                    next_attempt_at = CASE WHEN {RETRY} THEN now() + make_interval(secs => o.delay) END,
                    finished_at = CASE WHEN {RETRY} THEN NULL ELSE now() END,
                    lease_expires_at = NULL, updated_at = now()
                FROM o
                WHERE r.id = o.id AND r.campaign_id = :campaign_id AND r.status = {lit(R.SENDING)}
                  AND r.attempts = o.attempt
                RETURNING r.id, r.attempts, r.attempt_started_at, r.status, r.error_kind, r.error_code,
                          r.last_error, r.provider_message_id, r.next_attempt_at, r.address_normalized
            ), logged AS (
                INSERT INTO delivery_attempts
                    (campaign_id, recipient_id, attempt, started_at, outcome, error_code, error_message,
                     provider_message_id)
                SELECT :campaign_id, id, attempts, attempt_started_at, COALESCE(error_kind, {lit(AttemptOutcome.SENT)}),
                       error_code, last_error, provider_message_id
                FROM stored
            )
            SELECT id, status, attempts, last_error, extract(epoch FROM next_attempt_at),
                   CASE WHEN error_code = 'opted_out' THEN address_normalized END,
                   status = {lit(R.FAILED)} AND error_kind = {lit(ErrorKind.PERMANENT)} FROM stored
            """
        ),
        {
            "campaign_id": campaign_id,
            "cancelled": cancelled,
            "ids": [o.recipient_id for o in outcomes],
            "attempts": [o.attempt for o in outcomes],
            "statuses": [o.status.value for o in outcomes],
            "message_ids": [o.message_id for o in outcomes],
            "codes": [o.error_code for o in outcomes],
            "errors": [o.error for o in outcomes],
            "kinds": [o.kind for o in outcomes],
            "delays": [o.retry_in or 0.0 for o in outcomes],
        },
    ).all()
    states = [
        RecipientState(rid, status, attempts, error, float(retry_at) if retry_at is not None else None)
        for rid, status, attempts, error, retry_at, *_ in rows
    ]
    opted_out = [address for *_, address, _ in rows if address is not None]
    return states, opted_out, sum(1 for *_, permanent in rows if permanent)


def retry_due(campaign_id: int) -> bool:
    return db.session.execute(
        text(
            f"SELECT EXISTS (SELECT 1 FROM recipients WHERE campaign_id = :id AND status = {lit(R.RETRYING)} "
            "AND next_attempt_at <= now())"
        ),
        {"id": campaign_id},
    ).scalar_one()
