"""The JSON API under /api/v1: its URL rules are in ``routes``, one line each.

Its one periodic task, for the reconciler's table (``jobs.periodic``), is
named here so that no job reaches into the API's modules.
"""

from app.api.idempotency import forget_expired as forget_expired_idempotency_keys

__all__ = ["forget_expired_idempotency_keys"]
