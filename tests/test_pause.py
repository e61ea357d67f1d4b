"""Pause (and Cancel) while sends are in flight: calls the provider already has
finish and are recorded; claimed calls not yet made are not made, and their
recipients go back to the queue at once, never sent twice."""

import threading
import time

import pytest
from rq import Worker
from sqlalchemy import func, select

from app import jobqueue
from app.campaigns import delivery, lifecycle, live
from app.campaigns.delivery import RetryPolicy
from app.campaigns.models import DeliveryAttempt, Recipient, idempotency_key
from app.extensions import db
from jobs.halt import Halt, SharedRead
from jobs.provider import Ledger
from jobs.ratelimit import SendRate
from jobs.send import NotCalled, call_at_turn
from tests.conftest import worker_env
from tests.factories import make_campaign, make_started_campaign
from tests.helpers import (
    assert_counters_match_rows,
    assert_nothing_lost_or_sent_twice,
    reread,
    status_counts,
    wait_for,
)
from tests.processes import running


def campaign_calls(redis_client, campaign_id: int) -> list[tuple[str, float]]:
    """The provider's call log for the campaign's recipients: (key, when)."""
    keys = {
        idempotency_key(rid)
        for rid in db.session.scalars(select(Recipient.id).where(Recipient.campaign_id == campaign_id))
    }
    return [(key, at) for key, at in Ledger(redis_client).calls() if key in keys]


def test_a_call_waiting_for_its_turn_is_not_made_once_its_job_learns_the_campaign_stopped(redis_client):
    halt = Halt(redis_client, 1)
    made, not_called = [], []

    def wait_for_turn() -> None:
        try:
            call_at_turn(time.monotonic() + 60, 0.01, lambda: made.append(1), halt)
        except NotCalled:
            not_called.append(1)

    thread = threading.Thread(target=wait_for_turn)
    thread.start()
    halt.set()
    # Its turn is a minute away: a thread still there after 10 s slept through the stop.
    thread.join(timeout=10)
    assert not thread.is_alive() and not_called == [1] and made == []


def test_a_call_is_not_made_once_the_campaign_was_paused_after_its_job_last_found_it_sending(client, redis_client):
    campaign = make_started_campaign(3, enqueue=False)
    halt = Halt(redis_client, campaign.id)
    halt.sending_at(reread(campaign).version)
    # A stop noted before the job's last turn (paused, then resumed) stops nothing.
    jobqueue.note_halted(campaign.id, campaign.version - 1)
    assert call_at_turn(time.monotonic(), 1.0, lambda: "sim-1", halt) == "sim-1"

    # Pause is told to the campaign's jobs as it is shown; the job's next call reads it.
    client.post(f"/campaigns/{campaign.id}/pause")
    assert reread(campaign).status == "paused"
    made = []
    with pytest.raises(NotCalled):
        call_at_turn(time.monotonic(), 1.0, lambda: made.append(1), halt)
    assert made == [] and halt.is_set()
    # An older version noted later (an earlier pause's web process, slow) does not hide it.
    jobqueue.note_halted(campaign.id, campaign.version - 1)
    assert jobqueue.halted_at(redis_client, campaign.id) == campaign.version


def test_claims_whose_calls_were_never_made_go_back_to_the_queue_with_no_attempt(app):
    campaign = make_started_campaign(5, enqueue=False)
    claimed = delivery.advance(campaign.id, [], 3).claimed
    db.session.commit()
    assert lifecycle.pause(campaign.id, None).changed
    db.session.commit()

    # One call was made and answered; the other two never started.
    sent = RetryPolicy.from_config(app.config).settle(claimed[0], message_id="sim-1")
    turn = delivery.advance(campaign.id, [sent], 5, released=claimed[1:])
    db.session.commit()
    assert turn.halted and turn.claimed == []
    assert [(s.id, s.status, s.attempts) for s in turn.released] == [(c.id, "queued", 0) for c in claimed[1:]]
    assert status_counts(campaign.id) == {"sent": 1, "queued": 4}
    assert_counters_match_rows(campaign)
    logged = db.session.scalars(select(DeliveryAttempt.recipient_id).where(DeliveryAttempt.campaign_id == campaign.id))
    assert list(logged) == [claimed[0].id], "a call never made is no attempt"

    # Put back twice (a loop turn run again after an outage): once.
    assert delivery.advance(campaign.id, [], 0, released=claimed[1:]).released == []
    db.session.commit()
    assert_counters_match_rows(campaign)


def test_claims_never_called_in_a_cancelled_campaign_are_cancelled(app):
    campaign = make_started_campaign(4, enqueue=False)
    claimed = delivery.advance(campaign.id, [], 2).claimed
    db.session.commit()
    assert lifecycle.cancel(campaign.id, None).changed
    db.session.commit()
    turn = delivery.advance(campaign.id, [], 0, released=claimed)
    db.session.commit()
    assert {s.status for s in turn.released} == {"cancelled"}
    assert status_counts(campaign.id) == {"cancelled": 4}
    assert_counters_match_rows(campaign)


def test_one_shared_read_answers_every_caller_that_asked_before_it_started():
    reads = []
    gate = threading.Event()

    def read() -> int:
        gate.wait()
        reads.append(time.monotonic())
        return len(reads)

    shared = SharedRead(read)
    asked: dict[int, float] = {}
    answers: dict[int, int] = {}

    def ask(n: int) -> None:
        asked[n] = time.monotonic()
        answers[n] = shared()

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(asked) == 50, 10, "every caller to ask")
    gate.set()
    for thread in threads:
        thread.join()
    # The first read was in flight while the others asked: they share the next.
    assert len(reads) <= 2
    for n, answer in answers.items():
        assert reads[answer - 1] >= asked[n], "an answer from a read that started before the caller asked"


@pytest.mark.slow
def test_a_pause_puts_back_at_once_the_claims_still_waiting_for_their_turn(
    app, services, client, redis_client, tmp_path
):
    """With a rate limit, a claimed call waits for its turn in the channel's
    schedule. Paused meanwhile, it is never made: the recipient is queued
    again, and sent once after Resume."""
    campaign = make_campaign(12)
    env = worker_env(
        services,
        EMAIL_RATE_LIMIT=5,
        PROVIDER_LATENCY_MIN=0.1,
        PROVIDER_LATENCY_MAX=0.2,
        PROVIDER_FAILURE_RATE=0,
        DISPATCH_CONCURRENCY=20,
        RECONCILE_SECONDS=0.3,
    )
    with running(env, tmp_path) as processes:
        wait_for(lambda: Worker.count(queue=jobqueue.queue()) > 0, 60, "the worker to start", processes.output)
        # The channel's next 6 seconds of turns are taken by other sends (another campaign's).
        SendRate(redis_client, "email", 5).turns(30)
        client.post(f"/campaigns/{campaign.id}/start")
        wait_for(lambda: reread(campaign).sending_count >= 3, 30, "claims waiting for their turns", processes.output)
        client.post(f"/campaigns/{campaign.id}/pause")
        assert reread(campaign).status == "paused"
        # The job puts them back and ends; none of their calls can be made after that.
        wait_for(
            lambda: (
                reread(campaign).sending_count == 0 and not redis_client.exists(jobqueue.heartbeat_key(campaign.id))
            ),
            30,
            "the job to put its claims back and end",
            processes.output,
        )
        assert campaign_calls(redis_client, campaign.id) == [], "a call made after the pause"
        assert status_counts(campaign.id) == {"queued": 12}
        assert db.session.scalar(select(func.max(Recipient.attempts)).where(Recipient.campaign_id == campaign.id)) == 0
        assert_counters_match_rows(campaign)

        client.post(f"/campaigns/{campaign.id}/resume")
        wait_for(lambda: reread(campaign).status == "completed", 60, "the campaign to complete", processes.output)

    assert_nothing_lost_or_sent_twice(campaign, redis_client)
    calls = campaign_calls(redis_client, campaign.id)
    assert sorted(key for key, _ in calls) == sorted({key for key, _ in calls}) and len(calls) == 12
    assert db.session.scalar(select(func.max(Recipient.attempts)).where(Recipient.campaign_id == campaign.id)) == 1


def test_a_paused_campaign_says_how_many_messages_the_provider_still_has_until_the_last_finishes(app, client):
    campaign = make_started_campaign(5, enqueue=False)
    claimed = delivery.advance(campaign.id, [], 3).claimed
    db.session.commit()
    client.post(f"/campaigns/{campaign.id}/pause")
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'data-testid="finishing">Paused · 3 messages already with the provider are finishing</p>' in page

    # Every live update's header follows the data, down to none.
    policy = RetryPolicy.from_config(app.config)
    for answered, said in ((2, "Paused · 1 message already with the provider is finishing"), (3, None)):
        delivery.advance(campaign.id, [policy.settle(c, message_id="sim") for c in claimed[answered - 2 : answered]], 0)
        db.session.commit()
        update = live.render_update(live.fresh(campaign.id), [])
        db.session.commit()
        if said:
            assert f'data-testid="finishing">{said}</p>' in update
        else:
            assert 'data-testid="finishing"' not in update


def test_a_cancelled_campaign_says_so_too_while_the_provider_finishes(client):
    campaign = make_started_campaign(4, enqueue=False)
    delivery.advance(campaign.id, [], 2)
    db.session.commit()
    client.post(f"/campaigns/{campaign.id}/cancel")
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'data-testid="finishing">Cancelled · 2 messages already with the provider are finishing</p>' in page
