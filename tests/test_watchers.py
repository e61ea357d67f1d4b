"""Hundreds of staff watching one campaign, on the Procfile's processes: one
gunicorn gevent worker serves far more streams than any Redis pool holds,
through one subscription, while Start, the controls and ``/healthz`` answer."""

import re
import time
import urllib.request

import pytest
from sqlalchemy import select

from app.auth.models import Role
from app.campaigns.models import Campaign, Recipient
from app.extensions import db
from app.live.broker import shows_param
from app.live.channel import campaign_channel, publish
from devtools.client import Browser
from devtools.watchers import Watch, Watchers
from tests.factories import PASSWORD, make_campaign, make_user
from tests.helpers import reread

pytestmark = pytest.mark.slow

# Three times redis-py's default pool of 100, which streams used to hold one each.
STREAMS = 300
BURST = 100
BURST_VERSIONS = 10**9


def web_redis_connections(redis_client) -> list[str]:
    return [c["name"] for c in redis_client.client_list() if c["name"].startswith("dispatcher-web")]


def wait_for(condition, timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(every)


@pytest.mark.stack(PROVIDER_LATENCY_MIN=0.2, PROVIDER_LATENCY_MAX=0.5, DISPATCH_CONCURRENCY=4, SSE_QUEUE_LIMIT=25)
def test_hundreds_of_streams_share_one_subscription_and_requests_still_answer(
    live_stack,
    redis_client,
    tmp_path,
):
    campaign = make_campaign(60, title="Watched")
    make_user(Role.OPERATOR, email="watcher@example.com")
    staff = Browser(live_stack, "watcher@example.com", PASSWORD)
    channel = campaign_channel(campaign.id)
    first_page = db.session.scalars(
        select(Recipient.id).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id).limit(5)
    ).all()
    shows = shows_param(first_page)
    watches = [Watch(channel, shows) for _ in range(STREAMS)]
    # A client that stops reading, with every badge in each update: its queue fills.
    stalled = Watch(channel, stalled=True)

    with Watchers(live_stack, staff.cookie_header(), [*watches, stalled]) as watchers:
        assert watchers.wait_connected(60) == STREAMS + 1, [w.error for w in watchers.watches if w.error][:3]
        # The web tier's Redis connections do not grow with its streams: one
        # subscription, and the few requests use.
        connections = web_redis_connections(redis_client)
        assert connections.count("dispatcher-web-live") == 1
        assert len(connections) <= 10, connections
        with urllib.request.urlopen(f"{live_stack}/healthz", timeout=10) as health:
            assert health.status == 200

        staff.start(campaign.id)
        assert reread(campaign).status == "sending"
        wait_for(lambda: reread(campaign).sent_count >= 10, 60, "ten sends")
        staff.post(f"/campaigns/{campaign.id}/pause", headers={"X-CSRFToken": staff.csrf_token, "HX-Request": "true"})
        assert reread(campaign).status == "paused"
        staff.post(f"/campaigns/{campaign.id}/resume", headers={"X-CSRFToken": staff.csrf_token, "HX-Request": "true"})
        assert staff.get(f"/campaigns/{campaign.id}").count('id="recipient-') >= 5

        wait_for(lambda: reread(campaign).status == "completed", 120, "the campaign to complete")
        version = db.session.scalar(select(Campaign.version).where(Campaign.id == campaign.id))

        # Every reading stream saw the final state, and only its page's badges.
        wait_for(lambda: all(version in w.received for w in watches), 10, "every stream to get the last update")
        # What each page shows: the newest update (an older one, from another
        # process, can arrive after it and is dropped by the page).
        assert all('data-status="completed"' in w.newest_update for w in watches)
        shown = {f"recipient-{id}-status" for id in first_page}
        for w in watches[:5]:
            assert set(re.findall(r"recipient-\d+-status", w.last_update)) <= shown

        # Updates naming recipients no page shows: each reading stream gets
        # only its header line, the stalled one (no ``shows``) every badge
        # (9 MB), more than the kernel (at most 4 MB) and its queue of 25 (2 MB)
        # hold for it. Its queue overflows, and the others still get every
        # update. Each update is published once every reading stream has the one
        # before: a stream held up by the stalled one would stop the burst, while
        # how fast this machine's readers keep up (the test's own asyncio loop
        # reads all 300) decides nothing.
        badges = "\n".join(f'<span id="recipient-{n}-status"></span>' for n in range(10**6, 10**6 + 2000))
        for n in range(BURST):
            version = BURST_VERSIONS + n
            publish(redis_client, channel, f'<p data-version="{version}"></p>\n{badges}', type="update")
            everyone_has = lambda v=version: all(v in w.received for w in watches)  # noqa: E731
            wait_for(everyone_has, 30, f"every reading stream to get {version}", every=0.005)
        last = BURST_VERSIONS + BURST - 1
        burst = set(range(BURST_VERSIONS, last + 1))
        assert all(burst <= w.received.keys() and len(w.last_update) < 200 for w in watches)
        # Once it reads again it finds it was told to reload, not sent all it missed.
        watchers.unstall()
        wait_for(lambda: stalled.behind >= 1, 10, "the stalled stream's refresh")
        assert stalled.updates < BURST
        assert all(w.behind == 0 and w.error is None for w in watches)

    # Streams whose clients left are released within a keepalive (a second
    # here): gunicorn logs each request as it ends.
    log = tmp_path / "web.log"
    wait_for(lambda: log.read_text().count("GET /stream ") == STREAMS + 1, 10, "the streams' release")
