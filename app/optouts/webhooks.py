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

import json
import math
import time

import flask
from flask import Blueprint, current_app, jsonify
from flask.blueprints import BlueprintSetupState
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from app import signing
from app.auth.access import public
from app.contacts import book
from app.extensions import csrf, db, limiter
from app.messaging.channels import Channel
from app.optouts import registry
from app.security import in_production
from app.signing import Refused

bp = Blueprint("webhooks", __name__)

NOT_CONFIGURED = "Inbound webhooks are not configured: set INBOUND_WEBHOOK_SECRET."


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
    webhook = _webhook()
    try:
        body, mark, timestamp = webhook.verify()
        channel, address, text = _reply(body)
    except Refused as refused:
        return _problem(refused.status, refused.detail)
    try:
        first = webhook.remember(mark, timestamp)
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
        webhook.forget(mark)
        raise
    return jsonify(action=action, channel=channel, address=address), 200


def _webhook() -> signing.Webhook:
    config = current_app.config
    return signing.Webhook(
        config["INBOUND_WEBHOOK_SECRET"],
        config["INBOUND_WEBHOOK_TOLERANCE_SECONDS"],
        config["INBOUND_WEBHOOK_MAX_BYTES"],
        "inbound",
    )


def _reply(body_bytes: bytes) -> tuple[str, str, str]:
    """The channel, the sender's address as kept, and what they wrote."""
    try:
        body = json.loads(body_bytes)
    except ValueError:
        body = None
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
