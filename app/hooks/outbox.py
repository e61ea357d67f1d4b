"""The outbox: an event's deliveries, written in the transaction of the change.

``app.audit.record`` calls ``add`` for every history entry it writes, so an
event reaches the outbox exactly when the history says the change happened:
in the same transaction, committed or rolled back with it. Most entries are
no webhook event (``event_for`` says None) and cost a dictionary lookup; an
event no active endpoint subscribes to costs one small query.

Once a transaction that added deliveries commits, a drain job is queued
(``jobqueue.enqueue_webhook_drain``): commit first, then enqueue. A lost
enqueue (Redis down, a worker killed) only delays: the reconciler queues a
drain whenever deliveries are due (``delivery.enqueue_due``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Flask
from redis.exceptions import RedisError
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app import jobqueue
from app.clock import utcnow
from app.extensions import db
from app.hooks.models import TEST_EVENT, Event, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

# Set on a session whose transaction added deliveries; read once it commits.
_PENDING = "webhook-deliveries-added"

# History entries (``app.audit.Action`` values) that are webhook events.
# A pause is ``campaign.paused`` either way; the dispatcher's own is told apart by ``via``.
_EVENTS = {
    "campaign.scheduled": Event.CAMPAIGN_SCHEDULED,
    "campaign.rescheduled": Event.CAMPAIGN_SCHEDULED,
    "campaign.started": Event.CAMPAIGN_STARTED,
    "campaign.paused": Event.CAMPAIGN_PAUSED,
    "campaign.resumed": Event.CAMPAIGN_RESUMED,
    "campaign.cancelled": Event.CAMPAIGN_CANCELLED,
    "campaign.completed": Event.CAMPAIGN_COMPLETED,
    "contacts.imported": Event.IMPORT_FINISHED,
}


def event_for(action: str, via: str) -> Event | None:
    """The webhook event a history entry stands for, if any."""
    found = _EVENTS.get(action)
    if found is Event.CAMPAIGN_PAUSED and via == "dispatcher":
        return Event.CAMPAIGN_AUTO_PAUSED
    return found


def add(
    action: str,
    *,
    via: str,
    actor: str | None,
    campaign_id: int | None,
    detail: str,
    about_at: datetime | None,
    data: Mapping[str, Any] | None,
) -> int:
    """A delivery of the event ``action`` stands for to each active endpoint
    subscribed to it, in the caller's transaction; returns how many."""
    event = event_for(action, via)
    if event is None:
        return 0
    endpoints = db.session.scalars(
        select(WebhookEndpoint.id).where(WebhookEndpoint.active, WebhookEndpoint.events.contains([event.value]))
    ).all()
    if not endpoints:
        return 0
    body: dict[str, Any] = {"actor": actor, "via": via, "detail": detail}
    if campaign_id is not None:
        body["campaign"] = _campaign(campaign_id)
    if about_at is not None:
        body["scheduled_at"] = about_at.isoformat()
    body.update(data or {})
    payload = {"type": event.value, "timestamp": utcnow().isoformat(), "data": body}
    for endpoint_id in endpoints:
        _add(endpoint_id, event.value, payload)
    return len(endpoints)


def add_test(endpoint: WebhookEndpoint, actor: str) -> WebhookDelivery:
    """ "Send test event": one delivery to ``endpoint``, whatever it subscribes to."""
    payload = {
        "type": TEST_EVENT,
        "timestamp": utcnow().isoformat(),
        "data": {"endpoint_id": endpoint.id, "actor": actor, "detail": "A test event, sent from the Webhooks page."},
    }
    return _add(endpoint.id, TEST_EVENT, payload)


def _add(endpoint_id: int, event: str, payload: dict[str, Any]) -> WebhookDelivery:
    delivery = WebhookDelivery(
        endpoint_id=endpoint_id, event=event, message_id=f"msg_{uuid.uuid4().hex}", payload=payload
    )
    db.session.add(delivery)
    to_send()
    return delivery


def to_send() -> None:
    """Queue a drain once the current transaction commits."""
    db.session.info[_PENDING] = True


def _campaign(campaign_id: int) -> dict[str, Any]:
    """The campaign as the change left it. Read as SQL, not through its model:
    hooks sit below campaigns (``audit`` calls them), and this is the one read."""
    row = (
        db.session.execute(text("SELECT id, title, channel, status FROM campaigns WHERE id = :id"), {"id": campaign_id})
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else {"id": campaign_id}


def init_app(app: Flask) -> None:
    """Queue a drain after each commit that added deliveries, from any process."""
    session_class = db.session
    if not sqlalchemy_event.contains(session_class, "after_commit", _after_commit):
        sqlalchemy_event.listen(session_class, "after_commit", _after_commit)
        sqlalchemy_event.listen(session_class, "after_rollback", _after_rollback)


def _after_commit(session: Session) -> None:
    if not session.info.pop(_PENDING, False):
        return
    try:
        jobqueue.enqueue_webhook_drain()
    except RedisError as error:
        log.warning("webhook drain not queued (%s); the reconciler queues one", error)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
