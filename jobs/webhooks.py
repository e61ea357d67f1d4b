"""Sending the webhooks' outbox (``app.hooks.delivery``): queued after each
commit that adds deliveries, and by the reconciler whenever some are due."""

from app.hooks import delivery


def deliver_due() -> str:
    """Runs inside the worker's app context; returns a one-line summary for RQ's log."""
    return delivery.drain()
