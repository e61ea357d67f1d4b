import re
from functools import partial

from flask import Blueprint, Flask, Response, abort, current_app, request
from flask_login import current_user

from app.auth.access import requires
from app.auth.models import Role, find_by_session_token
from app.extensions import db, redis
from app.live.channel import stream

bp = Blueprint("live", __name__)

# Only campaign channels are served; anything else could read another feature's events.
CHANNEL_NAME = re.compile(r"campaign-[0-9]{1,18}")


@bp.get("/stream")
@requires(Role.VIEWER)
def events() -> Response:
    channel = request.args.get("channel", "")
    if not CHANNEL_NAME.fullmatch(channel):
        abort(400, description="Unknown channel.")
    session_token = current_user.get_id()
    # The session used to load the user goes back to the pool now: none is
    # held open for the hours a stream may last.
    db.session.remove()
    body = stream(
        redis.client,
        channel,
        current_app.config["SSE_KEEPALIVE_SECONDS"],
        # The app itself, not the proxy: the stream outlives this request's context.
        still_allowed=partial(_still_signed_in, current_app._get_current_object(), session_token),  # type: ignore[attr-defined]
    )
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _still_signed_in(app: Flask, session_token: str) -> bool:
    """Deactivation and a new password replace the session token, ending this stream too."""
    with app.app_context():
        try:
            return find_by_session_token(session_token) is not None
        finally:
            db.session.remove()
