"""What tests share: the invariants that "nothing lost, nothing sent twice"
means, checked against the rows, the attempt log and the simulated provider's
ledger; and bounded waits, so that a broken engine fails a test instead of
hanging it."""

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select

from app.audit import AuditEvent
from app.campaigns.models import Campaign, DeliveryAttempt, Recipient, RecipientStatus, idempotency_key
from app.extensions import db
from app.live.broker import CONNECTED
from jobs import periodic
from jobs.provider import Ledger

TERMINAL = {
    RecipientStatus.SENT.value,
    RecipientStatus.FAILED.value,
    RecipientStatus.CANCELLED.value,
    RecipientStatus.SKIPPED.value,
}


def status_counts(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Recipient.status, func.count()).where(Recipient.campaign_id == campaign_id).group_by(Recipient.status)
    )
    return dict(rows.all())


def failed_codes(campaign_id: int) -> dict[str, int]:
    """How many of the campaign's recipients failed with each error code."""
    rows = db.session.execute(
        select(Recipient.error_code, func.count())
        .where(Recipient.campaign_id == campaign_id, Recipient.status == RecipientStatus.FAILED.value)
        .group_by(Recipient.error_code)
    )
    return dict(rows.all())


def assert_counters_match_rows(campaign: Campaign) -> None:
    db.session.refresh(campaign)
    counts = status_counts(campaign.id)
    for status in RecipientStatus:
        assert campaign.count_for(status) == counts.get(status.value, 0), (status, campaign.count_for(status), counts)
    assert campaign.recipient_count == sum(counts.values())
    permanent = db.session.scalar(
        select(func.count()).where(
            Recipient.campaign_id == campaign.id, Recipient.status == "failed", Recipient.error_kind == "permanent"
        )
    )
    assert campaign.failed_permanent_count == permanent, (campaign.failed_permanent_count, permanent)
    deliveries = dict(
        db.session.execute(
            select(Recipient.delivery, func.count())
            .where(Recipient.campaign_id == campaign.id, Recipient.delivery.is_not(None))
            .group_by(Recipient.delivery)
        ).all()
    )
    counted = {"delivered": campaign.delivered_count, "undelivered": campaign.undelivered_count}
    assert counted == {state: deliveries.get(state, 0) for state in counted}, (counted, deliveries)


def assert_nothing_lost_or_sent_twice(campaign: Campaign, ledger_redis: Redis, all_terminal: bool = True) -> dict:
    """Counters equal rows; every attempt is logged; no recipient was delivered
    twice, and the provider holds a message for exactly the recipients marked
    sent, under the message id we recorded. Returns the ledger's entries."""
    assert_counters_match_rows(campaign)
    recipients = db.session.scalars(select(Recipient).where(Recipient.campaign_id == campaign.id)).all()
    if all_terminal:
        assert {r.status for r in recipients} <= TERMINAL, status_counts(campaign.id)
    logged = dict(
        db.session.execute(
            select(DeliveryAttempt.recipient_id, func.count())
            .where(DeliveryAttempt.campaign_id == campaign.id)
            .group_by(DeliveryAttempt.recipient_id)
        ).all()
    )
    sent_logged = dict(
        db.session.execute(
            select(DeliveryAttempt.recipient_id, func.count())
            .where(DeliveryAttempt.campaign_id == campaign.id, DeliveryAttempt.outcome == "sent")
            .group_by(DeliveryAttempt.recipient_id)
        ).all()
    )
    ledger = Ledger(ledger_redis).entries()
    for r in recipients:
        # A claim the worker died in is logged too ("lease_expired"), so this holds after crashes.
        if r.status != RecipientStatus.SENDING:
            assert logged.get(r.id, 0) == r.attempts, (r.id, r.status, logged.get(r.id), r.attempts)
        assert sent_logged.get(r.id, 0) <= 1, f"recipient {r.id} recorded as sent twice"
        entry = ledger.get(idempotency_key(r.id))
        if entry is not None:
            assert entry["deliveries"] == "1", (r.id, entry)
        if r.status == RecipientStatus.SENT:
            assert entry is not None, f"recipient {r.id} is marked sent but the provider has no message"
            assert entry["message_id"] == r.provider_message_id
        elif r.status in (RecipientStatus.FAILED, RecipientStatus.SKIPPED):
            assert entry is None, f"recipient {r.id} is marked {r.status} but the provider delivered it"
    return ledger


def reread(campaign: Campaign) -> Campaign:
    """The campaign as the database has it now, in a fresh snapshot."""
    db.session.commit()
    db.session.refresh(campaign)
    return campaign


def queued_jobs(app: Flask, redis_client: Redis) -> int:
    return redis_client.llen(f"rq:queue:{app.config['RQ_QUEUE']}")


def history(campaign: Campaign) -> list[tuple[str, str, str]]:
    """The campaign's history as (action, who, detail), oldest first; a time
    the detail speaks of reads in UTC."""
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.campaign_id == campaign.id).order_by(AuditEvent.id))
    return [(e.action, e.actor_label, e.detail_in(UTC)) for e in events]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, output: Callable[[], str] = str) -> None:
    """Until ``condition()`` holds; fails the test after ``timeout`` seconds,
    saying what it waited for (and ``output()``, say a process's log)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}\n{output()}")
        time.sleep(0.05)


def published(pubsub, quiet: float = 0.5, timeout: float = 30) -> list[dict]:
    """Every event published to ``pubsub``'s channels until none comes for
    ``quiet`` seconds, as flask-sse's ``{"data", "type"}``; at most ``timeout`` seconds."""
    events = []
    deadline = time.monotonic() + timeout
    quiet_until = time.monotonic() + quiet
    while time.monotonic() < min(deadline, quiet_until):
        message = pubsub.get_message(timeout=0.05)
        if message is not None and message["type"] == "message":
            events.append(json.loads(message["data"]))
            quiet_until = time.monotonic() + quiet
    return events


def read_until(chunks: Iterator[bytes], done: Callable[[str], bool], timeout: float = 10) -> str:
    """An event stream's text until ``done(text)``; the stream must send a
    chunk (a keepalive at least) more often than ``timeout``."""
    text = ""
    deadline = time.monotonic() + timeout
    while not done(text):
        assert time.monotonic() < deadline, f"the stream did not get there in {timeout} s: {text[-500:]!r}"
        text += next(chunks).decode()
    return text


def open_stream(client, channel: str, shows: str | None = None):
    """A live stream opened as a page opens it: the response, and its chunks
    after the first (the comment that says the watcher is registered)."""
    query = f"channel={channel}" + (f"&shows={shows}" if shows else "")
    response = client.get(f"/stream?{query}", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks).decode() == CONNECTED  # the watcher is registered by now
    return response, chunks


class FakeClock:
    """A monotonic clock a test moves on itself, for ``jobs.periodic.Loop``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def reconciler_pass(app: Flask) -> dict[str, object]:
    """One pass of a reconciler's loop, as its process makes its first: each task's result by name."""
    loop = periodic.Loop(periodic.tasks_of("reconciler", app.config))
    loop.tick()
    return loop.results
