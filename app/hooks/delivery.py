"""Sending the outbox: claim a due delivery, POST it, record what came of it.

At least once, never lost: a drain claims one delivery at a time by moving
its ``next_attempt_at`` past the POST's longest time (the claim is its lease,
``FOR UPDATE SKIP LOCKED`` keeps drains apart), commits, then POSTs with no
transaction open, and records the attempt in a transaction of its own. A
drain that dies in between leaves the delivery due again when its lease
lapses, and the next drain sends it again under the same ``webhook-id``.

A failed POST is tried again after a random wait of up to
min(WEBHOOK_RETRY_CAP_SECONDS, WEBHOOK_RETRY_BASE_SECONDS × 2^(attempt − 1))
("full jitter"), until WEBHOOK_RETRY_FOR_SECONDS after the event (or its
last Resend); then it is given up. Nothing waits in a worker for a retry:
the reconciler queues a drain whenever deliveries are due (``enqueue_due``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import RowMapping, select, text, update

from app import jobqueue
from app.clock import utcnow
from app.extensions import db, redis
from app.formatting import number
from app.hooks import outbox, sending
from app.hooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from app.live.channel import DELIVERY_EVENT, WEBHOOKS_CHANNEL, publish

# A drain sends for about this long, then hands on to a fresh job if more are
# due, so that a long outbox does not hold one worker from other jobs.
DRAIN_SLICE_SECONDS = 60.0

_DUE = "status = 'pending' AND next_attempt_at <= clock_timestamp()"

log = logging.getLogger(__name__)


def lease_seconds(config: Mapping[str, Any]) -> float:
    """How long a claim lasts: past the POST's own bound (twice the timeout) and a margin."""
    return 2 * config["WEBHOOK_TIMEOUT_SECONDS"] + 10.0


def backoff(attempt: int, config: Mapping[str, Any]) -> float:
    """Seconds before the try after ``attempt`` (1 for the first) failed."""
    ceiling = min(config["WEBHOOK_RETRY_CAP_SECONDS"], config["WEBHOOK_RETRY_BASE_SECONDS"] * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)


def claim() -> RowMapping | None:
    """The next due delivery, with its endpoint's URL and secret, claimed for
    this drain (its attempt counted); None when none is due. The caller commits."""
    return (
        db.session.execute(
            text(
                f"""
                UPDATE webhook_deliveries AS d
                SET next_attempt_at = clock_timestamp() + make_interval(secs => :lease), attempts = d.attempts + 1
                FROM webhook_endpoints AS e
                WHERE d.id = (
                    SELECT id FROM webhook_deliveries WHERE {_DUE}
                    ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED
                ) AND e.id = d.endpoint_id
                RETURNING d.id, d.endpoint_id, d.message_id, d.payload, d.attempts, d.retrying_since, e.url, e.secret
                """
            ),
            {"lease": lease_seconds(current_app.config)},
        )
        .mappings()
        .one_or_none()
    )


def record(claimed: RowMapping, outcome: sending.Outcome, at: datetime) -> str:
    """The attempt logged, and the delivery delivered, due again, or given up;
    returns its new status. An answer that comes after its claim lapsed and
    another drain claimed the delivery is logged, and changes nothing else;
    one whose endpoint was deleted meanwhile is dropped with it."""
    # Held until commit: a Delete now waits for the attempt to be logged.
    still_there = db.session.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.id == claimed["id"]).with_for_update(key_share=True)
    )
    if still_there is None:
        return "deleted"
    config = current_app.config
    now = utcnow()
    next_at: datetime | None = None
    if outcome.ok:
        status = DeliveryStatus.DELIVERED
    else:
        next_at = now + timedelta(seconds=backoff(claimed["attempts"], config))
        gives_up_at = claimed["retrying_since"] + timedelta(seconds=config["WEBHOOK_RETRY_FOR_SECONDS"])
        status = DeliveryStatus.PENDING if next_at <= gives_up_at else DeliveryStatus.GAVE_UP
        if status is DeliveryStatus.GAVE_UP:
            next_at = None
    db.session.add(
        WebhookAttempt(
            delivery_id=claimed["id"],
            at=at,
            ok=outcome.ok,
            status_code=outcome.status_code,
            error=outcome.error,
            milliseconds=outcome.milliseconds,
            response=outcome.response,
            next_attempt_at=next_at,
        )
    )
    db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claimed["id"],
            WebhookDelivery.attempts == claimed["attempts"],
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(
            status=status.value,
            next_attempt_at=next_at,
            last_status_code=outcome.status_code,
            last_error=outcome.error,
            finished_at=None if status is DeliveryStatus.PENDING else now,
        )
    )
    return status.value


def deliver_one() -> str | None:
    """Claim, POST and record one due delivery; its new status, or None if none was due."""
    claimed = claim()
    db.session.commit()
    if claimed is None:
        return None
    at = utcnow()
    outcome = sending.post(
        claimed["url"],
        claimed["secret"],
        claimed["message_id"],
        sending.body_of(claimed["payload"]),
        at,
        current_app.config,
    )
    status = record(claimed, outcome, at)
    db.session.commit()
    show_changed(claimed["endpoint_id"])
    return status


def show_changed(endpoint_id: int) -> None:
    """After a change to an endpoint's deliveries is committed: open delivery
    logs reload. A failure here only leaves them to their Refresh button."""
    try:
        publish(redis.client, WEBHOOKS_CHANNEL, str(endpoint_id), type=DELIVERY_EVENT)
    except RedisError as error:
        log.warning("webhook endpoint %s: delivery log not shown live: %s", endpoint_id, error)


def drain(slice_seconds: float = DRAIN_SLICE_SECONDS) -> str:
    """Send what is due, for about ``slice_seconds``; a drain job's work."""
    started = time.monotonic()
    done: dict[str, int] = {}
    while time.monotonic() - started < slice_seconds:
        status = deliver_one()
        if status is None:
            break
        done[status] = done.get(status, 0) + 1
    else:
        if _any_due():
            jobqueue.enqueue_webhook_drain()
    db.session.commit()
    said = ", ".join(f"{count} {status.replace('_', ' ')}" for status, count in done.items())
    return f"webhooks: {said or 'none due'}"


def _any_due() -> bool:
    return bool(db.session.scalar(text(f"SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE {_DUE})")))


def enqueue_due() -> str:
    """The reconciler's task: queue a drain if deliveries are due and none waits
    (a killed worker's, a lost enqueue's, or a retry's time come)."""
    due = db.session.scalar(text(f"SELECT count(*) FROM webhook_deliveries WHERE {_DUE}"))
    if not due or jobqueue.webhook_drain_waiting():
        return ""
    jobqueue.enqueue_webhook_drain()
    return f"webhook deliveries due: {number(due)}; queued a drain"


def resend(delivery: WebhookDelivery) -> None:
    """Send it again now, with WEBHOOK_RETRY_FOR_SECONDS of retries from now;
    same ``webhook-id``. The caller commits, which queues a drain."""
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = utcnow()
    delivery.retrying_since = utcnow()
    delivery.finished_at = None
    outbox.to_send()
