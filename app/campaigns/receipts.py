"""Delivery receipts: what the provider says became of a message it accepted.

A receipt names the message by the provider's id and by the reference we sent
it with (the recipient's idempotency key), and says ``delivered`` or
``undelivered`` (with a reason) as of a time. ``keep`` stores a batch of them
as they arrive, in one statement, so the provider is answered at once and
nothing it told us is lost. ``apply`` then applies stored receipts in batches
to recipients whose message is recorded, and deletes them: a receipt that
comes before we have committed the send it speaks of (the provider answers
after it has accepted) waits in the table until we have.

Applying is idempotent and ordered by the provider's time: a recipient takes
a receipt only if it is newer than the one it has, so a receipt sent twice,
or an older one arriving late, changes nothing. The campaign's counters and
the hourly rollup change by what each recipient's delivery became, in the
same transaction.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.campaigns import lifecycle, live, rollup
from app.campaigns.models import Delivery, RecipientState, RecipientStatus, lit
from app.extensions import db

log = logging.getLogger(__name__)

REFERENCE_PREFIX = "recipient-"
# The transaction lock one applier holds (any constant unique among the app's advisory locks).
APPLY_LOCK = 0x5EC1E7


@dataclass(frozen=True)
class Receipt:
    recipient_id: int
    message_id: str
    state: Delivery
    reported_at: datetime
    reason: str | None = None


def recipient_of(reference: str) -> int | None:
    """The recipient a reference (the idempotency key a message was sent with) names."""
    number = reference.removeprefix(REFERENCE_PREFIX)
    if reference.startswith(REFERENCE_PREFIX) and number.isdigit() and len(number) <= 9:
        return int(number)
    return None


def keep(receipts: list[Receipt]) -> int:
    """Store receipts until they are applied; one already stored (the same
    message, state and time) is stored once. Returns how many were new."""
    if not receipts:
        return 0
    return db.session.execute(
        text(
            """
            INSERT INTO provider_receipts (recipient_id, message_id, state, reason, reported_at)
            SELECT * FROM unnest(CAST(:recipients AS integer[]), CAST(:messages AS text[]),
                                 CAST(:states AS text[]), CAST(:reasons AS text[]),
                                 CAST(:times AS timestamptz[]))
            ON CONFLICT ON CONSTRAINT provider_receipts_once DO NOTHING
            """
        ),
        {
            "recipients": [r.recipient_id for r in receipts],
            "messages": [r.message_id for r in receipts],
            "states": [r.state.value for r in receipts],
            "reasons": [r.reason for r in receipts],
            "times": [r.reported_at for r in receipts],
        },
    ).rowcount  # type: ignore[attr-defined]


# Stored receipts whose message is recorded, oldest first, taken out of the table.
# Each receipt's recipient is looked up by its key, the receipts walked in order
# until the batch is full: the lookup (LIMIT 1) cannot become a join, which the
# planner would make a hash join over every sent recipient of every campaign, at
# every batch.
_TAKE = f"""
WITH picked AS (
    SELECT p.id FROM provider_receipts AS p
    CROSS JOIN LATERAL (
        SELECT FROM recipients AS r
        WHERE r.id = p.recipient_id AND r.provider_message_id = p.message_id
          AND r.status = {lit(RecipientStatus.SENT)}
        LIMIT 1
    ) AS recorded
    ORDER BY p.id LIMIT :limit
    FOR UPDATE OF p SKIP LOCKED
)
DELETE FROM provider_receipts AS p USING picked WHERE p.id = picked.id
RETURNING p.recipient_id, p.state, p.reason, p.reported_at
"""

# Each recipient takes its receipt if it is newer than the one it has; returns
# each recipient changed, with what it had before.
_APPLY = """
UPDATE recipients AS r
SET delivery = l.state, delivery_at = l.reported_at, delivery_error = l.reason, updated_at = now()
FROM unnest(CAST(:ids AS integer[]), CAST(:states AS text[]), CAST(:reasons AS text[]),
            CAST(:times AS timestamptz[])) AS l(id, state, reason, reported_at),
     recipients AS before, campaigns AS c
WHERE r.id = l.id AND before.id = r.id AND c.id = r.campaign_id
  AND (before.delivery_at IS NULL OR before.delivery_at < l.reported_at)
RETURNING r.id, r.campaign_id, c.channel, r.attempts, before.delivery, r.delivery, r.delivery_error
"""


@dataclass(frozen=True)
class Applied:
    # Receipts taken from the table: applied, or no newer than what their recipient had.
    taken: int
    # Recipient changes, by campaign, for its live page.
    changes: dict[int, list[RecipientState]] = field(default_factory=dict)


def apply(limit: int) -> Applied:
    """Apply up to ``limit`` stored receipts whose message is recorded. Does not commit.

    One applier at a time (a lock until the commit): a recipient's delivery
    is compared with what it had, which a second applier could change between."""
    db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPLY_LOCK})
    taken = db.session.execute(text(_TAKE), {"limit": limit}).all()
    latest: dict[int, Any] = {}
    for row in taken:
        if row.recipient_id not in latest or latest[row.recipient_id].reported_at < row.reported_at:
            latest[row.recipient_id] = row
    ordered = [latest[recipient_id] for recipient_id in sorted(latest)]
    rows = (
        db.session.execute(
            text(_APPLY),
            {
                "ids": [row.recipient_id for row in ordered],
                "states": [row.state for row in ordered],
                "reasons": [row.reason for row in ordered],
                "times": [row.reported_at for row in ordered],
            },
        ).all()
        if ordered
        else []
    )
    counters: dict[int, Counter[str]] = defaultdict(Counter)
    hourly: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    changes: dict[int, list[RecipientState]] = defaultdict(list)
    for recipient_id, campaign_id, channel, attempts, was, now, reason in rows:
        counters[campaign_id][now] += 1
        hourly[channel][(now, "")] += 1
        if was is not None:
            counters[campaign_id][was] -= 1
            hourly[channel][(was, "")] -= 1
        changes[campaign_id].append(RecipientState(recipient_id, RecipientStatus.SENT, attempts, reason, None, now))
    # In the campaigns' order, as every other change to several campaign rows.
    for campaign_id in sorted(counters):
        counted = counters[campaign_id]
        lifecycle.bump_counters(
            campaign_id, delivered=counted[Delivery.DELIVERED], undelivered=counted[Delivery.UNDELIVERED]
        )
    for channel in sorted(hourly):
        rollup.add_hourly(channel, hourly[channel])
    return Applied(len(taken), dict(changes))


def forget_unmatched() -> int:
    """Delete stored receipts that have waited RECEIPT_KEEP_SECONDS for a
    message we never recorded as sent (a send that failed after the provider
    accepted it, say), logging how many."""
    gone = db.session.execute(
        text("DELETE FROM provider_receipts WHERE received_at < now() - make_interval(secs => :keep)"),
        {"keep": current_app.config["RECEIPT_KEEP_SECONDS"]},
    ).rowcount  # type: ignore[attr-defined]
    if gone:
        log.warning("%d delivery receipts never matched a sent message and were forgotten", gone)
    return gone


class ApplyReceipts:
    """The periodic task: apply stored receipts a batch per transaction until
    none is left, then show the changes on the campaigns' live pages. A
    campaign whose page was updated less than an interval ago is shown at the
    next pass (or by its send job, whichever comes first)."""

    def __init__(self) -> None:
        self.unshown: set[int] = set()

    def __call__(self) -> int:
        batch = current_app.config["RECEIPT_BATCH"]
        applied = 0
        while True:
            result = apply(batch)
            db.session.commit()
            applied += result.taken
            for campaign_id, changes in result.changes.items():
                self._note(campaign_id, changes)
            if result.taken < batch:
                break
        self._show()
        return applied

    def _note(self, campaign_id: int, changes: list[RecipientState]) -> None:
        try:
            live.note(campaign_id, changes)
            self.unshown.add(campaign_id)
        except RedisError as error:
            log.warning("campaign %s: delivery receipts not shown live: %s", campaign_id, error)

    def _show(self) -> None:
        for campaign_id in sorted(self.unshown):
            try:
                if live.flush(campaign_id) is None:
                    self.unshown.discard(campaign_id)
            except (RedisError, DBAPIError) as error:
                db.session.rollback()
                log.warning("campaign %s: delivery receipts not shown live: %s", campaign_id, error)


def unix_time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
