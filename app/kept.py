"""What someone typed into a form that could not be taken when they sent it
(they had been signed out meanwhile), kept so that it comes back after they
sign in: a 1,000-line paste is never lost to a session ending.

Kept in Redis under a random key for an hour; the key travels in the URL the
person is sent back to, and the form is handed over once. Passwords are never
kept: only forms marked ``@keeps_what_was_typed`` are, and none has one.
"""

import json
import secrets
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import RedisError
from werkzeug.datastructures import MultiDict

from app.extensions import redis

KEPT_SECONDS = 3600
View = TypeVar("View", bound=Callable)
# The views whose forms are kept when sent signed out.
KEEPING: set[Callable] = set()


def keeps_what_was_typed(view: View) -> View:
    KEEPING.add(view)
    return view


def _key(token: str) -> str:
    return f"kept-form:{token}"


def keep(form: MultiDict) -> str | None:
    """Keep the form (without its CSRF token); returns the token to take it
    back with, or None if Redis cannot keep it."""
    fields = [(name, value) for name, value in form.items(multi=True) if name != "csrf_token"]
    token = secrets.token_urlsafe(16)
    try:
        redis.client.set(_key(token), json.dumps(fields), ex=KEPT_SECONDS)
    except RedisError:
        return None
    return token


def take(token: str | None) -> MultiDict | None:
    """The form kept under ``token``, once; None if there is none (or no more)."""
    if not token:
        return None
    try:
        kept = redis.client.getdel(_key(token))
    except RedisError:
        return None
    return MultiDict(json.loads(kept)) if kept else None
