"""Publishing to a flask-sse channel.

flask-sse's own ``publish`` opens a Redis pool per call; this one uses the
process's shared client and keeps its Redis message format
(``json({"data", "type"})`` on the channel's name), so either side can be
swapped for flask-sse's. What reads the channels is ``app.live.broker``.
"""

import json

from flask_sse import Message
from redis import Redis


def publish(redis: Redis, channel: str, data: str, type: str | None = None) -> int:
    """Publish one event; returns how many subscriptions got it (a web process
    counts once, however many of its streams watch)."""
    return redis.publish(channel, json.dumps(Message(data, type=type).to_dict()))


# The campaigns list: told when any campaign's status changes, so open lists reload.
# Named so the broker's ``campaign-*`` subscription carries it too.
CAMPAIGN_LIST_CHANNEL = "campaign-list"


# Webhook endpoints' pages, for admins: told when a delivery to an endpoint
# changes (its data the endpoint's id), so open delivery logs reload.
WEBHOOKS_CHANNEL = "webhooks"
DELIVERY_EVENT = "delivery"


def campaign_channel(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


def import_channel(import_id: int) -> str:
    """A contacts import's progress (app.contacts.importing)."""
    return f"import-{import_id}"
