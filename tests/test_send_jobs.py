"""Send jobs (jobs/send.py) through a real RQ worker on real Redis and PostgreSQL, zero latency."""

import re

from sqlalchemy import select

from app import jobqueue
from app.campaigns import delivery, lifecycle
from app.campaigns.models import DeliveryAttempt, Recipient, RecipientStatus
from app.extensions import db
from app.live.channel import campaign_channel
from tests.factories import make_campaign, make_started_campaign, start_campaign
from tests.helpers import published, queued_jobs, status_counts


def test_every_recipient_ends_sent_or_failed_and_counters_match_rows(app, run_worker, config):
    # At a 30% failure rate some window of 50 attempts reaches the 50%
    # auto-pause threshold in about one run of 25; this test is about end
    # states, so auto-pause (tested on its own) is off.
    config(PROVIDER_FAILURE_RATE=0.3, AUTO_PAUSE_FAILURE_RATE=0)
    campaign = make_started_campaign(120)
    run_worker()

    db.session.refresh(campaign)
    counts = status_counts(campaign.id)
    assert set(counts) <= {"sent", "failed"}
    assert counts.get("failed", 0) > 0, "with a 30% failure rate some sends fail"
    assert (campaign.sent_count, campaign.failed_count) == (counts.get("sent", 0), counts.get("failed", 0))
    assert campaign.sending_count == 0
    assert campaign.status == "completed" and campaign.finished_at is not None

    failed = db.session.scalars(select(Recipient).where(Recipient.status == "failed")).all()
    assert all(r.last_error and r.error_code and r.provider_message_id is None for r in failed)
    # Every attempt is logged; a permanent failure ends at once, a transient one
    # is retried until the 3rd attempt.
    for recipient in db.session.scalars(select(Recipient).where(Recipient.campaign_id == campaign.id)):
        outcomes = db.session.scalars(
            select(DeliveryAttempt.outcome)
            .where(DeliveryAttempt.recipient_id == recipient.id)
            .order_by(DeliveryAttempt.id)
        ).all()
        assert len(outcomes) == recipient.attempts
        assert all(o == "transient" for o in outcomes[:-1])
        assert outcomes[-1] == recipient.error_kind or (outcomes[-1] == "sent" and recipient.status == "sent")
        if recipient.status == "failed" and recipient.error_kind == "transient":
            assert recipient.attempts == 3
    sent = db.session.scalars(select(Recipient).where(Recipient.status == "sent")).all()
    assert all(r.provider_message_id.startswith("sim-email-") and r.last_error is None for r in sent)


def test_live_updates_end_with_every_recipient_in_its_final_status(app, run_worker, redis_client):
    campaign = make_campaign(30)
    pubsub = redis_client.pubsub()
    pubsub.subscribe(campaign_channel(campaign.id))
    start_campaign(campaign)
    run_worker()
    events = published(pubsub)
    pubsub.close()

    # Completion also asks open pages to reload what only a request renders
    # (the controls), naming the new status: browsers drop an event without data.
    assert events[-1] == {"type": "refresh", "data": "completed"}
    messages = [m for m in events if m["type"] == "update"]
    assert messages and len(messages) == len(events) - 1
    html = "".join(m["data"] for m in messages)
    rows = db.session.execute(
        select(Recipient.id, Recipient.status, Recipient.attempts).where(Recipient.campaign_id == campaign.id)
    ).all()
    for rid, status, attempts in rows:
        badges = re.findall(
            rf'<span id="recipient-{rid}-status" class="status" hx-swap-oob="true"><span class="badge badge-(\w+)"',
            html,
        )
        assert badges and badges[-1] == status, (rid, badges)
        # The attempts column follows too.
        counts = re.findall(rf'<span id="recipient-{rid}-attempts" hx-swap-oob="true">(\d+)</span>', html)
        assert counts and int(counts[-1]) == attempts, (rid, counts)
    # Every message carries the header, out of band; the last one shows the finished campaign.
    assert all('id="campaign-header" class="campaign-header" hx-swap-oob="true"' in m["data"] for m in messages)
    failed = db.session.scalars(select(Recipient.last_error).where(Recipient.status == "failed")).all()
    for error in failed:
        assert f'<span class="badge badge-failed">Failed</span> <small class="status-error">{error}</small>' in html
    db.session.refresh(campaign)
    last = messages[-1]["data"]
    assert 'data-testid="campaign-status">Completed<' in last
    assert f"Sent {campaign.sent_count} of 30" in last
    assert f'<span id="count-failed" hx-swap-oob="true">{campaign.failed_count}</span>' in last
    assert '<span id="count-queued" hx-swap-oob="true">0</span>' in last


def test_a_job_sends_one_slice_then_hands_the_rest_to_a_new_job(app, run_worker, redis_client, config):
    config(DISPATCH_SLICE_SECONDS=0.0, DISPATCH_CONCURRENCY=3)
    campaign = make_started_campaign(20)
    run_worker(max_jobs=1)
    db.session.refresh(campaign)
    # A zero-length slice still claims once, so each job moves the campaign on.
    assert (campaign.status, campaign.done_count + campaign.retrying_count) == ("sending", 3)
    assert queued_jobs(app, redis_client) == 1

    run_worker()
    db.session.refresh(campaign)
    assert campaign.status == "completed"
    assert campaign.done_count == 20 == sum(status_counts(campaign.id).values())


def test_a_job_for_a_campaign_that_is_not_sending_does_nothing(app, run_worker):
    campaign = make_campaign(3)
    jobqueue.enqueue_send(campaign.id)
    run_worker()
    db.session.refresh(campaign)
    assert campaign.status == "draft" and status_counts(campaign.id) == {"queued": 3}


def test_recording_an_outcome_twice_counts_it_once(app):
    campaign = make_campaign(2)
    assert lifecycle.start(campaign.id, None).changed
    claimed = delivery.advance(campaign.id, [], 10).claimed
    outcome = delivery.Outcome(claimed[0].id, 1, RecipientStatus.SENT, message_id="sim-1")
    assert len(delivery.advance(campaign.id, [outcome], 0).settled) == 1
    assert delivery.advance(campaign.id, [outcome], 0).settled == []
    db.session.commit()
    db.session.refresh(campaign)
    assert (campaign.sent_count, campaign.sending_count, campaign.queued_count) == (1, 1, 0)
    assert not lifecycle.complete_if_done(campaign.id)
