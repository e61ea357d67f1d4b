"""Replies from the people we message, as the provider would forward them.

``POST /webhooks/inbound`` with a JSON body ``{"channel": "sms", "from":
"+254712345678", "text": "STOP"}``, signed: ``X-Signature-Timestamp`` the
Unix time of signing, and ``X-Signature: sha256=<hex>`` the HMAC-SHA256, keyed
with INBOUND_WEBHOOK_SECRET, of ``<timestamp>.<body>``. A request without a
valid signature, or signed more than INBOUND_WEBHOOK_TOLERANCE_SECONDS away
from now, gets 401 and changes nothing. STOP, UNSUBSCRIBE, CANCEL, END and
QUIT (any case, trimmed) opt the sender out of the channel; START opts them
back in; anything else is acknowledged and ignored.
"""

import hashlib
import hmac
import time

from flask import Blueprint, current_app, jsonify, request
from werkzeug.wrappers import Response

from app.auth.access import public
from app.campaigns.models import Channel
from app.extensions import csrf, db
from app.optouts import registry

bp = Blueprint("webhooks", __name__)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Signature header for ``body`` signed at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _signed(secret: str) -> bool:
    timestamp = request.headers.get("X-Signature-Timestamp", "")
    given = request.headers.get("X-Signature", "")
    try:
        age = abs(time.time() - float(timestamp))
    except ValueError:
        return False
    if not secret or age > current_app.config["INBOUND_WEBHOOK_TOLERANCE_SECONDS"]:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, request.get_data()))


def _problem(status: int, detail: str) -> tuple[Response, int]:
    return jsonify(error=detail), status


@bp.post("/webhooks/inbound")
@public
@csrf.exempt  # signed instead: no browser session is involved
def inbound() -> tuple[Response, int]:
    if not _signed(current_app.config["INBOUND_WEBHOOK_SECRET"]):
        return _problem(401, "Missing or bad signature: sign <timestamp>.<body> with HMAC-SHA256.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _problem(400, "The body must be a JSON object.")
    channel, sender, text = body.get("channel", "sms"), body.get("from"), body.get("text")
    if channel not in set(Channel):
        return _problem(400, f"channel must be one of {', '.join(Channel)}.")
    if not isinstance(sender, str) or not isinstance(text, str) or "\x00" in sender + text:
        return _problem(400, "from and text must be strings.")
    try:
        address = registry.normalize(channel, sender[:320])
    except ValueError as error:
        return _problem(400, f"from: {error}.")
    action = registry.reply(channel, address, text[:1000])
    db.session.commit()
    return jsonify(action=action, channel=channel, address=address), 200
