"""Flask's signed-cookie sessions, minus the cookie on static files."""

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface, SessionMixin

# Answers that never read the session, so renewing it there only adds a Set-Cookie.
NO_SESSION_ENDPOINTS = {"static", "health", "metrics"}
# Left by signing out in the session it clears: this browser was signed in.
SIGNED_OUT = "signed_out"


def was_signed_in() -> bool:
    """Does this browser carry a session of someone whose session ended? Its
    cookie holds a session token that no longer signs anyone in (signed out
    everywhere, a new password), or signing out here left its mark. Anyone can
    get a cookie by opening Sign in, but not one of these."""
    return "_user_id" in session or session.get(SIGNED_OUT) is True


# The live stream, which a page opens by itself (and again after every drop).
STREAM_ENDPOINT = "live.events"


class SessionInterface(SecureCookieSessionInterface):
    """Sessions are permanent and renewed on every page and form; not on static
    files, nor on the requests htmx makes for a page.

    A Set-Cookie on a stylesheet or the favicon keeps shared caches from
    storing it, and the browser fetches those on its own schedule (the favicon
    on every history push), so such a response could put back a session
    cookie just removed by signing out in another tab.
    """

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        if request.endpoint in NO_SESSION_ENDPOINTS or request.path.startswith("/api/"):
            return False
        # A page's own requests (a preview as someone types, a block reload,
        # its live stream) renew nothing: one in flight while the person signs
        # out in another tab would put the session back. Pages and forms renew it.
        own = request.headers.get("HX-Request") == "true" or request.endpoint == STREAM_ENDPOINT
        if own and not session.modified:
            return False
        return super().should_set_cookie(app, session)
