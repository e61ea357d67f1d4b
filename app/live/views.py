import re

from flask import Blueprint, Flask, Response, abort, current_app, request
from flask_login import current_user

from app import metrics
from app.auth.access import requires
from app.auth.models import Role, roles_signed_in
from app.extensions import db
from app.live.broker import Allowance, Broker, Shows, Unavailable, retry_hint

bp = Blueprint("live", __name__)

# Only campaign and contact-import channels, and the campaigns list's, are
# served to viewers; anything else could read another feature's events.
CHANNEL_NAME = re.compile(r"(campaign|import)-[0-9]{1,18}|campaign-list")
# Channels that need more, by name: the Operations page's and the webhook
# endpoints' are for admins.
CHANNEL_ROLES = {"operations": Role.ADMIN, "webhooks": Role.ADMIN}
# The first and last id of the recipients the page shows: "101-200".
SHOWS = re.compile(r"([0-9]{1,18})-([0-9]{1,18})")
EVENT_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def init_app(app: Flask) -> None:
    """One broker per process, started by its first stream (after gunicorn forks)."""
    app.extensions["live-broker"] = Broker(
        app.config,
        still_allowed=lambda wanted: _still_allowed(app, wanted),
        client_name=f"dispatcher-{app.config['PROCESS_NAME']}-live",
    )


def broker() -> Broker:
    return current_app.extensions["live-broker"]


@bp.get("/stream")
@requires(Role.VIEWER)
def events() -> Response:
    """A campaign's live updates, or a contact import's progress; ``shows``
    narrows a campaign's recipients' badges to the page's (without it, every badge)."""
    channel = request.args.get("channel", "")
    if not CHANNEL_NAME.fullmatch(channel) and channel not in CHANNEL_ROLES:
        abort(400, description="Unknown channel.")
    role = CHANNEL_ROLES.get(channel, Role.VIEWER)
    if not current_user.role_enum.allows(role):
        abort(403, description=f"This channel needs the {role.value} role.")
    shows = _shows(request.args.get("shows"))
    session_token = current_user.get_id()
    # The session used to load the user goes back to the pool now: none is
    # held open for the hours a stream may last.
    db.session.remove()
    try:
        watcher = broker().watch(channel, shows, session_token, role.value)
    except Unavailable:
        # Browsers reconnect after the hint; the page says live updates stopped meanwhile.
        body = retry_hint(current_app.config["SSE_RECONNECT_SECONDS"])
        return Response(body, mimetype="text/event-stream", headers=EVENT_STREAM_HEADERS)
    stream = metrics.counted_stream(broker().stream(watcher))
    return Response(stream, mimetype="text/event-stream", headers=EVENT_STREAM_HEADERS)


def _shows(value: str | None) -> Shows:
    if value is None:
        return None
    found = SHOWS.fullmatch(value)
    if not found or int(found.group(1)) > int(found.group(2)):
        abort(400, description='"shows" is the first and last recipient id a page shows, like 101-200.')
    return int(found.group(1)), int(found.group(2))


def _still_allowed(app: Flask, wanted: set[Allowance]) -> set[Allowance]:
    """Those of ``wanted`` whose person is still signed in with that session,
    in a role that allows what their channel needs."""
    with app.app_context():
        try:
            roles = roles_signed_in({token for token, _ in wanted})
        finally:
            db.session.remove()
    return {(token, role) for token, role in wanted if token in roles and roles[token].allows(Role(role))}
