"""Requests a provider signs: one rule for every webhook it calls us with.

A request carries ``X-Signature-Timestamp``, the Unix time of signing in
whole seconds, and ``X-Signature: sha256=<hex>``, the HMAC-SHA256 of
``<timestamp>.<body>`` keyed with the webhook's secret. ``verify`` refuses a
body over the webhook's size limit (413), a missing, bad or stale signature
(401), and ``remember`` records an accepted signature in Redis until it would
be stale, so the same request sent again is told apart (a replay).
"""

import hashlib
import hmac
import math
import re
import time
from dataclasses import dataclass

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from app.extensions import redis
from app.formatting import size

# Whole seconds: float() would take "nan", "inf" and "1e3", and nan passes
# every comparison with the window.
TIMESTAMP = re.compile(r"[0-9]{1,12}")
BAD_SIGNATURE = "Missing or bad signature: sign <timestamp>.<body> with HMAC-SHA256."


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Signature header for ``body`` signed at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def headers(secret: str, body: bytes, at: float | None = None) -> dict[str, str]:
    """The headers that sign ``body`` now (or at ``at``)."""
    timestamp = str(int(time.time() if at is None else at))
    return {"X-Signature-Timestamp": timestamp, "X-Signature": signature(secret, timestamp, body)}


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Webhook:
    """One signed webhook: its secret, how far from now a signature may be
    (seconds), the largest body it takes, and its name for the replay keys."""

    secret: str
    tolerance: float
    max_bytes: int
    name: str

    def verify(self) -> tuple[bytes, str, int]:
        """The request's body, signature and timestamp, once all are good."""
        timestamp = request.headers.get("X-Signature-Timestamp", "")
        if not TIMESTAMP.fullmatch(timestamp):
            raise Refused(
                401,
                "Missing or bad signature: X-Signature-Timestamp must be the Unix time of signing, "
                "in whole seconds (digits only).",
            )
        if abs(time.time() - int(timestamp)) > self.tolerance:
            raise Refused(
                401, f"Stale signature: X-Signature-Timestamp is more than {self.tolerance:g} seconds from now."
            )
        body = self._body()
        expected = signature(self.secret, timestamp, body)
        # As bytes: compare_digest refuses a str with anything but ASCII in it.
        given = request.headers.get("X-Signature", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected.encode()):
            raise Refused(401, BAD_SIGNATURE)
        return body, expected, int(timestamp)

    def _body(self) -> bytes:
        """The body, unread if its Content-Length is over the limit, and read
        no further than a byte past it if it is chunked."""
        too_large = Refused(413, f"The body is over the limit of {size(self.max_bytes)}.")
        if (request.content_length or 0) > self.max_bytes:
            raise too_large
        # Werkzeug cuts a chunked body at the maximum without an error: a byte
        # more tells a body over the limit from one just at it.
        request.max_content_length = self.max_bytes + 1
        try:
            body = request.get_data()
        except RequestEntityTooLarge:
            raise too_large from None
        if len(body) > self.max_bytes:
            raise too_large
        return body

    def _seen_key(self, mark: str) -> str:
        return f"webhooks:{self.name}:seen:{mark}"

    def remember(self, mark: str, timestamp: int) -> bool:
        """Record an accepted signature until its timestamp leaves the window,
        in which it would pass again; False if it was recorded already (a replay)."""
        # A second more, for the clocks of several web processes.
        seconds = max(math.ceil(timestamp + self.tolerance - time.time()) + 1, 1)
        return bool(redis.client.set(self._seen_key(mark), 1, nx=True, ex=seconds))

    def forget(self, mark: str) -> None:
        """Not acted on after all: the sender's retry must not be taken for a replay."""
        redis.client.delete(self._seen_key(mark))
