"""The Operations page (/operations): admins only; the queue, the workers of
real worker processes (a killed one marked silent), the periodic tasks, the
last hour's calls from the attempts (read once a minute, kept after), the
campaigns now; and its machinery published once an interval for every
watcher, on a stream that ends when its person is no longer an admin."""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.auth.models import Role, User
from app.campaigns import outcomes
from app.campaigns.models import DeliveryAttempt
from app.extensions import db
from app.operations import live
from tests.conftest import signed_in, worker_env
from tests.factories import make_campaign, make_started_campaign, make_user
from tests.helpers import open_stream, published, read_until, wait_for
from tests.processes import running

STALE = 6


def attempt(at: datetime, outcome: str = "sent", code: str | None = None) -> DeliveryAttempt:
    return DeliveryAttempt(campaign_id=1, recipient_id=1, attempt=1, finished_at=at, outcome=outcome, error_code=code)


def page(client) -> str:
    response = client.get("/operations")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_only_admins_see_the_page_its_link_and_its_stream(app):
    for role in (Role.VIEWER, Role.OPERATOR):
        client = signed_in(app, make_user(role))
        assert client.get("/operations").status_code == 403
        assert client.get("/stream?channel=operations").status_code == 403
        assert 'href="/operations"' not in client.get("/campaigns").get_data(as_text=True)
    admin = signed_in(app, make_user(Role.ADMIN))
    assert 'href="/operations"' in admin.get("/campaigns").get_data(as_text=True)
    shown = page(admin)
    # Nothing runs in this test: no worker, no periodic process, no call.
    assert "No worker is running, so nothing is sent." in shown
    assert "No <strong>reconciler</strong> process has reported in time" in shown
    assert "No provider call in the last hour." in shown
    assert "No campaign is sending." in shown and "No campaign is scheduled." in shown


def test_the_last_hour_counts_each_minute_s_calls_and_failures_by_code(app, redis_client):
    now = time.time()
    at = datetime.fromtimestamp(now, UTC)
    five_ago = at - timedelta(minutes=5)
    db.session.add_all(
        [
            *(attempt(five_ago) for _ in range(3)),
            attempt(five_ago, "transient", "timeout"),
            attempt(five_ago, "permanent", "invalid_address"),
            attempt(five_ago + timedelta(seconds=1), "transient", "timeout"),
            attempt(five_ago, "lease_expired"),
            attempt(at - timedelta(seconds=1)),
            attempt(at - timedelta(minutes=61)),  # over an hour ago
        ]
    )
    db.session.commit()
    hour = outcomes.last_hour(redis_client, now)
    assert len(hour.minutes) == outcomes.MINUTES
    assert hour.minutes[-1][0] == int(now // 60) * 60
    assert (hour.sent, hour.failed) == (4, 3)
    assert hour.failure_rate == pytest.approx(3 / 7)
    assert hour.top_codes() == [("timeout", 2), ("invalid_address", 1)]
    five = dict(hour.minutes)[int(five_ago.timestamp() // 60) * 60]
    assert (five.sent, five.failed) == (3, 3)
    # A minute over (and past its grace) is read from the table once, and kept;
    # the current minute is read again each time.
    kept = {int(name) for name in redis_client.hkeys(outcomes.CACHE_KEY)}
    assert int(five_ago.timestamp() // 60) in kept and int(now // 60) not in kept
    db.session.query(DeliveryAttempt).delete()
    db.session.add(attempt(at))
    db.session.commit()
    again = outcomes.last_hour(redis_client, now)
    assert (again.sent, again.failed) == (4, 3)


def test_the_machinery_is_read_once_an_interval_however_many_processes_watch(app, redis_client):
    admin_page = signed_in(app, make_user(Role.ADMIN))
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(live.CHANNEL)
    one, other = (live.Publisher(app, app.extensions["live-broker"]) for _ in range(2))
    assert one.publish_once() is True
    # Another process's publisher, in the same interval: the lock is taken.
    assert other.publish_once() is False
    (event,) = published(pubsub)
    assert event["type"] == live.EVENT
    # The block the page itself includes, for every watcher alike.
    assert 'data-testid="machinery-read"' in event["data"] and 'data-testid="machinery-read"' in page(admin_page)
    pubsub.close()


def test_a_stream_of_the_machinery_follows_and_ends_when_its_person_is_no_longer_admin(app, config):
    config(OPERATIONS_REFRESH_SECONDS=0.2, SSE_KEEPALIVE_SECONDS=0.2)
    admin = make_user(Role.ADMIN)
    client, admin_id = signed_in(app, admin), admin.id
    response, chunks = open_stream(client, live.CHANNEL)
    first = read_until(chunks, lambda text: "event:machinery" in text and text.endswith("\n\n"))
    assert "Queue" in first and "Workers" in first
    # Again at the next interval, with nothing changed by anyone.
    read_until(chunks, lambda text: "event:machinery" in text and text.endswith("\n\n"))
    # The stream's request ended the test's session (none is held while
    # streaming): the change is made by id.
    db.session.execute(update(User).where(User.id == admin_id).values(role=Role.OPERATOR.value))
    db.session.commit()
    with pytest.raises(StopIteration):
        while True:
            next(chunks)
    response.close()


def live_worker_states(shown: str) -> list[str]:
    """The state badge of each worker row that counts its worker alive."""
    rows = re.findall(r'<tr data-testid="worker" data-stale="no">(.*?)</tr>', shown, re.S)
    return [state for row in rows for state in re.findall(r'<span class="badge badge-\w+">(\w+)</span>', row)]


@pytest.mark.slow
def test_workers_say_what_they_send_and_a_killed_one_shows_silent(app, config, services, tmp_path):
    config(WORKER_STALE_SECONDS=STALE)
    client = signed_in(app, make_user(Role.ADMIN))
    env = worker_env(services, WORKER_STALE_SECONDS=STALE, PROVIDER_LATENCY_MIN=1, PROVIDER_LATENCY_MAX=2)
    with running(env, tmp_path) as processes:
        # A row that counts the worker alive says what it does, both in one
        # read: with STALE this short, a loaded machine may let a beat come
        # late between two reads.
        wait_for(lambda: {"Idle", "Busy"} & set(live_worker_states(page(client))), 60, "a worker", processes.output)
        wait_for(lambda: "expired-leases" in page(client), 30, "a reconciler pass", processes.output)
        shown = page(client)
        assert "No <strong>scheduler</strong> process has reported in time" in shown
        assert "No <strong>reconciler</strong>" not in shown
        campaign = make_started_campaign(30, title="Flu shots")
        scheduled = make_campaign(2, title="Later on")
        scheduled.status, scheduled.scheduled_at = "scheduled", datetime.now(UTC) + timedelta(hours=2)
        db.session.commit()
        wait_for(
            lambda: f'Sending <a href="/campaigns/{campaign.id}">Flu shots</a>' in page(client),
            30,
            "the worker to say what it sends",
            processes.output,
        )
        shown = page(client)
        assert 'data-testid="now-sending"' in shown and "Flu shots" in shown
        assert 'data-testid="now-scheduled"' in shown and "Later on" in shown
        wait_for(lambda: 'data-testid="calls-summary"' in page(client), 30, "a call in the last hour")
        processes.kill("worker")
        wait_for(lambda: 'data-testid="worker" data-stale="yes"' in page(client), 30, "the worker to show silent")
        assert "Silent" in page(client)


@pytest.mark.slow
def test_a_worker_says_every_campaign_its_job_sends(app, services, tmp_path):
    client = signed_in(app, make_user(Role.ADMIN))
    env = worker_env(
        services,
        PROVIDER_LATENCY_MIN=1,
        PROVIDER_LATENCY_MAX=2,
        PROVIDER_FAILURE_RATE=0.0,
        DISPATCH_CONCURRENCY=8,
        DISPATCH_SLICE_SECONDS=600,
    )
    own = make_started_campaign(80, title="Flu shots")
    with running(env, tmp_path) as processes:
        link = f'Sending <a href="/campaigns/{own.id}">Flu shots</a>'
        wait_for(lambda: link in page(client), 30, "the worker to say what it sends", processes.output)
        others = [make_started_campaign(20, title=title) for title in ("Boosters", "Dental", "Eyes")]
        # One worker process: the others' jobs wait in the queue, and the job it runs sends them.
        b, c = (f'<a href="/campaigns/{campaign.id}">{campaign.title}</a>' for campaign in others[:2])
        wait_for(
            lambda: f"{link}, {b}, {c} and 1 other campaign" in page(client),
            30,
            "the worker to say it sends all four",
            processes.output,
        )
