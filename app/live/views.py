import re

from flask import Response, abort, current_app, request

from app.extensions import redis
from app.live import bp
from app.live.channel import stream

# Only campaign channels are served; anything else could read another feature's events.
CHANNEL_NAME = re.compile(r"campaign-[0-9]{1,18}")


@bp.get("/stream")
def events() -> Response:
    channel = request.args.get("channel", "")
    if not CHANNEL_NAME.fullmatch(channel):
        abort(400, description="Unknown channel.")
    # No database session is touched here, so none is held open while streaming.
    body = stream(redis.client, channel, current_app.config["SSE_KEEPALIVE_SECONDS"])
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
