"""The stream layer on the real Redis: one subscription per process (the
broker), connect at once, keepalives, page-sized updates, slow clients, a
Redis that goes away and comes back."""

import re
from contextlib import contextmanager

import pytest
from redis import Redis

from app import create_app
from app.auth.models import Role
from app.campaigns.live import UPDATE_EVENT, render_update
from app.campaigns.models import Campaign, RecipientState
from app.extensions import db
from app.live.broker import BEHIND, KEEPALIVE
from app.live.channel import campaign_channel, publish
from devtools import embedded
from tests.conftest import settings_for, signed_in
from tests.factories import make_campaign, make_user
from tests.helpers import open_stream, published, read_until, wait_for

BADGE = re.compile(r'id="recipient-([0-9]+)-status"')


def watching(app) -> int:
    return app.extensions["live-broker"].watching()


def next_event(chunks) -> str:
    return read_until(chunks, lambda text: text.endswith("\n\n") and "event:" in text).replace(KEEPALIVE, "")


def test_stream_sends_a_comment_at_once_then_published_events(client, redis_client, config):
    config(SSE_KEEPALIVE_SECONDS=0.2)
    response, chunks = open_stream(client, "campaign-7")
    assert publish(redis_client, "campaign-7", "<p>one</p>\n<p>two</p>", type="update") >= 1
    assert next_event(chunks) == "event:update\ndata:<p>one</p>\ndata:<p>two</p>\n\n"
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
    assert {next(chunks).decode() for _ in range(3)} == {KEEPALIVE}
    response.close()


def test_a_closed_stream_is_released_at_once(app, client):
    before = watching(app)
    response, _ = open_stream(client, "campaign-9")
    assert watching(app) == before + 1
    response.close()
    assert watching(app) == before


def test_only_campaign_channels_and_page_ranges_are_served(client):
    for channel in ("sse", "campaign-", "campaign-1x", "other-1", ""):
        assert client.get(f"/stream?channel={channel}").status_code == 400
    for shows in ("", "1", "1-", "a-b", "5-1", "1-2-3", "1" * 19 + "-2"):
        refused = client.get(f"/stream?channel=campaign-1&shows={shows}")
        assert refused.status_code == 400
        assert "first and last recipient id" in refused.get_data(as_text=True)


def test_a_stream_gets_the_header_and_only_the_badges_of_its_page(app, client, redis_client, config):
    config(SSE_KEEPALIVE_SECONDS=0.2)
    campaign = make_campaign(3)
    channel = campaign_channel(campaign.id)
    page, _ = page_chunks = open_stream(client, channel, shows="101-200")
    everything, _ = all_chunks = open_stream(client, channel)
    update = render_update(campaign, [RecipientState(rid, "sent", 1) for rid in range(1, 301)])
    db.session.commit()
    publish(redis_client, channel, update, type=UPDATE_EVENT)

    on_page, whole = next_event(page_chunks[1]), next_event(all_chunks[1])
    assert [int(rid) for rid in BADGE.findall(on_page)] == list(range(101, 201))
    assert [int(rid) for rid in BADGE.findall(whole)] == list(range(1, 301))
    for text in (on_page, whole):
        assert 'id="campaign-header"' in text and 'id="count-sent"' in text
    assert len(on_page) < len(whole) / 2
    page.close()
    everything.close()


def test_more_streams_than_the_redis_pool_holds_all_receive_and_requests_still_work(app, client, redis_client, config):
    config(SSE_KEEPALIVE_SECONDS=0.5)
    campaign_id = make_campaign(3).id
    channel = campaign_channel(campaign_id)
    pool_size = app.extensions["redis"].connection_pool.max_connections
    streams = [open_stream(client, channel) for _ in range(pool_size + 50)]

    assert client.get("/healthz").status_code == 200
    started = client.post(f"/campaigns/{campaign_id}/start")
    # The streams handed the test's session back (one shared app context): read afresh.
    assert started.status_code == 302 and db.session.get(Campaign, campaign_id).status == "sending"
    # The app's own connections stay few; the streams share one subscription.
    named = [c["name"] for c in redis_client.client_list() if c["name"].startswith("dispatcher-app")]
    assert named.count("dispatcher-app-live") == 1
    assert len(named) <= 10, named

    publish(redis_client, channel, "<p>to everyone</p>", type="update")
    for _, chunks in streams:  # after Start's own update and refresh
        text = read_until(chunks, lambda text: "<p>to everyone</p>" in text)
        assert "event:refresh\ndata:sending" in text
    for response, _ in streams:
        response.close()


def test_a_stalled_stream_is_sent_one_refresh_and_holds_no_one_up(app, client, redis_client, config):
    config(SSE_KEEPALIVE_SECONDS=0.2, SSE_QUEUE_LIMIT=20)
    stalled, stalled_chunks = open_stream(client, "campaign-11")
    reading, reading_chunks = open_stream(client, "campaign-11")
    # The reader gets every update as it is published, while the other reads nothing.
    for n in range(50):
        publish(redis_client, "campaign-11", f"<p>{n}</p>", type="update")
        assert next_event(reading_chunks) == f"event:update\ndata:<p>{n}</p>\n\n"
    # The stalled one is told to reload once, not sent what it missed.
    events = read_until(stalled_chunks, lambda text: "<p>49</p>" in text).replace(KEEPALIVE, "")
    assert events.count(BEHIND) == 1
    assert events.startswith(BEHIND)
    assert events.count("event:update") < 20
    stalled.close()
    reading.close()


@contextmanager
def own_redis_app(services, tmp_path):
    server = embedded.start_redis(tmp_path / "redis", fast=True)
    other = create_app({**settings_for(services), "REDIS_URL": server.url, "SSE_KEEPALIVE_SECONDS": 0.2})
    try:
        yield other, server
    finally:
        other.extensions["live-broker"].stop()
        server.stop()


@pytest.mark.slow
def test_a_redis_restart_ends_streams_with_a_retry_hint_and_they_come_back(app, services, tmp_path):
    with own_redis_app(services, tmp_path) as (other, server):
        client = signed_in(other, make_user(Role.OPERATOR))
        response, chunks = open_stream(client, "campaign-12")
        port, data_dir = server.port, server.data_dir
        server.stop()

        # The open stream ends, telling the browser when to come back.
        rest = b"".join(chunks).decode().replace(KEEPALIVE, "")
        assert re.fullmatch(r"retry: [0-9]+\n\n", rest), rest
        response.close()
        # Meanwhile a new stream gets the hint alone, and /readyz says why.
        refused = client.get("/stream?channel=campaign-12")
        assert refused.status_code == 200 and refused.get_data(as_text=True).startswith("retry: ")
        assert client.get("/readyz").get_json()["missing"]["redis"] == "Redis does not answer"

        restarted = embedded.start_redis(data_dir, port, fast=True)
        try:
            # No worker runs here, so it is never ready; but Redis is no longer missing.
            wait_for(lambda: "redis" not in client.get("/readyz").get_json()["missing"], 10, "Redis to answer again")
            response, chunks = open_stream(client, "campaign-12")
            publish(Redis.from_url(restarted.url), "campaign-12", "<p>back</p>", type="update")
            assert "<p>back</p>" in next_event(chunks)
            response.close()
        finally:
            restarted.stop()
