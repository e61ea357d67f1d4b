"""The reconciler's tasks (``app.campaigns.recovery``), one call at a time:
the database says what is owed, and Redis and the workers are brought back
in line with it; and its loop, one pass at a time across reconcilers."""

import random
import time

from sqlalchemy import select

from app.campaigns import delivery, lifecycle, recovery
from app.campaigns.models import DeliveryAttempt, Recipient, RecipientStatus
from app.extensions import db
from jobs import periodic
from tests.factories import make_campaign, make_started_campaign
from tests.helpers import assert_counters_match_rows, assert_nothing_lost_or_sent_twice, reread, status_counts


def test_a_campaign_whose_jobs_redis_lost_gets_a_new_one_once(app, run_worker, redis_client):
    campaign = make_started_campaign(20)
    assert recovery.restart_jobless().enqueued == [], "its job is still queued"
    redis_client.flushdb()
    assert recovery.restart_jobless().enqueued == [campaign.id]
    assert recovery.restart_jobless().enqueued == [], "and not twice"
    run_worker()
    assert reread(campaign).status == "completed"
    assert_nothing_lost_or_sent_twice(campaign, redis_client)


def test_an_expired_lease_goes_back_to_the_queue_and_its_late_answer_counts_nowhere(
    app, run_worker, redis_client, config
):
    campaign = make_started_campaign(4)
    config(LEASE_SECONDS=0.0)
    claimed = delivery.advance(campaign.id, [], 2).claimed  # then the worker dies
    db.session.commit()
    assert recovery.recover_expired_leases() == [campaign.id]
    assert status_counts(campaign.id) == {"queued": 4}
    assert_counters_match_rows(campaign)
    expired = db.session.scalars(
        select(DeliveryAttempt.outcome).where(DeliveryAttempt.campaign_id == campaign.id)
    ).all()
    assert expired == ["lease_expired", "lease_expired"]
    # An attempt the provider never answered does not use up one of the 3 allowed.
    assert {db.session.get(Recipient, c.id).attempt_limit for c in claimed} == {4}

    run_worker()
    # The dead worker's answer for its first attempt arrives after all: it is stale.
    policy = delivery.RetryPolicy(0, 0, 3, random.Random())
    assert delivery.advance(campaign.id, [policy.settle(claimed[0], message_id="sim-late")], 0).settled == []
    db.session.commit()
    assert reread(campaign).status == "completed"
    assert db.session.get(Recipient, claimed[0].id).attempts == 2
    assert_nothing_lost_or_sent_twice(campaign, redis_client)


def test_a_campaign_left_sending_with_nothing_owed_is_completed(app, redis_client):
    campaign = make_campaign(2)
    assert lifecycle.start(campaign.id, None).changed
    claimed = delivery.advance(campaign.id, [], 2).claimed
    policy = delivery.RetryPolicy(0, 0, 3, random.Random())
    # The last job stored these and died before completing the campaign.
    delivery.advance(
        campaign.id, [policy.settle(c, error_code="opted_out", error="Opted out", kind="permanent") for c in claimed], 0
    )
    db.session.commit()
    assert reread(campaign).status == "sending"
    assert recovery.restart_jobless().completed == [campaign.id]
    assert reread(campaign).status == "completed"


def test_a_retry_that_falls_due_gets_a_job(app, run_worker, redis_client, config):
    config(PROVIDER_ERROR_RATES={"provider_error": 1.0}, RETRY_BASE_SECONDS=0.2, RETRY_CAP_SECONDS=0.2)
    campaign = make_started_campaign(3)
    run_worker(max_jobs=1)
    assert reread(campaign).retrying_count == 3
    config(PROVIDER_ERROR_RATES={"provider_error": 0.0})  # the provider is back
    time.sleep(0.25)
    # A retry already due when the job ended was handed to a new job; one
    # that fell due later is the reconciler's to enqueue.
    handed_on = redis_client.llen(f"rq:queue:{app.config['RQ_QUEUE']}") > 0
    assert handed_on or recovery.restart_jobless().enqueued == [campaign.id]
    run_worker()
    assert reread(campaign).status == "completed" and campaign.sent_count == 3
    assert {r.attempts for r in db.session.scalars(select(Recipient).where(Recipient.campaign_id == campaign.id))} == {
        2
    }
    assert all(r.status == RecipientStatus.SENT for r in db.session.scalars(select(Recipient)))


def test_one_pass_at_a_time_across_reconcilers(app, config):
    """Each of the reconciler's tasks runs in one reconciler an interval: a
    second finds their locks held, runs none, and tries when they lapse."""
    campaign = make_started_campaign(4)
    config(LEASE_SECONDS=0.0)
    first, second = (periodic.Loop(periodic.tasks_of("reconciler", app.config)) for _ in range(2))
    assert first.tick() == [
        "expired-leases",
        "jobless-campaigns",
        "stalled-imports",
        "stalled-contact-changes",
        "delivery-receipts",
        "unmatched-receipts",
        "webhook-deliveries",
        "unstarted-uploads",
        "idempotency-keys",
    ]
    assert not [result for result in first.results.values() if isinstance(result, Exception)]
    assert len(delivery.advance(campaign.id, [], 2).claimed) == 2  # then the worker dies
    db.session.commit()
    assert second.tick() == []
    assert status_counts(campaign.id) == {"queued": 2, "sending": 2}, "its leases wait for the first one's next pass"
    assert 0 < second.wait() <= 0.9 * app.config["RECONCILE_SECONDS"]


def test_a_campaign_gets_a_job_only_when_two_passes_in_a_row_find_it_jobless(app, redis_client):
    campaign = make_started_campaign(5)
    redis_client.flushdb()
    look = recovery.JoblessCampaigns()  # as a reconciler process starts
    first = look()
    assert (first.jobless, first.enqueued) == ([campaign.id], [])
    assert look().enqueued == [campaign.id]
