"""Each recipient's way through dispatch: claimed with a lease, sent, and
settled as sent, failed or waiting for a retry, with every attempt recorded.

    queued ──claim──▶ sending ──▶ sent
       ▲                │ ├────▶ failed      (permanent, or out of attempts)
       │                │ └────▶ retrying ──claim when due──▶ sending
       └──lease expired─┘

A dispatch job calls ``advance`` once per loop turn; the reconciler calls
``reap_expired_leases``. A loop turn holds the campaign's claim lock shared,
and the operator controls (``app.campaigns.controls``) hold it exclusively, so
once Pause or Cancel commits no job claims another recipient of the campaign.
None of these functions commits: the caller does.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import text

from app import audit
from app.audit import Action, Via
from app.campaigns.dispatch import bump_counters
from app.campaigns.models import CampaignStatus, ErrorKind, RecipientStatus, idempotency_key
from app.extensions import db

# pg_advisory_xact_lock(CLAIM_LOCK, campaign_id): the first key names what the lock is for.
CLAIM_LOCK = 7301


def hold_claim_lock(campaign_id: int, exclusive: bool = False) -> None:
    """Until commit: shared by loop turns, exclusive for an operator's change."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    db.session.execute(
        text(f"SELECT {function}(:lock, :campaign_id)"), {"lock": CLAIM_LOCK, "campaign_id": campaign_id}
    )


@dataclass(frozen=True)
class Claimed:
    id: int
    address: str
    attempt: int
    attempt_limit: int | None = None

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
            return Outcome(claimed.id, claimed.attempt, RecipientStatus.SENT, message_id=message_id)
        limit = claimed.attempt_limit or self.max_attempts
        if kind == ErrorKind.TRANSIENT and claimed.attempt < limit:
            return Outcome(
                claimed.id,
                claimed.attempt,
                RecipientStatus.RETRYING,
                error_code=error_code,
                error=error,
                kind=kind,
                retry_in=self.delay(claimed.attempt),
            )
        return Outcome(
            claimed.id, claimed.attempt, RecipientStatus.FAILED, error_code=error_code, error=error, kind=kind
        )


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
class Settled:
    """A recipient's status after its outcome was stored; ``retry_at`` is epoch seconds."""

    id: int
    status: str
    error: str | None = None
    retry_at: float | None = None


@dataclass(frozen=True)
class Turn:
    settled: list[Settled]
    claimed: list[Claimed]
    # The campaign is no longer sending (paused, by someone or by itself, or
    # cancelled): the job should claim nothing more.
    halted: bool = False
    auto_paused: bool = False


def advance(campaign_id: int, outcomes: list[Outcome], limit: int) -> Turn:
    """Store provider outcomes for claimed recipients, then claim up to ``limit``
    recipients that are queued or due for a retry, each with a lease.

    An outcome is stored only while its recipient is still ``sending`` in the
    same attempt, so one reported twice, or reported after its lease expired
    and the recipient was claimed again, counts once. ``SKIP LOCKED`` lets
    several jobs claim from one campaign at once. The counters change once,
    last, so the campaign row stays locked only until the caller's commit.
    """
    hold_claim_lock(campaign_id)
    status, retrying = db.session.execute(
        text("SELECT status, retrying_count FROM campaigns WHERE id = :id"), {"id": campaign_id}
    ).one()
    settled = _store(campaign_id, outcomes, cancelled=status == CampaignStatus.CANCELLED)
    claimed: list[Claimed] = []
    from_retrying = 0
    if status == CampaignStatus.SENDING and limit > 0:
        if retrying:
            claimed = _claim(campaign_id, limit, RecipientStatus.RETRYING)
            from_retrying = len(claimed)
        claimed += _claim(campaign_id, limit - len(claimed), RecipientStatus.QUEUED)
    counts = Counter(s.status for s in settled)
    bump_counters(
        campaign_id,
        sending=len(claimed) - len(settled),
        retrying=counts[RecipientStatus.RETRYING] - from_retrying,
        sent=counts[RecipientStatus.SENT],
        failed=counts[RecipientStatus.FAILED],
        cancelled=counts[RecipientStatus.CANCELLED],
    )
    # Last, like the counters: the campaign row every job updates stays locked
    # only until the commit. What this turn claimed is sent, as sends in flight
    # are when someone presses Pause.
    auto_paused = status == CampaignStatus.SENDING and _auto_pause(campaign_id, settled)
    return Turn(settled, claimed, halted=status != CampaignStatus.SENDING or auto_paused, auto_paused=auto_paused)


def _claim(campaign_id: int, limit: int, source: RecipientStatus) -> list[Claimed]:
    if limit <= 0:
        return []
    due = "AND next_attempt_at <= now()" if source == RecipientStatus.RETRYING else ""
    rows = db.session.execute(
        text(
            f"""
            UPDATE recipients
            SET status = 'sending', attempts = attempts + 1, attempt_started_at = now(),
                lease_expires_at = now() + make_interval(secs => :lease), next_attempt_at = NULL, updated_at = now()
            WHERE id IN (
                SELECT id FROM recipients
                WHERE campaign_id = :campaign_id AND status = :source {due}
                ORDER BY id LIMIT :limit
                FOR UPDATE SKIP LOCKED
            )
            RETURNING id, address_normalized, attempts, attempt_limit
            """
        ),
        {
            "campaign_id": campaign_id,
            "limit": limit,
            "source": source.value,
            "lease": current_app.config["LEASE_SECONDS"],
        },
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def _store(campaign_id: int, outcomes: list[Outcome], cancelled: bool) -> list[Settled]:
    """Write outcomes and log each as an attempt, a batch per statement as arrays.

    Naming the campaign as well as the ids lets PostgreSQL find the rows through
    the ``(campaign_id, status, id)`` index, among the few now ``sending``. In a
    cancelled campaign a transient failure is not retried: it is cancelled.
    """
    if not outcomes:
        return []
    rows = db.session.execute(
        text(
            """
            WITH o AS (
                SELECT * FROM unnest(
                    CAST(:ids AS integer[]), CAST(:attempts AS integer[]), CAST(:statuses AS text[]),
                    CAST(:message_ids AS text[]), CAST(:codes AS text[]), CAST(:errors AS text[]),
                    CAST(:kinds AS text[]), CAST(:delays AS float8[])
                ) AS o(id, attempt, status, message_id, code, error, kind, delay)
            ), stored AS (
                UPDATE recipients AS r
                SET status = CASE WHEN o.status = 'retrying' AND :cancelled THEN 'cancelled' ELSE o.status END,
                    provider_message_id = o.message_id, error_code = o.code, last_error = o.error, error_kind = o.kind,
                    next_attempt_at = CASE WHEN o.status = 'retrying' AND NOT :cancelled
                                           THEN now() + make_interval(secs => o.delay) END,
                    finished_at = CASE WHEN o.status = 'retrying' AND NOT :cancelled THEN NULL ELSE now() END,
                    lease_expires_at = NULL, updated_at = now()
                FROM o
                WHERE r.id = o.id AND r.campaign_id = :campaign_id AND r.status = 'sending' AND r.attempts = o.attempt
                RETURNING r.id, r.attempts, r.attempt_started_at, r.status, r.error_kind, r.error_code,
                          r.last_error, r.provider_message_id, r.next_attempt_at
            ), logged AS (
                INSERT INTO delivery_attempts
                    (campaign_id, recipient_id, attempt, started_at, outcome, error_code, error_message, provider_message_id)
                SELECT :campaign_id, id, attempts, attempt_started_at, COALESCE(error_kind, 'sent'),
                       error_code, last_error, provider_message_id
                FROM stored
            )
            SELECT id, status, last_error, extract(epoch FROM next_attempt_at) FROM stored
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
    return [
        Settled(rid, status, error, float(retry_at) if retry_at is not None else None)
        for rid, status, error, retry_at in rows
    ]


def _auto_pause(campaign_id: int, settled: list[Settled]) -> bool:
    """Add these outcomes to the campaign's recent ones, and pause it if too many
    of the last AUTO_PAUSE_WINDOW failed; True if it did."""
    config = current_app.config
    threshold, window = config["AUTO_PAUSE_FAILURE_RATE"], config["AUTO_PAUSE_WINDOW"]
    if threshold <= 0 or window <= 0 or not settled:
        return False
    recent = db.session.execute(
        text(
            "UPDATE campaigns SET recent_outcomes = right(recent_outcomes || :outcomes, :window) "
            "WHERE id = :id RETURNING recent_outcomes"
        ),
        {
            "id": campaign_id,
            "window": window,
            "outcomes": "".join("1" if s.status != RecipientStatus.SENT else "0" for s in settled),
        },
    ).scalar_one()
    failures = recent.count("1")
    if len(recent) < window or failures < threshold * window:
        return False
    reason = (
        f"Paused automatically: {failures} of the last {window} attempts failed "
        f"({100 * failures / window:.0f} %), at or over the {100 * threshold:.0f} % threshold."
    )
    paused = db.session.execute(
        text("UPDATE campaigns SET status = 'paused', pause_reason = :reason WHERE id = :id AND status = 'sending'"),
        {"id": campaign_id, "reason": reason},
    ).rowcount
    if paused:
        audit.record(Action.CAMPAIGN_PAUSED, via=Via.DISPATCHER, campaign_id=campaign_id, detail=reason)
    return paused == 1


LEASE_EXPIRED_NOTE = "The worker stopped before the provider answered; sent again with the same idempotency key."
CANCELLED_UNKNOWN_NOTE = (
    "The worker stopped before the provider answered, and the campaign was cancelled "
    "before it could ask again: the provider may have delivered it."
)


def campaigns_with_expired_leases() -> list[int]:
    """Looked for among the sending rows of campaigns that have any, through the
    ``(campaign_id, status, id)`` index: a few hundred rows, not the table."""
    return list(
        db.session.scalars(
            text(
                """
        SELECT c.id FROM campaigns AS c
        WHERE c.sending_count > 0 AND EXISTS (
            SELECT 1 FROM recipients AS r
            WHERE r.campaign_id = c.id AND r.status = 'sending' AND r.lease_expires_at < now())
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
            """
            WITH expired AS (
                UPDATE recipients AS r
                SET status = CASE WHEN c.status = 'cancelled' THEN 'cancelled' ELSE 'queued' END,
                    last_error = CASE WHEN c.status = 'cancelled' THEN :unknown END,
                    finished_at = CASE WHEN c.status = 'cancelled' THEN now() END,
                    -- An attempt the provider never answered does not use up a retry.
                    attempt_limit = COALESCE(r.attempt_limit, :max_attempts) + 1,
                    lease_expires_at = NULL, updated_at = now()
                FROM campaigns AS c
                WHERE r.campaign_id = :campaign_id AND c.id = r.campaign_id
                  AND r.status = 'sending' AND r.lease_expires_at < now()
                RETURNING r.id, r.attempts, r.attempt_started_at, r.status
            ), logged AS (
                INSERT INTO delivery_attempts (campaign_id, recipient_id, attempt, started_at, outcome, error_message)
                SELECT :campaign_id, id, attempts, attempt_started_at, 'lease_expired', :note FROM expired
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
    counts = dict(rows)
    reaped = sum(counts.values())
    cancelled = counts.get(RecipientStatus.CANCELLED.value, 0)
    bump_counters(campaign_id, sending=-reaped, cancelled=cancelled)
    if reaped:
        audit.record(
            Action.CAMPAIGN_RECOVERED,
            via=Via.DISPATCHER,
            campaign_id=campaign_id,
            detail=f"{reaped:,} recipients whose worker stopped mid-send went back to the queue"
            if not cancelled
            else f"{reaped:,} recipients whose worker stopped mid-send were cancelled",
        )
    return reaped


def retry_due(campaign_id: int) -> bool:
    return db.session.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM recipients WHERE campaign_id = :id AND status = 'retrying' "
            "AND next_attempt_at <= now())"
        ),
        {"id": campaign_id},
    ).scalar_one()
