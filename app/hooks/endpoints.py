"""Registering endpoints, pausing and deleting them, and reading their delivery logs.

The history of these changes is written by the caller (``app.audit`` sits
above this package, since it writes the outbox through it).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.hooks import sending
from app.hooks.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from app.auth.models import User

SECRET_BYTES = 32
# The delivery log shows this many of an endpoint's latest deliveries.
LOG_LENGTH = 50


def new_secret() -> str:
    """``whsec_`` and base64, as Standard Webhooks' libraries read it."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def register(url: str, description: str, events: Iterable[str], actor: User | None) -> WebhookEndpoint:
    """A new endpoint with a new secret; raises ``sending.Refused`` for a URL
    that may not be sent to (its scheme, or an address it resolves to now)."""
    url = url.strip()
    sending.vet(url, current_app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"])
    chosen = set(events)
    endpoint = WebhookEndpoint(
        url=url,
        description=description.strip(),
        events=[event.value for event in Event if event.value in chosen],
        secret=new_secret(),
        created_by_id=actor.id if actor is not None else None,
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def set_active(endpoint: WebhookEndpoint, active: bool) -> bool:
    """Pause (no new deliveries) or resume; False if it already was."""
    if endpoint.active == active:
        return False
    endpoint.active = active
    return True


def delete(endpoint: WebhookEndpoint) -> None:
    """With its deliveries and their attempts, undelivered ones included."""
    db.session.delete(endpoint)


def every() -> list[tuple[WebhookEndpoint, dict[str, int]]]:
    """Every endpoint, oldest first, with its deliveries counted by status."""
    endpoints = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
    counts: dict[int, dict[str, int]] = {}
    for endpoint_id, status, count in db.session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count()).group_by(
            WebhookDelivery.endpoint_id, WebhookDelivery.status
        )
    ):
        counts.setdefault(endpoint_id, {})[status] = count
    return [(endpoint, counts.get(endpoint.id, {})) for endpoint in endpoints]


def log_of(endpoint_id: int) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    """The endpoint's latest LOG_LENGTH deliveries, newest first, each with its attempts in order."""
    deliveries = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(LOG_LENGTH)
    ).all()
    attempts: dict[int, list[WebhookAttempt]] = {delivery.id: [] for delivery in deliveries}
    if attempts:
        for attempt in db.session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(attempts)).order_by(WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(delivery, attempts[delivery.id]) for delivery in deliveries]


def delivery_of(endpoint_id: int, delivery_id: int) -> WebhookDelivery | None:
    return db.session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id)
    )
