"""Our thin SSE layer on the real Redis: connect at once, keepalive, clean unsubscribe."""

from app.live.channel import CONNECTED, KEEPALIVE, publish
from tests.helpers import published, read_until, wait_for


def open_stream(client, channel: str):
    response = client.get(f"/stream?channel={channel}", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    return response, iter(response.response)


def wait_for_subscribers(redis_client, channel: str, count: int) -> None:
    wait_for(lambda: redis_client.pubsub_numsub(channel)[0][1] == count, 5, f"{channel} to have {count} subscribers")


def test_stream_sends_a_comment_at_once_then_published_events(client, redis_client, config):
    config(SSE_KEEPALIVE_SECONDS=0.2)
    response, chunks = open_stream(client, "campaign-7")
    assert next(chunks).decode() == CONNECTED
    wait_for_subscribers(redis_client, "campaign-7", 1)

    assert publish(redis_client, "campaign-7", "<p>one</p>\n<p>two</p>", type="update") == 1
    events = read_until(chunks, lambda text: "event:" in text).replace(KEEPALIVE, "")
    assert events == "event:update\ndata:<p>one</p>\ndata:<p>two</p>\n\n"
    response.close()


def test_publish_keeps_flask_sse_message_format(redis_client):
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("campaign-3")
    publish(redis_client, "campaign-3", "<b>hi</b>", type="update")
    assert published(pubsub) == [{"data": "<b>hi</b>", "type": "update"}]
    pubsub.close()


def test_quiet_stream_sends_keepalives(app, client, config):
    config(SSE_KEEPALIVE_SECONDS=0.2)
    response, chunks = open_stream(client, "campaign-8")
    assert next(chunks).decode() == CONNECTED
    assert {next(chunks).decode() for _ in range(3)} == {KEEPALIVE}
    response.close()


def test_a_closed_stream_unsubscribes(client, redis_client):
    response, chunks = open_stream(client, "campaign-9")
    next(chunks)
    wait_for_subscribers(redis_client, "campaign-9", 1)
    response.close()
    wait_for_subscribers(redis_client, "campaign-9", 0)


def test_only_campaign_channels_are_served(client):
    for channel in ("sse", "campaign-", "campaign-1x", "other-1", ""):
        assert client.get(f"/stream?channel={channel}").status_code == 400
