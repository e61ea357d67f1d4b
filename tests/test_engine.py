"""The dispatch engine's parts at zero latency: fan-out, batched claims,
counters, the shared rate limit and coalesced live updates."""

import subprocess
import time

import pytest
from redis import Redis
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app import jobqueue
from app.audit import Action, AuditEvent
from app.campaigns import delivery, lifecycle, live
from app.campaigns.models import Campaign, Recipient, RecipientState, RecipientStatus
from app.extensions import db
from app.live.channel import campaign_channel
from devtools import procfile
from jobs.halt import Halt
from jobs.ratelimit import SendRate
from jobs.send import MissedTurn, call_at_turn
from tests.conftest import worker_env
from tests.factories import make_campaign, make_large_campaign, make_started_campaign, start_campaign
from tests.helpers import assert_nothing_lost_or_sent_twice, published, queued_jobs, status_counts


def assert_finished_once(campaign: Campaign) -> None:
    db.session.refresh(campaign)
    counts = status_counts(campaign.id)
    assert set(counts) <= {"sent", "failed"}
    assert (campaign.sent_count, campaign.failed_count, campaign.sending_count) == (
        counts.get("sent", 0),
        counts.get("failed", 0),
        0,
    )
    assert campaign.status == "completed"
    completions = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.campaign_id == campaign.id, AuditEvent.action == Action.CAMPAIGN_COMPLETED.value)
    )
    assert completions == 1


# Fan-out


def test_start_fans_a_campaign_out_to_one_job_per_batch_up_to_the_cap(client, app, redis_client, config):
    config(DISPATCH_JOB_RECIPIENTS=50, DISPATCH_MAX_JOBS=4)
    small, medium, large = make_campaign(1), make_campaign(120), make_large_campaign(1_000)
    counts = []
    for campaign in (small, medium, large):
        before = queued_jobs(app, redis_client)
        client.post(f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true"})
        counts.append(queued_jobs(app, redis_client) - before)
    assert counts == [1, 3, 4]


def test_fanned_out_jobs_send_every_recipient_once_and_complete_once(app, run_worker, redis_client, config):
    config(DISPATCH_JOB_RECIPIENTS=40, DISPATCH_CONCURRENCY=16)
    campaign = make_campaign(200)
    assert lifecycle.start(campaign.id, None).changed
    db.session.commit()
    assert jobqueue.enqueue_send(campaign.id, 200) == 5
    run_worker()
    assert_finished_once(campaign)
    assert sum(status_counts(campaign.id).values()) == 200
    assert_nothing_lost_or_sent_twice(campaign, redis_client)


@pytest.mark.slow
def test_two_worker_processes_share_a_campaign(app, services, tmp_path, config):
    """`python -m jobs.worker --processes 2`, the Procfile's command, as real processes."""
    config(DISPATCH_JOB_RECIPIENTS=100)
    campaign = make_campaign(600)
    assert lifecycle.start(campaign.id, None).changed
    db.session.commit()
    assert jobqueue.enqueue_send(campaign.id, 600) == 6
    env = worker_env(services, DISPATCH_CONCURRENCY=10)
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        finished = subprocess.run(
            [*procfile.command("worker", env), "--processes", "2", "--burst"],
            cwd=procfile.ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    output = log.read_text()
    assert finished.returncode == 0, output
    assert_finished_once(campaign)
    assert sum(status_counts(campaign.id).values()) == 600
    workers = {line.rsplit(" on worker ", 1)[1] for line in output.splitlines() if "Successfully completed" in line}
    assert len(workers) == 2, output  # both processes of the pool took jobs


# Batched claims and counters


def test_concurrent_claims_never_take_the_same_recipient(app):
    campaign = make_campaign(30)
    assert lifecycle.start(campaign.id, None).changed
    db.session.commit()
    with Session(db.engine) as other:
        first = delivery.advance(campaign.id, [], 20).claimed  # rows stay locked: this transaction is open
        other_rows = (
            other.execute(
                select(Recipient.id)
                .where(Recipient.campaign_id == campaign.id, Recipient.status == "queued")
                .order_by(Recipient.id)
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )
        db.session.commit()
    assert len(first) == 20 and len(other_rows) == 10
    assert not {c.id for c in first} & set(other_rows)


def test_a_loop_turn_records_and_claims_in_one_batch_and_counters_follow(app):
    campaign = make_campaign(10)
    assert lifecycle.start(campaign.id, None).changed
    claimed = delivery.advance(campaign.id, [], 4).claimed
    db.session.commit()
    assert [c.id for c in claimed] == sorted(c.id for c in claimed) and len(claimed) == 4
    db.session.refresh(campaign)
    assert (campaign.sending_count, campaign.queued_count) == (4, 6)
    turn = delivery.advance(
        campaign.id,
        [
            delivery.Outcome(claimed[0].id, 1, RecipientStatus.SENT, message_id="sim-1"),
            delivery.Outcome(
                claimed[1].id, 1, RecipientStatus.FAILED, error_code="opted_out", error="Opted out", kind="permanent"
            ),
        ],
        1,
    )
    db.session.commit()
    db.session.refresh(campaign)
    assert len(turn.settled) == 2 and len(turn.claimed) == 1
    # Recording two and claiming one in the same turn: 4 - 2 + 1 sending.
    assert (campaign.sent_count, campaign.failed_count, campaign.sending_count, campaign.queued_count) == (1, 1, 3, 5)


# The shared rate limit


def test_no_rate_limit_grants_everything(redis_client):
    assert SendRate(redis_client, "sms", 0).take(500).granted == 500


def test_the_rate_limit_is_one_bucket_for_every_process(app, services, redis_client):
    here = SendRate(redis_client, "sms", 50)
    elsewhere = SendRate(Redis.from_url(services.redis_url), "sms", 50)  # another worker's own connection
    started = time.monotonic()
    first = here.take(100)
    second = elsewhere.take(100)
    between = time.monotonic() - started
    assert first.granted == 5  # a tenth of a second's worth
    # Only what the bucket refilled since (none, unless the machine is busy).
    assert second.granted <= 50 * between and 0 < second.retry_in <= 0.02
    assert SendRate(redis_client, "email", 50).take(100).granted == 5  # each channel has its own


def test_the_rate_limit_never_grants_more_than_the_rate_allows(redis_client):
    rate = SendRate(redis_client, "whatsapp", 200)
    started = time.monotonic()
    granted = 0
    while time.monotonic() - started < 0.5:
        grant = rate.take(7)
        granted += grant.granted
        time.sleep(grant.retry_in or 0.001)
    elapsed = time.monotonic() - started
    assert granted <= rate.capacity + 200 * elapsed
    assert granted >= 200 * 0.25  # it does let sends through


def test_tokens_given_back_are_granted_again_up_to_the_capacity(redis_client):
    # One token every 100 s: nothing refills while the test runs.
    rate = SendRate(redis_client, "sms", 0.01)
    assert rate.take(5).granted == 1  # the capacity, at least one
    assert rate.take(1).granted == 0
    rate.give_back(1)
    assert rate.take(1).granted == 1
    # No more than the capacity comes back, however many are returned.
    assert rate.give_back(3).retry_in == 0
    assert rate.take(5).granted == 1
    assert SendRate(redis_client, "email", 0).give_back(3).retry_in == 0  # no limit, no bucket


def test_every_process_takes_its_calls_turns_from_one_schedule_an_interval_apart(services, redis_client):
    here = SendRate(redis_client, "sms", 50)
    elsewhere = SendRate(Redis.from_url(services.redis_url), "sms", 50)
    started = time.monotonic()
    first = here.turns(3)
    # The next three follow those, asked from another process a moment later.
    after = elsewhere.turns(3)
    between = time.monotonic() - started
    assert first.first_in == 0 and [first.wait(n) for n in range(3)] == pytest.approx([0, 0.02, 0.04])
    assert 0.06 - between <= after.first_in <= 0.06
    assert after.wait(2) - after.first_in == pytest.approx(0.04)
    assert after.late_after == pytest.approx(0.01)  # half an interval
    assert SendRate(redis_client, "email", 50).turns(1).first_in == 0  # each channel has its own
    assert SendRate(redis_client, "email", 0).turns(5).wait(4) == 0  # no limit, no waiting


def test_a_call_is_made_at_its_turn_and_not_when_its_thread_wakes_too_late(redis_client):
    made = []
    halt = Halt(redis_client, 1)
    due = time.monotonic() + 0.02
    assert call_at_turn(due, 0.01, lambda: made.append(time.monotonic()) or "sim-1", halt) == "sim-1"
    assert made[0] >= due
    # A thread the machine left waiting past its turn would crowd the next
    # turn's call: it makes none, and the job gives it a new turn.
    with pytest.raises(MissedTurn):
        call_at_turn(time.monotonic() - 0.05, 0.01, lambda: made.append(time.monotonic()), halt)
    assert len(made) == 1


def test_a_rate_limited_campaign_is_spread_out_in_time(app, run_worker, config):
    config(EMAIL_RATE_LIMIT=40.0)
    campaign = make_started_campaign(30)
    run_worker()
    assert_finished_once(campaign)
    first, last = db.session.execute(
        select(func.min(Recipient.finished_at), func.max(Recipient.finished_at)).where(
            Recipient.campaign_id == campaign.id
        )
    ).one()
    # 30 sends at 40/s with a burst of 4: the last can start no sooner than 26/40 s after the first batch.
    assert (last - first).total_seconds() >= (30 - 2 * 4) / 40


# Coalesced live updates


@pytest.fixture
def subscribed(redis_client):
    def subscribe(campaign_id):
        pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(campaign_channel(campaign_id))
        pubsub.get_message(timeout=0.1)
        return pubsub

    return subscribe


def received(pubsub) -> list[str]:
    """The updates published, without the refresh events."""
    return [event["data"] for event in published(pubsub, quiet=0.2) if event["type"] == live.UPDATE_EVENT]


def test_noted_changes_go_out_as_one_update_with_each_recipient_once(app, subscribed):
    campaign = make_campaign(3)
    pubsub = subscribed(campaign.id)
    live.note(campaign.id, [RecipientState(1, "sending", 1), RecipientState(2, "sending", 1)])
    live.note(campaign.id, [RecipientState(1, "sent", 1), RecipientState(2, "failed", 1, "Recipient unreachable")])
    assert live.flush(campaign.id) is None
    [update] = received(pubsub)
    assert update.count('id="recipient-1-status"') == 1 and "badge-sent" in update
    assert update.count('id="recipient-2-status"') == 1 and "Recipient unreachable" in update
    assert "badge-sending" not in update and 'id="recipient-3-status"' not in update
    assert 'id="campaign-header"' in update


def test_a_second_flush_within_the_interval_waits_and_loses_nothing(app, subscribed):
    campaign = make_campaign(3)
    pubsub = subscribed(campaign.id)
    live.note(campaign.id, [RecipientState(1, "sent", 1)])
    assert live.flush(campaign.id) is None
    live.note(campaign.id, [RecipientState(2, "sent", 1)])
    wait = live.flush(campaign.id)
    assert wait is not None and 0 < wait <= 1 / app.config["LIVE_UPDATES_PER_SECOND"]
    assert len(received(pubsub)) == 1
    time.sleep(wait)
    assert live.flush(campaign.id) is None
    [later] = received(pubsub)
    assert 'id="recipient-2-status"' in later and 'id="recipient-1-status"' not in later


def test_nothing_noted_publishes_nothing(app, subscribed):
    campaign = make_campaign(1)
    pubsub = subscribed(campaign.id)
    assert live.flush(campaign.id) is None
    assert received(pubsub) == []


def test_a_campaign_sends_a_few_coalesced_updates_not_one_per_change(app, run_worker, subscribed):
    campaign = make_campaign(300)
    pubsub = subscribed(campaign.id)
    start_campaign(campaign)
    started = time.monotonic()
    run_worker()
    elapsed = time.monotonic() - started
    messages = received(pubsub)
    pubsub.close()
    assert_finished_once(campaign)
    # One flush per interval at most, plus the completion; 300 recipients
    # at concurrency 8 are at least 38 claims, each one update before this engine.
    assert len(messages) <= elapsed * app.config["LIVE_UPDATES_PER_SECOND"] + 2
    statuses = dict(
        db.session.execute(select(Recipient.id, Recipient.status).where(Recipient.campaign_id == campaign.id)).all()
    )
    html = "".join(messages)
    for rid, status in statuses.items():
        last = html.rindex(f'id="recipient-{rid}-status"')
        assert html[last : last + 200].count(f"badge-{status}") == 1, rid


def test_a_turn_without_outcomes_claims_whatever_failures_came_before(app, config):
    """Found by the state machine: a completed campaign whose last attempts
    failed is retried; its first turn has no outcomes to pause it for, so it
    claims (else every job would claim nothing and hand on to the next)."""
    config(AUTO_PAUSE_WINDOW=4, AUTO_PAUSE_FAILURE_RATE=0.75)
    campaign = make_started_campaign(4, enqueue=False)
    db.session.execute(text("UPDATE campaigns SET recent_outcomes = '1011' WHERE id = :id"), {"id": campaign.id})
    db.session.commit()
    turn = delivery.advance(campaign.id, [], 2)
    db.session.commit()
    assert len(turn.claimed) == 2 and not turn.auto_paused and not turn.halted
