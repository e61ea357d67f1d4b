"""Fault injection with real processes: workers killed with SIGKILL, Redis
restarted and flushed, PostgreSQL restarted, all mid-campaign. Each test runs
the Procfile's worker pool and reconciler as processes against real servers,
and ends by checking that every recipient is terminal, the counters equal the
rows, and the provider's ledger holds exactly one message per sent recipient."""

import time
from contextlib import contextmanager

import flask_migrate
import pytest
from redis import Redis
from sqlalchemy import func, select

from app import create_app
from app.campaigns.models import Campaign, DeliveryAttempt
from app.extensions import db
from devtools import embedded
from tests.conftest import Services, settings_for, worker_env
from tests.factories import make_started_campaign
from tests.helpers import assert_nothing_lost_or_sent_twice, reread, wait_for
from tests.processes import running

pytestmark = pytest.mark.slow

# Slow enough that sends are in flight whenever a fault lands; the provider
# accepts a message when the call arrives, so a killed worker leaves accepted
# messages the database does not know about.
FAULT_SETTINGS = {
    "PROVIDER_LATENCY_MIN": 0.2,
    "PROVIDER_LATENCY_MAX": 0.4,
    "PROVIDER_FAILURE_RATE": 0.1,
    "DISPATCH_CONCURRENCY": 10,
    "LEASE_SECONDS": 1.5,
    "RECONCILE_SECONDS": 0.3,
    "AUTO_PAUSE_FAILURE_RATE": 0,
    "OUTAGE_PATIENCE_SECONDS": 60,
}


def done_count(campaign: Campaign) -> int:
    return reread(campaign).done_count


def completed(campaign: Campaign) -> bool:
    return reread(campaign).status == "completed"


def test_a_worker_killed_three_times_loses_nothing_and_sends_nothing_twice(app, services, redis_client, tmp_path):
    campaign = make_started_campaign(300)
    with running(worker_env(services, **FAULT_SETTINGS), tmp_path) as processes:
        for kill in range(3):
            floor = done_count(campaign) + 30
            wait_for(
                lambda floor=floor: done_count(campaign) >= floor,
                60,
                f"progress before kill {kill + 1}",
                processes.output,
            )
            processes.kill("worker")
            processes.start("worker", "--processes", "1")
        wait_for(lambda: completed(campaign), 90, "the campaign to complete", processes.output)

    ledger = assert_nothing_lost_or_sent_twice(campaign, redis_client)
    reaped = db.session.scalar(
        select(func.count())
        .select_from(DeliveryAttempt)
        .where(DeliveryAttempt.campaign_id == campaign.id, DeliveryAttempt.outcome == "lease_expired")
    )
    assert reaped > 0, "the kills landed while sends were in flight, and their leases were reaped"
    # The provider had accepted some of those before the worker died: they were
    # asked again under the same key and answered with the same message.
    assert any(int(entry["requests"]) > 1 for entry in ledger.values())


@pytest.fixture
def own_redis(tmp_path):
    server = embedded.start_redis(tmp_path / "redis", fast=True)
    yield server
    server.stop()


@contextmanager
def app_on(services: Services, **settings):
    """An app of this test's own on other servers, its context pushed."""
    other = create_app({**settings_for(services), **settings})
    with other.app_context():
        yield other
        db.session.remove()


def test_redis_restarted_and_flushed_mid_campaign_loses_nothing(app, services, redis_client, own_redis, tmp_path):
    # The app's Redis restarts and loses everything; the provider's ledger is the
    # provider's own, elsewhere, as a real provider's would be.
    ours = Services(services.database_url, own_redis.url)
    env = worker_env(ours, PROVIDER_LEDGER_URL=services.redis_url, DISPATCH_SLICE_SECONDS=120, **FAULT_SETTINGS)
    with app_on(ours, PROVIDER_LEDGER_URL=services.redis_url):
        # One worker process: its job sends both campaigns at once
        # (jobs.sharing), and the flush loses the jobs queued for them. (A
        # campaign whose every job Redis lost is recovered by the reconciler:
        # test_reconciler.)
        first, second = make_started_campaign(300), make_started_campaign(100)
        with running(env, tmp_path) as processes:
            wait_for(lambda: done_count(first) >= 60, 60, "progress before the restart", processes.output)
            port, data_dir = own_redis.port, own_redis.data_dir
            own_redis.stop()
            time.sleep(1.0)
            restarted = embedded.start_redis(data_dir, port, fast=True)
            floor = done_count(first) + 30
            wait_for(lambda: done_count(first) >= floor, 60, "progress after the restart", processes.output)
            assert done_count(second) > 0, "the second campaign is sent beside the first, not after it"
            Redis.from_url(restarted.url).flushall()
            wait_for(lambda: completed(first) and completed(second), 90, "both campaigns to complete", processes.output)
        restarted.stop()
        for campaign in (first, second):
            assert_nothing_lost_or_sent_twice(campaign, redis_client)


def test_postgres_restarted_mid_campaign_loses_nothing(app, services, redis_client, tmp_path):
    postgres = embedded.start_postgres(tmp_path / "postgres", fast=True, database="faults")
    try:
        ours = Services(postgres.url, services.redis_url)
        with app_on(ours):
            flask_migrate.upgrade()
            campaign = make_started_campaign(300)
            with running(worker_env(ours, **FAULT_SETTINGS), tmp_path) as processes:
                wait_for(lambda: done_count(campaign) >= 60, 60, "progress before the restart", processes.output)
                db.session.commit()  # our connection goes back to the pool, to be pinged before reuse
                postgres = embedded.start_postgres(tmp_path / "postgres", postgres.port, fast=True, database="faults")
                floor = done_count(campaign) + 30
                wait_for(
                    lambda floor=floor: done_count(campaign) >= floor,
                    60,
                    "progress after the restart",
                    processes.output,
                )
                wait_for(lambda: completed(campaign), 90, "the campaign to complete", processes.output)
            assert_nothing_lost_or_sent_twice(campaign, redis_client)
    finally:
        postgres.stop()
