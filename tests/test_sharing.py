"""Many campaigns at once: a send job shares its concurrency among every
campaign sending (jobs/send.py, jobs/sharing.py), through real RQ workers."""

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.campaigns import delivery, lifecycle
from app.campaigns.live import fresh
from app.campaigns.models import DeliveryAttempt, Recipient
from app.extensions import db
from jobs import sharing
from jobs.sharing import Load
from tests.conftest import worker_env
from tests.factories import make_started_campaign
from tests.helpers import assert_nothing_lost_or_sent_twice, wait_for
from tests.processes import running

# The share functions, on their own


def test_equal_shares_add_up_and_the_odd_slots_go_round():
    loads = [Load(0, 5)] * 3
    assert sharing.targets(10, loads, sharing.ROUND_ROBIN, turn=0) == [4, 3, 3]
    assert sharing.targets(10, loads, sharing.ROUND_ROBIN, turn=1) == [3, 4, 3]
    # More campaigns than slots: each turn a different few get one.
    assert sharing.targets(2, [Load(0, 5)] * 5, sharing.ROUND_ROBIN, turn=4) == [1, 0, 0, 0, 1]


def test_shares_by_size_follow_what_is_left_and_leave_none_without_one():
    shares = sharing.targets(100, [Load(0, 100_000), Load(0, 10), Load(0, 0)], sharing.BY_SIZE, turn=0)
    assert sum(shares) == 100 and shares[1] >= 1 and shares[2] >= 1
    assert shares[0] == 98
    assert sharing.targets(100, [Load(0, 300), Load(0, 100)], sharing.BY_SIZE, turn=0) == [75, 25]


def test_a_campaign_over_its_share_waits_and_the_free_slots_go_to_the_others():
    # A large campaign had all 10 slots; a small one arrives: it gets the slots as they free.
    loads = [Load(9, 1000), Load(0, 10)]
    shares = sharing.targets(10, loads, sharing.ROUND_ROBIN, turn=0)
    assert sharing.wanted(1, loads, shares, turn=0) == [0, 1]
    # Never more than the free slots, whoever is under their share.
    loads = [Load(0, 1000), Load(0, 1000)]
    assert sum(sharing.wanted(3, loads, [5, 5], turn=0)) == 3


def test_a_rate_that_grants_fewer_shares_them_one_at_a_time():
    assert sharing.split(5, [4, 4], turn=0) == [3, 2]
    assert sharing.split(5, [4, 4], turn=1) == [2, 3]
    assert sharing.split(10, [4, 1], turn=0) == [4, 1]


def test_an_unknown_way_of_sharing_is_named_in_the_error():
    with pytest.raises(ValueError, match="DISPATCH_SHARING is 'fair'"):
        sharing.targets(10, [Load(0, 1)], "fair", turn=0)


# Through a worker


@pytest.mark.parametrize("mode", sharing.MODES)
def test_campaigns_started_together_are_sent_together_by_one_job(app, run_worker, config, redis_client, mode):
    config(
        DISPATCH_SHARING=mode,
        DISPATCH_CONCURRENCY=24,
        PROVIDER_LATENCY_MIN=1.0,
        PROVIDER_LATENCY_MAX=1.0,
        PROVIDER_FAILURE_RATE=0.0,
    )
    campaigns = [make_started_campaign(3, title=f"Clinic {n}") for n in range(8)]
    # One worker process, one job at a time: only sharing sends them at once.
    run_worker()
    for campaign in campaigns:
        assert fresh(campaign.id).status == "completed"
        assert_nothing_lost_or_sent_twice(fresh(campaign.id), redis_client)
    ids = [campaign.id for campaign in campaigns]
    last_start, first_end = db.session.execute(
        select(func.max(DeliveryAttempt.started_at), func.min(DeliveryAttempt.finished_at)).where(
            DeliveryAttempt.campaign_id.in_(ids)
        )
    ).one()
    # Every one of the 24 was claimed before any call came back: none waited
    # for another campaign's job. (The jobs queued for the other seven found
    # nothing left to send.)
    assert last_start < first_end
    assert db.session.scalar(select(func.count(DeliveryAttempt.id)).where(DeliveryAttempt.campaign_id.in_(ids))) == 24


def test_campaigns_sharing_a_rate_limited_channel_keep_to_its_rate_together(app, run_worker, config):
    config(EMAIL_RATE_LIMIT=40.0, PROVIDER_FAILURE_RATE=0.0)
    campaigns = [make_started_campaign(10, title=f"Reminder {n}") for n in range(3)]
    run_worker()
    ids = [campaign.id for campaign in campaigns]
    assert {fresh(campaign_id).status for campaign_id in ids} == {"completed"}
    first, last = db.session.execute(
        select(func.min(Recipient.finished_at), func.max(Recipient.finished_at)).where(Recipient.campaign_id.in_(ids))
    ).one()
    # 30 sends at 40/s with a burst of 4, whichever campaign each was for: as
    # one campaign of 30 (test_engine), not three of 10 each at the full rate.
    assert last - first >= timedelta(seconds=(30 - 2 * 4) / 40)


def test_a_job_takes_on_a_campaign_whose_retry_fell_due(app, run_worker, config):
    config(PROVIDER_FAILURE_RATE=0.0)
    waiting = make_started_campaign(2, enqueue=False, title="Retry me")
    claimed = delivery.advance(waiting.id, [], 2).claimed
    policy = delivery.RetryPolicy(0, 0, 3, random.Random())
    delivery.advance(
        waiting.id, [policy.settle(c, error_code="timeout", error="Timed out", kind="transient") for c in claimed], 0
    )
    db.session.commit()
    assert fresh(waiting.id).retrying_count == 2
    db.session.commit()
    other = make_started_campaign(5, title="Other")
    # One job, the other campaign's: no job was ever queued for the retries.
    run_worker(max_jobs=1)
    assert fresh(other.id).status == "completed"
    assert fresh(waiting.id).status == "completed" and fresh(waiting.id).sent_count == 2


@pytest.mark.slow
def test_a_small_campaign_started_behind_a_large_one_is_sent_while_the_large_one_sends(
    app, services, tmp_path, redis_client
):
    env = worker_env(
        services,
        DISPATCH_CONCURRENCY=10,
        PROVIDER_LATENCY_MIN=0.2,
        PROVIDER_LATENCY_MAX=0.4,
        PROVIDER_FAILURE_RATE=0.0,
        # Longer than the large one takes: without sharing, the small one waits for all of it.
        DISPATCH_SLICE_SECONDS=600,
    )
    large = make_started_campaign(400, title="Everyone")
    with running(env, tmp_path) as processes:
        wait_for(lambda: fresh(large.id).sent_count >= 20, 60, "the large campaign to send", processes.output)
        db.session.commit()
        small = make_started_campaign(3, title="Three")
        wait_for(lambda: fresh(small.id).status == "completed", 60, "the small campaign to complete", processes.output)
        db.session.commit()
        sending = fresh(large.id)
        assert sending.status == "sending" and sending.queued_count > 0
        db.session.commit()
        assert lifecycle.cancel(large.id, None).changed
        db.session.commit()
        wait_for(lambda: fresh(large.id).sending_count == 0, 30, "the large campaign's calls to finish")
        db.session.commit()
    assert fresh(small.id).sent_count == 3
    assert_nothing_lost_or_sent_twice(fresh(small.id), redis_client)
    assert_nothing_lost_or_sent_twice(fresh(large.id), redis_client)
