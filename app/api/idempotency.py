"""``Idempotency-Key`` on every POST (B.1): the first 2xx answer to a key is
kept 24 hours and replayed, and the request is not run again.

Kept in PostgreSQL, not Redis: a claim is a row with a unique key, so two
concurrent requests cannot both win, and a stored answer survives a Redis
restart or eviction, the moment a client is most likely to retry.

The blueprint runs ``claim`` before every view and ``finish`` after it, so an
endpoint gets this by being a POST: nothing to add to it.

What one person may have kept is bounded, in keys and in the answers' bytes
(``API_IDEMPOTENCY_KEYS_PER_PERSON``, ``API_IDEMPOTENCY_BYTES_PER_PERSON``):
otherwise every request with a new key would store a day of answers. Past
either, a new key is 429 until the oldest key is a day old; the request can
be retried then, or sent without the header now. Not 413, which says the
request itself is too large: this one is not, and waiting is the remedy. The
bytes are checked before a request runs, so one answer may go past them.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from flask import current_app, g, request
from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.wrappers import Response

from app.api.problems import Problem
from app.clock import utcnow
from app.extensions import Model, db
from app.formatting import number, size

HEADER = "Idempotency-Key"
KEY = re.compile(r"[\x21-\x7e]{1,255}")
KEEP = "24 hours"
# A claim whose request never finished (its process died) is taken over after this.
STALE = "5 minutes"
# pg_advisory_xact_lock(KEYS_LOCK, user_id): one person's new keys are counted
# one at a time, so concurrent requests cannot all take the last place.
KEYS_LOCK = 7302
USAGE = text(
    "SELECT count(*), coalesce(sum(octet_length(body)), 0), "
    f"ceil(extract(epoch FROM min(created_at) + interval '{KEEP}' - now())), coalesce(bool_or(key = :key), false) "
    "FROM api_idempotency_keys WHERE user_id = :user_id"
)


class IdempotencyKey(Model):
    __tablename__ = "api_idempotency_keys"
    # The periodic clean-up finds old keys by it.
    __table_args__ = (Index("api_idempotency_keys_created", "created_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    # None while the first request runs.
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    location: Mapped[str | None] = mapped_column(Text)


def forget_expired() -> int:
    """Remove every key kept longer than KEEP, whoever used it: ``claim``
    removes only those of the person asking, and someone may never ask again.
    The reconciler's hourly task; the caller commits."""
    removed = db.session.execute(text(f"DELETE FROM api_idempotency_keys WHERE created_at < now() - interval '{KEEP}'"))
    return removed.rowcount  # type: ignore[attr-defined]


def fingerprint() -> str:
    body = hashlib.sha256(request.get_data(cache=True)).hexdigest()
    return hashlib.sha256(f"{request.method} {request.path} {body}".encode()).hexdigest()


def claim() -> Response | None:
    """Before a POST with a key: run it (claimed), replay the stored answer,
    or refuse (422 another request's key, 409 still running)."""
    if request.method != "POST" or HEADER not in request.headers or "api_user" not in g:
        return None
    key = request.headers[HEADER]
    if not KEY.fullmatch(key):
        raise Problem(
            400,
            f"{HEADER} must be 1 to 255 visible ASCII characters.",
            errors=[{"field": HEADER, "message": "1 to 255 visible ASCII characters"}],
        )
    user_id, mine = g.api_user.id, fingerprint()
    params = {"user_id": user_id, "key": key, "fingerprint": mine}
    for _ in range(3):
        db.session.execute(text("SELECT pg_advisory_xact_lock(:lock, :user_id)"), {**params, "lock": KEYS_LOCK})
        db.session.execute(
            text(
                f"DELETE FROM api_idempotency_keys WHERE user_id = :user_id AND created_at < now() - interval '{KEEP}'"
            ),
            params,
        )
        _check_room(params)
        claimed = db.session.execute(
            text(
                "INSERT INTO api_idempotency_keys (user_id, key, fingerprint) VALUES (:user_id, :key, :fingerprint) "
                "ON CONFLICT (user_id, key) DO UPDATE SET created_at = now() "
                "WHERE api_idempotency_keys.status IS NULL AND api_idempotency_keys.fingerprint = excluded.fingerprint "
                f"AND api_idempotency_keys.created_at < now() - interval '{STALE}' "
                "RETURNING 1"
            ),
            params,
        ).first()
        stored = None if claimed else db.session.get(IdempotencyKey, (user_id, key), populate_existing=True)
        db.session.commit()
        if claimed:
            g.api_idempotency = (user_id, key)
            return None
        if stored is None:
            continue  # the first request failed and gave the key back meanwhile
        if stored.fingerprint != mine:
            raise Problem(422, f"This {HEADER} was used for a different request (method, path or body).")
        if stored.status is None:
            raise Problem(409, f"A request with this {HEADER} is still running. Try again in a moment.")
        replay = Response(stored.body, stored.status, mimetype="application/json")
        if stored.location:
            replay.headers["Location"] = stored.location
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    raise Problem(409, f"A request with this {HEADER} is still running. Try again in a moment.")


def _check_room(params: dict[str, object]) -> None:
    """429 for a new key when the person's kept answers are at either bound."""
    kept, octets, wait, known = db.session.execute(USAGE, params).one()
    most_keys = current_app.config["API_IDEMPOTENCY_KEYS_PER_PERSON"]
    most_bytes = current_app.config["API_IDEMPOTENCY_BYTES_PER_PERSON"]
    if known or (kept < most_keys and octets < most_bytes):
        return
    wait = max(int(wait or 1), 1)
    if kept >= most_keys:
        reached = f"You have {number(kept)} {HEADER} answers kept (for 24 hours), the most one person may."
    else:
        reached = f"Your kept {HEADER} answers hold {size(octets)}, and one person may keep {size(most_bytes)}."
    raise Problem(
        429,
        f"{reached} A new key is refused until the oldest is a day old, in {wait} s; "
        "requests without the header go on as usual.",
        headers={"Retry-After": str(wait)},
    )


def finish(response: Response) -> Response:
    """After a claimed POST: keep a 2xx answer; give the key back otherwise."""
    claimed = g.pop("api_idempotency", None)
    if claimed is None:
        return response
    user_id, key = claimed
    db.session.rollback()  # whatever the view left uncommitted is not part of its answer
    params = {"user_id": user_id, "key": key}
    if 200 <= response.status_code < 300:
        db.session.execute(
            text(
                "UPDATE api_idempotency_keys SET status = :status, body = :body, location = :location "
                "WHERE user_id = :user_id AND key = :key"
            ),
            {**params, "status": response.status_code, "body": response.get_data(), "location": response.location},
        )
    else:
        db.session.execute(
            text("DELETE FROM api_idempotency_keys WHERE user_id = :user_id AND key = :key AND status IS NULL"), params
        )
    db.session.commit()
    return response
