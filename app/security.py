"""Headers every response carries, and the rule that production has a real secret key."""

import secrets

from flask import Flask
from werkzeug.wrappers import Response

# Our own scripts and styles only: no inline script, no eval, nothing from elsewhere.
# htmx is configured (base.html) not to inject <style> or evaluate strings.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class MissingSecretKey(RuntimeError):
    pass


def init_app(app: Flask) -> None:
    check_secret_key(app)
    app.after_request(add_headers)


def check_secret_key(app: Flask) -> None:
    """Refuse to run in production without SECRET_KEY; in development make one up.

    A made-up key changes at every start, which only signs people out; a known
    default would let anyone forge a session.
    """
    if app.config.get("SECRET_KEY"):
        return
    if app.config.get("APP_ENV") == "development" or app.testing:
        app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
        return
    raise MissingSecretKey(
        "SECRET_KEY is not set. Set it in the environment to a long random value "
        "(python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
        "or set APP_ENV=development on a development machine."
    )


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
