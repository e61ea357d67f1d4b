"""Headers every response carries, and what production requires: a real
secret key, and HTTPS for the session cookie and (HSTS) for browsers."""

import secrets

from flask import Flask, current_app
from flask.sansio.app import App
from werkzeug.wrappers import Response

from app.config import InProduction

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
    settle_transport(app)
    app.after_request(add_headers)


def in_production(app: App) -> bool:
    """Production rules hold unless APP_ENV says development or tests run the app."""
    return app.config.get("APP_ENV") != "development" and not app.testing


def check_secret_key(app: Flask) -> None:
    """Refuse to run in production without SECRET_KEY; in development make one up.

    A made-up key changes at every start, which only signs people out; a known
    default would let anyone forge a session.
    """
    if app.config.get("SECRET_KEY"):
        return
    if not in_production(app):
        app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
        return
    raise MissingSecretKey(
        "SECRET_KEY is not set. Set it in the environment to a long random value "
        "(python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
        "or set APP_ENV=development on a development machine."
    )


def settle_transport(app: Flask) -> None:
    """Give each setting left unset its production or development default, and
    warn when production runs with HTTPS protections turned off."""
    production = in_production(app)
    for name, value in list(app.config.items()):
        if isinstance(value, InProduction):
            app.config[name] = value.production if production else value.otherwise
    if not production:
        return
    if not app.config["SESSION_COOKIE_SECURE"]:
        app.logger.warning(
            "SESSION_COOKIE_SECURE is off in production: the session cookie is sent over plain HTTP too, "
            "where anyone on the network can read it and act as the person signed in. "
            "Not recommended: serve the app over HTTPS and leave the setting unset."
        )
    if not app.config["HSTS_SECONDS"]:
        app.logger.warning(
            "HSTS_SECONDS is 0 in production: browsers are not told to use only HTTPS for this site, "
            "so a visit typed as http:// can be intercepted. "
            "Not recommended: serve the app over HTTPS and leave the setting unset."
        )


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if seconds := current_app.config["HSTS_SECONDS"]:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={int(seconds)}")
    return response
