"""Replies from the people we message, as the provider would forward them.

``POST /webhooks/inbound`` with a JSON body ``{"channel": "sms", "from":
"+254712345678", "text": "STOP"}``, signed: ``X-Signature-Timestamp`` the
Unix time of signing in whole seconds, and ``X-Signature: sha256=<hex>`` the
HMAC-SHA256, keyed with INBOUND_WEBHOOK_SECRET, of ``<timestamp>.<body>``.
With no secret set, every request gets 503 saying so (and production warns at
start): a correctly signed call is not told its signature is bad. A
request without a valid signature, or signed more than
INBOUND_WEBHOOK_TOLERANCE_SECONDS away from now, gets 401; one whose signature
was already accepted gets 409; a body over INBOUND_WEBHOOK_MAX_BYTES gets
413; more than INBOUND_WEBHOOK_RATE_LIMIT requests from one address get 429;
without Redis to check for a replay, 503. None of them changes anything.
STOP, UNSUBSCRIBE, CANCEL, END and QUIT (any case, trimmed) opt the sender
out of the channel; START opts them back in; anything else is acknowledged
and ignored. Two identical replies signed in the same second are one request
twice: a provider puts its message id in the body to tell them apart.
"""

import hashlib
import hmac
import math
import re
import time

import flask
from flask import Blueprint, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from redis.exceptions import RedisError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from app.auth.access import public
from app.contacts import book
from app.extensions import csrf, db, limiter, redis
from app.formatting import size
from app.messaging.channels import Channel
from app.optouts import registry
from app.security import in_production

bp = Blueprint("webhooks", __name__)

# Whole seconds: float() would take "nan", "inf" and "1e3", and nan passes
# every comparison with the window.
TIMESTAMP = re.compile(r"[0-9]{1,12}")
BAD_SIGNATURE = "Missing or bad signature: sign <timestamp>.<body> with HMAC-SHA256."
NOT_CONFIGURED = "Inbound webhooks are not configured: set INBOUND_WEBHOOK_SECRET."


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Signature header for ``body`` signed at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@bp.record_once
def _warn_when_not_configured(state: BlueprintSetupState) -> None:
    """Replies such as STOP are refused until the secret is set: say so at
    start, not only to the provider whose calls fail."""
    if not state.app.config["INBOUND_WEBHOOK_SECRET"] and in_production(state.app):
        state.app.logger.warning(
            "%s Until it is, POST /webhooks/inbound answers 503 and no reply opts anyone out.", NOT_CONFIGURED
        )


def _problem(status: int, detail: str) -> tuple[Response, int]:
    return jsonify(error=detail), status


def _too_many(limit: RequestLimit) -> flask.Response:
    wait = max(math.ceil(limit.reset_at - time.time()), 1)
    limit_text = current_app.config["INBOUND_WEBHOOK_RATE_LIMIT"]
    response = jsonify(error=f"Over the limit of {limit_text} from this address. Try again in {wait} s.")
    response.status_code = 429
    response.headers["Retry-After"] = str(wait)
    return response


@bp.post("/webhooks/inbound")
@public
@csrf.exempt  # signed instead: no browser session is involved
# Every request counts, signed or not: this is what bounds the work a flood causes.
@limiter.limit(
    lambda: current_app.config["INBOUND_WEBHOOK_RATE_LIMIT"], key_func=get_remote_address, on_breach=_too_many
)
def inbound() -> tuple[Response, int]:
    if not current_app.config["INBOUND_WEBHOOK_SECRET"]:
        return _problem(503, NOT_CONFIGURED)
    try:
        timestamp, mark = _verified()
        channel, address, text = _reply()
    except Refused as refused:
        return _problem(refused.status, refused.detail)
    try:
        first = _remember(mark, int(timestamp))
    except RedisError:
        return _problem(503, "Replays cannot be checked right now (Redis is unavailable); send it again later.")
    if not first:
        return _problem(
            409, "Replay: this signature was already accepted, and nothing changed. Sign each request anew."
        )
    try:
        action = registry.reply(channel, address, text, contact_id=book.id_by_address(channel, address))
        db.session.commit()
    except BaseException:
        # Not acted on, so the provider's retry of it must not be taken for a replay.
        _forget(mark)
        raise
    return jsonify(action=action, channel=channel, address=address), 200


def _verified() -> tuple[str, str]:
    """The request's timestamp and signature, once both are good."""
    secret = current_app.config["INBOUND_WEBHOOK_SECRET"]
    tolerance = current_app.config["INBOUND_WEBHOOK_TOLERANCE_SECONDS"]
    timestamp = request.headers.get("X-Signature-Timestamp", "")
    if not TIMESTAMP.fullmatch(timestamp):
        raise Refused(
            401,
            "Missing or bad signature: X-Signature-Timestamp must be the Unix time of signing, "
            "in whole seconds (digits only).",
        )
    if abs(time.time() - int(timestamp)) > tolerance:
        raise Refused(401, f"Stale signature: X-Signature-Timestamp is more than {tolerance:g} seconds from now.")
    body = _body()
    expected = signature(secret, timestamp, body)
    # As bytes: compare_digest refuses a str with anything but ASCII in it.
    given = request.headers.get("X-Signature", "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, expected.encode()):
        raise Refused(401, BAD_SIGNATURE)
    return timestamp, expected


def _body() -> bytes:
    """The body, unread if its Content-Length is over INBOUND_WEBHOOK_MAX_BYTES,
    and read no further than a byte past it if it is chunked."""
    limit = current_app.config["INBOUND_WEBHOOK_MAX_BYTES"]
    too_large = Refused(413, f"The body is over the limit of {size(limit)}.")
    if (request.content_length or 0) > limit:
        raise too_large
    # Werkzeug cuts a chunked body at the maximum without an error: a byte
    # more tells a body over the limit from one just at it.
    request.max_content_length = limit + 1
    try:
        body = request.get_data()
    except RequestEntityTooLarge:
        raise too_large from None
    if len(body) > limit:
        raise too_large
    return body


def _reply() -> tuple[str, str, str]:
    """The channel, the sender's address as kept, and what they wrote."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused(400, "The body must be a JSON object.")
    channel, sender, text = body.get("channel", "sms"), body.get("from"), body.get("text")
    if channel not in set(Channel):
        raise Refused(400, f"channel must be one of {', '.join(Channel)}.")
    if not isinstance(sender, str) or not isinstance(text, str) or "\x00" in sender + text:
        raise Refused(400, "from and text must be strings.")
    try:
        address = registry.normalize(channel, sender[:320])
    except ValueError as error:
        raise Refused(400, f"from: {error}.") from None
    return channel, address, text[:1000]


def _seen_key(mark: str) -> str:
    return f"webhooks:inbound:seen:{mark}"


def _remember(mark: str, timestamp: int) -> bool:
    """Record an accepted signature until its timestamp leaves the window, in
    which it would pass again; False if it was recorded already (a replay)."""
    tolerance = current_app.config["INBOUND_WEBHOOK_TOLERANCE_SECONDS"]
    # A second more, for the clocks of several web processes.
    seconds = max(math.ceil(timestamp + tolerance - time.time()) + 1, 1)
    return bool(redis.client.set(_seen_key(mark), 1, nx=True, ex=seconds))


def _forget(mark: str) -> None:
    redis.client.delete(_seen_key(mark))
