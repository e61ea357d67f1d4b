"""What someone typed into a form that could not be taken when they sent it
(their session had ended meanwhile), kept so that it comes back after they
sign in: a 1,000-line paste is never lost to a session ending.

Kept in Redis under a random key for an hour, and handed over once, only to
the browser that sent it: its session remembers the keys of the forms it kept
(carried across signing in), so a link to a kept form shows nothing to anyone
else. Who may keep a form at all is the caller's rule (``app.auth.access``:
a browser that was signed in here); this module bounds how much, so no one can
fill Redis with it: KEPT_FORM_MAX_BYTES a form as stored, KEPT_FORM_RATE_LIMIT
forms per client address.

Stored as length-prefixed UTF-8 (``5:title,9:Flu shots,``), compressed: each
character is stored as the bytes it is, never escaped (JSON writes a control
character as six bytes), and a pasted list of recipients takes a fraction of
its size, so the cap fits the longest paste a campaign takes.

Passwords are never kept: only forms marked ``@keeps_what_was_typed`` are, and none has one.
"""

import secrets
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from flask import current_app, session
from limits import parse_many
from redis.exceptions import RedisError
from werkzeug.datastructures import MultiDict

from app.extensions import limiter, redis
from app.formatting import size

KEPT_SECONDS = 3600
# The session's list of the keys of forms this browser kept and may take back.
HELD = "kept_forms"
# More than one address may keep in an hour is never needed; it bounds the cookie.
MOST_HELD = 20
# Compressed a slice at a time, so a form over the cap is given up on early.
SLICE = 64 * 1024
View = TypeVar("View", bound=Callable)
# The views whose forms are kept when sent signed out.
KEEPING: set[Callable] = set()


class NotKept(Exception):
    """Why a form was not kept, in words for the person who sent it."""


def keeps_what_was_typed(view: View) -> View:
    KEEPING.add(view)
    return view


def _key(token: str) -> str:
    return f"kept-form:{token}"


def keep(form: MultiDict, client: str) -> str:
    """Keep the form (without its CSRF token) for this browser, sent from the
    address ``client``; returns the key to take it back with. Raises NotKept,
    with nothing kept, over the rate limit or the size cap, or if Redis refuses."""
    setting = current_app.config["KEPT_FORM_RATE_LIMIT"]
    try:
        # Every attempt counts, kept or not: packing a large form costs the server too.
        within = all(limiter.limiter.hit(limit, "kept-form", client) for limit in parse_many(setting))
    except RedisError as error:
        raise NotKept("it could not be kept just now") from error
    if not within:
        raise NotKept(f"no more forms are kept for your address for now (at most {setting})")
    most = current_app.config["KEPT_FORM_MAX_BYTES"]
    stored = pack(((name, value) for name, value in form.items(multi=True) if name != "csrf_token"), most)
    if stored is None:
        raise NotKept(f"it is larger than the {size(most)} that can be kept while you sign in")
    token = secrets.token_urlsafe(16)
    try:
        redis.client.set(_key(token), stored, ex=KEPT_SECONDS)
    except RedisError as error:
        raise NotKept("it could not be kept just now") from error
    session[HELD] = [*session.get(HELD, []), token][-MOST_HELD:]
    return token


def take(token: str | None) -> MultiDict | None:
    """The form kept under ``token``, once, if this browser kept it; else None
    (and a form kept by another browser stays there for it)."""
    held = session.get(HELD, [])
    if not token or token not in held:
        return None
    try:
        stored = redis.client.getdel(_key(token))
    except RedisError:
        return None
    session[HELD] = [other for other in held if other != token]
    # None when it is gone (taken, or an hour passed); bytes, as this client never decodes.
    return MultiDict(unpack(stored)) if isinstance(stored, bytes) else None


def held_here(url: str | None) -> bool:
    """Does ``url`` lead back to a form this browser kept?"""
    tokens = parse_qs(urlsplit(url or "").query).get("kept", [])
    return any(token in session.get(HELD, []) for token in tokens)


def carried_across_sign_in() -> dict:
    """What of the session signing in keeps when it starts a fresh one: the
    forms kept, so they come back after it."""
    return {HELD: session[HELD]} if HELD in session else {}


def pack(fields: Iterable[tuple[str, str]], most: int) -> bytes | None:
    """The fields as stored; None as soon as that is over ``most`` bytes."""
    squeeze = zlib.compressobj()
    stored = bytearray()
    for piece in _pieces(fields):
        stored += squeeze.compress(piece)
        if len(stored) > most:
            return None
    stored += squeeze.flush()
    return bytes(stored) if len(stored) <= most else None


def _pieces(fields: Iterable[tuple[str, str]]) -> Iterator[bytes | memoryview]:
    for name, value in fields:
        for text in (name, value):
            data = memoryview(text.encode())
            yield b"%d:" % len(data)
            for start in range(0, len(data), SLICE):
                yield data[start : start + SLICE]
            yield b","


def unpack(stored: bytes) -> list[tuple[str, str]]:
    packed = zlib.decompress(stored)
    texts = []
    at = 0
    while at < len(packed):
        colon = packed.index(b":", at)
        end = colon + 1 + int(packed[at:colon])
        texts.append(packed[colon + 1 : end].decode())
        at = end + 1  # past the comma
    return list(zip(texts[::2], texts[1::2], strict=True))
