"""Delivery receipts, as the provider posts them.

``POST /webhooks/provider/status``, signed as the inbound webhook is
(``app.signing``: ``X-Signature-Timestamp`` and ``X-Signature``, keyed with
RECEIPTS_WEBHOOK_SECRET), with a JSON body of up to RECEIPTS_PER_REQUEST
receipts::

    {"receipts": [{"message_id": "sim-sms-…", "reference": "recipient-42",
                   "status": "delivered", "reason": null, "at": 1764950400.25}]}

``reference`` is the idempotency key the message was sent with, ``status``
``delivered`` or ``undelivered`` (with a ``reason``), ``at`` the Unix time the
provider says it happened. The receipts are stored, in one statement, and
applied by the reconciler (``app.campaigns.receipts``); the answer says how
many were new, how many were already stored, and which were refused and why,
by their place in the list (one refused receipt does not refuse the others,
which the provider would then send again for ever). Unsigned, badly signed,
stale or replayed requests get 401 and store nothing; with no secret set,
every request gets 503.
"""

import json
import math
from typing import Any

from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from app import signing
from app.auth.access import public
from app.campaigns import receipts
from app.campaigns.models import Delivery
from app.extensions import csrf, db
from app.signing import Refused

bp = Blueprint("receipts", __name__)

NOT_CONFIGURED = "Delivery receipts are not configured: set RECEIPTS_WEBHOOK_SECRET."
# Longest a message id or a reason may be: the columns' sizes, and a reason is shown on a badge.
MAX_MESSAGE_ID = 64
MAX_REASON = 500


def _problem(status: int, detail: str) -> tuple[Response, int]:
    return jsonify(error=detail), status


def _webhook() -> signing.Webhook:
    config = current_app.config
    return signing.Webhook(
        config["RECEIPTS_WEBHOOK_SECRET"],
        config["RECEIPTS_WEBHOOK_TOLERANCE_SECONDS"],
        config["RECEIPTS_WEBHOOK_MAX_BYTES"],
        "receipts",
    )


@bp.post("/webhooks/provider/status")
@public
@csrf.exempt  # signed instead: no browser session is involved
def provider_status() -> tuple[Response, int]:
    if not current_app.config["RECEIPTS_WEBHOOK_SECRET"]:
        return _problem(503, NOT_CONFIGURED)
    webhook = _webhook()
    try:
        body, mark, timestamp = webhook.verify()
        items = _items(body)
    except Refused as refusal:
        return _problem(refusal.status, refusal.detail)
    try:
        first = webhook.remember(mark, timestamp)
    except RedisError:
        return _problem(503, "Replays cannot be checked right now (Redis is unavailable); send it again later.")
    if not first:
        return _problem(401, "Replay: this signature was already accepted. Sign each request anew.")
    kept: list[receipts.Receipt] = []
    refused: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            kept.append(_receipt(item))
        except ValueError as error:
            refused.append({"index": index, "error": str(error)})
    try:
        new = receipts.keep(kept)
        db.session.commit()
    except BaseException:
        webhook.forget(mark)
        raise
    return jsonify(stored=new, duplicates=len(kept) - new, refused=refused), 200


def _items(body: bytes) -> list[Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("receipts"), list):
        raise Refused(400, 'The body must be a JSON object with a list of receipts: {"receipts": [...]}.')
    limit = current_app.config["RECEIPTS_PER_REQUEST"]
    if len(parsed["receipts"]) > limit:
        raise Refused(413, f"At most {limit} receipts a request; this one has {len(parsed['receipts'])}.")
    return parsed["receipts"]


def _receipt(item: Any) -> receipts.Receipt:
    """One receipt, or ValueError saying which field is wrong."""
    if not isinstance(item, dict):
        raise ValueError("a receipt must be a JSON object")
    message_id, reference, status = item.get("message_id"), item.get("reference"), item.get("status")
    reason, at = item.get("reason"), item.get("at")
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID:
        raise ValueError(f"message_id must be a string of 1 to {MAX_MESSAGE_ID} characters")
    recipient_id = receipts.recipient_of(reference) if isinstance(reference, str) else None
    if recipient_id is None:
        raise ValueError('reference must be the key the message was sent with, "recipient-<number>"')
    if status not in set(Delivery):
        raise ValueError(f"status must be one of {', '.join(Delivery)}")
    if reason is not None and not isinstance(reason, str):
        raise ValueError("reason must be a string or null")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at) or not 0 < at < 2**33:
        raise ValueError("at must be the Unix time it happened, in seconds")
    text = (reason or "").replace("\x00", "")[:MAX_REASON] or None
    return receipts.Receipt(recipient_id, message_id, Delivery(status), receipts.unix_time(at), text)
