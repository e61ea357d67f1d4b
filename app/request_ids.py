"""Each request's id: the ``X-Request-ID`` it came with, if that is a sane
token, else a new one; returned in the response's ``X-Request-ID`` and on
every line logged while it is answered (``app.logs``), with the id of the
person signed in once known.

A proxy or client may choose the id, so it is taken only if short and made
of safe characters: arbitrary text from a request is never written to the
logs.
"""

import re
import uuid

from flask import Flask, Response, g, request

from app import logs

HEADER = "X-Request-ID"
SANE = re.compile(r"[A-Za-z0-9._:+=/-]{1,100}")


def sanitized(given: str | None) -> str:
    """``given`` if it is a sane id, else a new one."""
    return given if given is not None and SANE.fullmatch(given) else uuid.uuid4().hex


def init_app(app: Flask) -> None:
    # First of all hooks, so that a request refused by another still has its id.
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.before_request(_note_user)
    app.after_request(_answer_with_id)
    app.teardown_request(_end)


def _begin() -> None:
    g.request_id = sanitized(request.headers.get(HEADER))
    g.request_log_token = logs.begin(request_id=g.request_id)


def _note_user() -> None:
    """The person signed in, if a hook before this one (``app.auth.access``)
    loaded them; looking them up here would cost public pages a query. The
    API's bearer tokens add theirs in ``app.api.auth``."""
    user = g.get("_login_user")
    if user is not None and user.is_authenticated:
        logs.add(user_id=user.id)


def _answer_with_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
    return response


def _end(_error: BaseException | None) -> None:
    if (token := g.pop("request_log_token", None)) is not None:
        logs.end(token)
