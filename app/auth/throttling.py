"""Failed sign-ins, counted in Redis two ways, so that guessing is slow:

- per client address and account together (SIGN_IN_FAILURE_LIMIT): one
  address cannot guess one account fast, and one person mistyping holds up
  no colleague;
- per account, from every address (SIGN_IN_ACCOUNT_FAILURE_LIMIT): many
  addresses cannot either (password spraying).

Anyone can spend an account's allowance on purpose, to keep its owner out. So
a browser that signed in to the account before holds a signed cookie saying
so (KNOWN_DEVICE), and is held to its address's count only: the owner still
signs in from their own browsers, and an attacker needs such a cookie first,
which the owner's new password or signing out everywhere voids. The count is
a moving window, so a pause ends once the failures stop, and it never touches
sessions already signed in.
"""

import hashlib
import hmac
import time

import flask
from flask import current_app, make_response, render_template, request
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from app.auth.forms import SignInForm
from app.auth.models import User, find_by_email
from app.formatting import duration
from app.messaging.addresses import email_key

KNOWN_DEVICE = "known_device"


def typed_account() -> str:
    return email_key(request.form.get("email", ""))


def address_and_account() -> str:
    return f"{get_remote_address()}|{typed_account()}"


def account() -> str:
    # Prefixed, so no typed email can name another limit's key.
    return f"account:{typed_account()}"


def _wait(limit: RequestLimit) -> float:
    return max(limit.reset_at - time.time(), 1)


def too_many_from_address(limit: RequestLimit) -> flask.Response:
    return _refused(
        f"Too many failed sign-ins for this account from your address. "
        f"Wait {int(_wait(limit)) + 1} seconds, then try again."
    )


def too_many_for_account(limit: RequestLimit) -> flask.Response:
    return _refused(
        f"Too many failed sign-ins for this account, from several addresses: signing in to it is paused "
        f"for {duration(_wait(limit))}, except from a browser that has signed in to it before. "
        "If the failures were not yours, tell an admin."
    )


def _refused(message: str) -> flask.Response:
    # Flask-Limiter only uses a flask.Response, not a bare werkzeug one.
    return make_response(render_template("auth/sign_in.html", form=SignInForm(), error=message), 429)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="known-device")


def _mark(user: User) -> str:
    """Who the browser signed in as, until their session token changes: a new
    password, signing out everywhere and deactivation forget every browser."""
    return hashlib.sha256(user.session_token.encode()).hexdigest()


def _device_mark() -> str | None:
    """The mark this browser's cookie holds, if it is ours and not too old."""
    cookie = request.cookies.get(KNOWN_DEVICE)
    if not cookie:
        return None
    try:
        return str(_serializer().loads(cookie, max_age=current_app.config["SIGN_IN_KNOWN_DEVICE_DAYS"] * 86400))
    except BadSignature:
        return None


def known_device() -> bool:
    """This browser signed in to the account now typed before."""
    mark = _device_mark()
    if mark is None:
        return False
    user = find_by_email(typed_account())
    return user is not None and user.active and hmac.compare_digest(mark, _mark(user))


def signed_in_here_before() -> bool:
    """Someone signed in with this browser within SIGN_IN_KNOWN_DEVICE_DAYS,
    whoever they were and whether or not their sessions have ended since: a
    session that expired while its tab stayed open leaves no session cookie,
    but this one."""
    return _device_mark() is not None


def remember_device(response: Response, user: User) -> None:
    """After a successful sign-in."""
    response.set_cookie(
        KNOWN_DEVICE,
        _serializer().dumps(_mark(user)),
        max_age=int(current_app.config["SIGN_IN_KNOWN_DEVICE_DAYS"] * 86400),
        # Every path, not only Sign in's: a form sent after the session
        # expired carries it as the sign that its sender signed in here.
        path="/",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
