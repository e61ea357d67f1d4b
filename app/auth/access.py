"""Who may reach which endpoint.

Every view declares the least role it needs (``@requires(Role.OPERATOR)``) or
that it is ``@public``. One ``before_request`` hook enforces that for the whole
app, so an endpoint that declares nothing is refused to everyone rather than
left open, and a test walks the URL map to keep it that way.
"""

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, flash, has_request_context, redirect, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.wrappers import Response

from app import htmx, kept
from app.auth import sessions, throttling
from app.auth.models import Role, find_by_session_token
from app.extensions import login_manager

PUBLIC = "public"
# Flask registers this one itself, so it cannot carry a marker.
PUBLIC_ENDPOINTS = {"static"}

View = TypeVar("View", bound=Callable)
# Each view function's rule, as its decorator declared it.
RULES: dict[Callable, Role | str] = {}


def requires(role: Role) -> Callable[[View], View]:
    def mark(view: View) -> View:
        RULES[view] = role
        return view

    return mark


# Views a page asks by itself, not on a click (a preview as someone types).
BACKGROUND: set[Callable] = set()


def background(view: View) -> View:
    """Signed out, a page's own request gets a plain 401, never the redirect to
    Sign in that would take the person away from what they are typing."""
    BACKGROUND.add(view)
    return view


def public(view: View) -> View:
    RULES[view] = PUBLIC
    return view


def required_role(endpoint: str) -> Role | str | None:
    if endpoint in PUBLIC_ENDPOINTS:
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return RULES.get(view) if view is not None else None


def init_app(app: Flask) -> None:
    app.session_interface = sessions.SessionInterface()
    login_manager.init_app(app)
    login_manager.user_loader(find_by_session_token)
    app.before_request(enforce)
    app.add_template_global(can)


def enforce() -> Response | None:
    if request.endpoint is None:
        return None  # Flask answers 404 / 405 itself.
    if request.blueprint == "api":
        return None  # bearer tokens only, never the session: app.api.auth
    needed = required_role(request.endpoint)
    if needed == PUBLIC:
        return None
    if not current_user.is_authenticated:
        return sign_in_required()
    if not isinstance(needed, Role):
        abort(403, description="This address has no access rule, so it is refused to everyone.")
    if not current_user.role_enum.allows(needed):
        abort(
            403,
            description=(
                f"You are signed in as {current_user.role_enum.value}, and this needs the {needed.value} role. "
                "Ask an admin if you need it."
            ),
        )
    return None


def sign_in_required() -> Response:
    """Pages go to Sign in and come back after; htmx is told to go there; the rest get 401.

    A form sent after its session ended, to a view that keeps what was typed,
    is kept, and comes back filled in after signing in.
    """
    if current_app.view_functions.get(request.endpoint or "") in BACKGROUND:
        return Response("Sign in required.\n", 401, mimetype="text/plain")
    if htmx.is_htmx():
        target = url_for("auth.sign_in", next=safe_next(_path_of(request.headers.get("HX-Current-URL", ""))))
        return Response("Sign in required.\n", 401, mimetype="text/plain", headers={"HX-Redirect": target})
    accept = request.accept_mimetypes
    if not accept or accept.accept_html:
        back = safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None
        if request.method == "POST" and current_app.view_functions.get(request.endpoint or "") in kept.KEEPING:
            back = _keep_what_was_typed()
        return redirect(url_for("auth.sign_in", next=back))
    return Response("Sign in required.\n", 401, mimetype="text/plain")


def _keep_what_was_typed() -> str | None:
    """Keep the form sent, for a browser whose session ended: where it comes
    back after signing in. If it is not kept, None, and Sign in says why.

    Only such a browser's: anyone else's would let a stranger fill Redis, or
    plant a filled-in form and send someone its link."""
    go_back = "Go back to the form to copy what you typed, then sign in."
    if not (sessions.was_signed_in() or throttling.signed_in_here_before()):
        flash(f"You are not signed in, so your form was not sent. {go_back}", "warning")
        return None
    try:
        token = kept.keep(request.form, client=get_remote_address())
    except kept.NotKept as refused:
        flash(f"Your session had ended, so your form was not sent, and {refused}. {go_back}", "warning")
        return None
    return url_for(request.endpoint or "", **(request.view_args or {}), kept=token)


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: ``next`` must never send someone elsewhere after signing in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def can(role: str) -> bool:
    """For templates: may the signed-in person act with this role? False outside a request (in jobs)."""
    return has_request_context() and current_user.is_authenticated and current_user.role_enum.allows(Role(role))
