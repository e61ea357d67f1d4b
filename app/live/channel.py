"""Publishing to and streaming from a flask-sse channel.

flask-sse's own blueprint opens a Redis pool per publish, sends nothing until
the first event (the browser's EventSource then sits in "connecting") and keeps
a departed client subscribed until the next publish. This layer keeps its
Redis message format (``json({"data", "type"})`` on the channel's name), so
either side can be swapped for flask-sse's, and fixes those three.
"""

import json
import time
from collections.abc import Callable, Iterator

from flask_sse import Message
from redis import Redis

CONNECTED = ": connected\n\n"
KEEPALIVE = ": keepalive\n\n"


def publish(redis: Redis, channel: str, data: str, type: str | None = None) -> int:
    """Publish one event; returns how many subscribers got it."""
    return redis.publish(channel, json.dumps(Message(data, type=type).to_dict()))


def stream(
    redis: Redis,
    channel: str,
    keepalive_seconds: float,
    still_allowed: Callable[[], bool] = lambda: True,
) -> Iterator[str]:
    """Yield SSE text for ``channel``: a comment at once, then events, with a
    keepalive comment whenever the channel is quiet for ``keepalive_seconds``.

    The keepalive is also what finds a departed client: writing it fails, the
    generator is closed and the subscription goes with it. Every
    ``keepalive_seconds``, busy or quiet, ``still_allowed`` is asked again, so a
    stream opened by someone since signed out or deactivated ends.
    """
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel)
    try:
        yield CONNECTED
        recheck_at = time.monotonic() + keepalive_seconds
        while True:
            message = pubsub.get_message(timeout=keepalive_seconds)
            if time.monotonic() >= recheck_at:
                if not still_allowed():
                    return
                recheck_at = time.monotonic() + keepalive_seconds
            if message is None:
                yield KEEPALIVE
            elif message["type"] == "message":
                yield str(Message(**json.loads(message["data"])))
    finally:
        pubsub.close()


def campaign_channel(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"
