"""Rate limits per token (B.1) and per person, counted in Redis so every web
process shares them.

A fixed window: ``API_RATE_LIMIT`` (``600 per minute``) for every request,
and ``API_SEND_RATE_LIMIT`` (``5 per minute``) for accepted sends and starts.
Each is counted for the token and for its person, over all their tokens:
making more tokens must not buy more requests. The headers report the
tighter of the two windows.

A send is counted when it is let through and uncounted if it was not
accepted (not 2xx), so concurrent sends cannot slip past the limit and a
refused send costs nothing.

Not Flask-Limiter, which the sign-in form uses: it would put ``Retry-After``
on every answer and cannot take back a hit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import current_app, g
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from app.api.problems import Problem, log
from app.extensions import redis

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


LIMIT = re.compile(r"\s*(\d+)\s*(?:per|/)\s*(\d*)\s*(second|minute|hour|day)s?\s*", re.IGNORECASE)
SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse(text: str) -> tuple[int, int]:
    """``"600 per minute"`` → (600, 60); ``"5/10 seconds"`` → (5, 10)."""
    found = LIMIT.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a rate limit such as '600 per minute'")
    amount, many, unit = found.groups()
    return int(amount), int(many or 1) * SECONDS[unit.lower()]


@dataclass(frozen=True)
class Window:
    limit: int
    remaining: int
    reset: int  # seconds until the window ends


def _take(name: str, setting: str) -> Window:
    """Count one request against ``setting``'s limit, for this token and for
    its person; 429 (uncounted) when either is over."""
    amount, seconds = parse(current_app.config[setting])
    now = time.time()
    start = int(now // seconds) * seconds
    keys = (f"api-rate:{name}:token:{g.api_token_id}:{start}", f"api-rate:{name}:person:{g.api_user.id}:{start}")
    reset = max(int(start + seconds - now), 1)
    try:
        with redis.client.pipeline() as pipe:
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, seconds + 1)
            token_count, _, person_count, _ = pipe.execute()
    except RedisError:
        # A limit is a safeguard, not a reason to refuse every request while Redis is down.
        log.warning("API rate limit %s not counted: Redis unavailable", name)
        return Window(amount, amount, reset)
    if max(token_count, person_count) > amount:
        _decrement(keys)
        whose = "this token" if token_count > amount else "this person's tokens together"
        raise Problem(
            429,
            f"Over the limit of {current_app.config[setting]} for {whose}. Try again in {reset} s.",
            headers={"Retry-After": str(reset), **_headers(Window(amount, 0, reset))},
        )
    g.setdefault("api_rate_keys", {})[name] = keys
    return Window(amount, amount - max(token_count, person_count), reset)


def _decrement(keys: tuple[str, ...]) -> None:
    with redis.client.pipeline() as pipe:
        for key in keys:
            pipe.decr(key)
        pipe.execute()


def _headers(window: Window) -> dict[str, str]:
    return dict(zip(HEADERS, (str(window.limit), str(max(window.remaining, 0)), str(window.reset)), strict=True))


def check_request() -> None:
    """Before every authenticated API view: the all-requests limit."""
    if "api_token_id" in g:
        g.api_rate_window = _take("all", "API_RATE_LIMIT")


def add_headers(response: Response) -> Response:
    window: Window | None = g.get("api_send_window") or g.get("api_rate_window")
    if window is not None:
        response.headers.update(_headers(window))
    return response


def counts_as_send(view: Callable) -> Callable:
    """For POST /send and /start: only accepted (2xx) calls count against
    ``API_SEND_RATE_LIMIT``; a refused one is given back."""

    @wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Any:
        g.api_send_window = _take("send", "API_SEND_RATE_LIMIT")
        accepted = False
        try:
            result = view(*args, **kwargs)
            status = result.status_code if isinstance(result, Response) else _status_of(result)
            accepted = 200 <= status < 300
            return result
        finally:
            if not accepted:
                _give_back("send")

    return limited


def _status_of(result: Any) -> int:
    if isinstance(result, tuple) and len(result) > 1 and isinstance(result[1], int):
        return result[1]
    return 200


def _give_back(name: str) -> None:
    keys = g.get("api_rate_keys", {}).get(name)
    if keys is not None:
        try:
            _decrement(keys)
        except RedisError:
            log.warning("API rate limit %s not given back: Redis unavailable", name)
