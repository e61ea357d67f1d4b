"""Pause, Resume, Cancel and Retry failed, pressed through HTTP as an operator
would, against real jobs: in-process RQ workers where timing does not matter,
the Procfile's worker pool as a process where it does (races, in-flight sends)."""

import itertools
import re
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.campaigns import transitions
from app.campaigns.models import Campaign, DeliveryAttempt, Recipient
from app.extensions import db
from tests.conftest import signed_in, worker_env
from tests.factories import make_campaign, make_started_campaign, make_user
from tests.helpers import (
    assert_counters_match_rows,
    assert_nothing_lost_or_sent_twice,
    history,
    queued_jobs,
    reread,
    status_counts,
    wait_for,
)
from tests.processes import running


def press(client, campaign: Campaign, control: str, **form) -> str:
    """Press a control as htmx does; returns the notice it answers with. The
    page then reloads its recipients block in place (``campaign-changed``)."""
    response = client.post(f"/campaigns/{campaign.id}/{control}", data=form, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "campaign-changed"
    html = response.get_data(as_text=True)
    assert html.startswith('<div id="notices" aria-live="polite" hx-swap-oob="true">'), html
    return " ".join(re.findall(r'role="status">([^<]*)</p>', html))


def test_pause_stops_the_next_slice_and_resume_sends_only_the_rest(app, client, run_worker, redis_client, config):
    config(DISPATCH_SLICE_SECONDS=0.0, DISPATCH_CONCURRENCY=3)
    campaign = make_campaign(12)
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker(max_jobs=1)  # one slice of 3, then it hands on to a new job
    assert "Paused." in press(client, campaign, "pause")
    run_worker()  # the handed-on job finds the campaign paused
    assert reread(campaign).status == "paused" and status_counts(campaign.id)["queued"] == 9
    assert queued_jobs(app, redis_client) == 0

    assert "Resumed." in press(client, campaign, "resume")
    run_worker()
    assert reread(campaign).status == "completed"
    assert_nothing_lost_or_sent_twice(campaign, redis_client)
    actions = [action for action, _, _ in history(campaign)]
    assert actions == [
        "campaign.created",
        "campaign.started",
        "campaign.paused",
        "campaign.resumed",
        "campaign.completed",
    ]
    assert history(campaign)[2][1] == "operator@example.com"


def test_pressing_pause_or_resume_in_the_wrong_state_changes_nothing_and_says_why(client):
    campaign = make_campaign(2)
    assert "only a sending campaign can be paused" in press(client, campaign, "pause")
    assert "only a paused campaign can be resumed" in press(client, campaign, "resume")
    assert reread(campaign).status == "draft"
    assert [action for action, _, _ in history(campaign)] == ["campaign.created"]


@pytest.mark.parametrize("change", transitions.OPERATOR_CHANGES)
def test_a_refusal_names_exactly_the_statuses_transitions_allows(change):
    rule = transitions.only(change).split(" can ")[0]
    named = set(re.findall(r"\b(draft|scheduled|sending|paused|completed|cancelled)\b", rule))
    assert named == {status.value for status in transitions.sources(change)}


def test_a_scheduled_campaign_opens_in_the_edit_form_and_a_sending_one_says_who_may_be_edited(client):
    scheduled = make_campaign(2)
    scheduled.status, scheduled.scheduled_at = "scheduled", datetime(2099, 1, 1, tzinfo=UTC)
    db.session.commit()
    assert client.get(f"/campaigns/{scheduled.id}/edit").status_code == 200
    sending = make_started_campaign(2, enqueue=False)
    said = client.get(f"/campaigns/{sending.id}/edit", follow_redirects=True).get_data(as_text=True)
    assert "This campaign is sending; only a draft or a scheduled campaign can be edited." in said


@pytest.mark.parametrize(
    ("status", "offered"),
    [("draft", {"delete"}), ("scheduled", {"cancel"}), ("sending", {"cancel"}), ("paused", {"cancel"})],
)
def test_a_draft_is_deleted_not_cancelled_and_the_others_are_cancelled(client, status, offered):
    campaign = make_campaign(2)
    campaign.status = status
    campaign.scheduled_at = datetime(2099, 1, 1, tzinfo=UTC) if status == "scheduled" else None
    db.session.commit()
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert {control for control in ("cancel", "delete") if f'id="control-{control}"' in page} == offered


def test_twenty_concurrent_starts_dispatch_exactly_once(app, redis_client):
    campaign = make_campaign(5)
    operators = [make_user(email=f"operator{i}@example.com") for i in range(20)]
    clients = [signed_in(app, user) for user in operators]
    barrier = threading.Barrier(len(clients))
    answers = []
    url = f"/campaigns/{campaign.id}/start"

    def press_start(client):
        barrier.wait()
        answer = client.post(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        answers.append(re.search(r'role="status">([^<]+)<', answer).group(1))

    threads = [threading.Thread(target=press_start, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == ["Dispatch started."] + ["This campaign is already dispatching."] * 19
    assert queued_jobs(app, redis_client) == 1
    assert [action for action, _, _ in history(campaign)].count("campaign.started") == 1


@pytest.mark.slow
def test_cancel_during_in_flight_sends_lets_them_finish_and_sends_nothing_new(
    app, services, client, redis_client, tmp_path
):
    campaign = make_campaign(60)
    env = worker_env(
        services,
        PROVIDER_LATENCY_MIN=0.5,
        PROVIDER_LATENCY_MAX=1.0,
        DISPATCH_CONCURRENCY=5,
        PROVIDER_FAILURE_RATE=0.2,
        RECONCILE_SECONDS=0.3,
    )
    with running(env, tmp_path) as processes:
        client.post(f"/campaigns/{campaign.id}/start")
        wait_for(
            lambda: reread(campaign).sent_count >= 5 and campaign.sending_count > 0,
            30,
            "sends in flight",
            processes.output,
        )
        assert "Cancelled:" in press(client, campaign, "cancel")
        cancelled_at = db.session.scalar(select(func.now()))
        in_flight = set(
            db.session.scalars(
                select(Recipient.id).where(Recipient.campaign_id == campaign.id, Recipient.status == "sending")
            )
        )
        assert in_flight, "the cancel landed while sends were in flight"
        wait_for(lambda: reread(campaign).sending_count == 0, 30, "in-flight sends to finish", processes.output)
        time.sleep(1.0)  # time for a job that ignored the cancel to claim more

    assert campaign.status == "cancelled" and campaign.cancelled_count > 0
    assert_nothing_lost_or_sent_twice(campaign, redis_client)
    late = db.session.scalar(
        select(func.count())
        .select_from(Recipient)
        .where(Recipient.campaign_id == campaign.id, Recipient.attempt_started_at > cancelled_at)
    )
    assert late == 0, "nothing was claimed after the cancel committed"
    finished = dict(db.session.execute(select(Recipient.id, Recipient.status).where(Recipient.id.in_(in_flight))).all())
    # In flight at the cancel: sent or failed by the provider's answer, or
    # cancelled if the answer was a transient error that would have been retried.
    assert set(finished.values()) <= {"sent", "failed", "cancelled"}
    # The cancel's own statement stamps what it cancels with its transaction's
    # time, the campaign's finished_at; a send cancelled later by its answer
    # has its own. (A send can answer between the cancel and the read of
    # in_flight above, so in_flight alone cannot tell the two apart.)
    by_the_cancel_column = (Recipient.finished_at == campaign.finished_at).label("by_the_cancel")
    cancelled = db.session.execute(
        select(by_the_cancel_column, func.count())
        .where(Recipient.campaign_id == campaign.id, Recipient.status == "cancelled")
        .group_by(by_the_cancel_column)
    ).all()
    by_the_cancel = dict(cancelled).get(True, 0)
    assert by_the_cancel + dict(cancelled).get(False, 0) == campaign.cancelled_count
    assert ("campaign.cancelled", "operator@example.com", f"{by_the_cancel} recipients not sent") in history(campaign)
    # Each of the others was claimed before the cancel: its send answered
    # with a temporary failure, or its claim was let go unsent.
    claimed_at = db.session.scalars(
        select(Recipient.attempt_started_at).where(
            Recipient.campaign_id == campaign.id,
            Recipient.status == "cancelled",
            Recipient.finished_at != campaign.finished_at,
        )
    ).all()
    assert all(at is not None and at <= cancelled_at for at in claimed_at), claimed_at


@pytest.mark.slow
def test_pause_and_resume_pressed_in_a_race_never_send_anyone_twice(app, services, client, redis_client, tmp_path):
    campaign = make_campaign(80)
    other = signed_in(app, make_user(email="second@example.com"))
    env = worker_env(
        services, PROVIDER_LATENCY_MIN=0.05, PROVIDER_LATENCY_MAX=0.15, DISPATCH_CONCURRENCY=4, RECONCILE_SECONDS=0.3
    )
    with running(env, tmp_path) as processes:
        client.post(f"/campaigns/{campaign.id}/start")

        base = f"/campaigns/{campaign.id}"

        def toggle(who, first):
            second = "resume" if first == "pause" else "pause"
            for i in range(8):
                who.post(f"{base}/{first if i % 2 == 0 else second}")
                time.sleep(0.05)

        threads = [
            threading.Thread(target=toggle, args=(client, "pause")),
            threading.Thread(target=toggle, args=(other, "resume")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if reread(campaign).status == "paused":
            press(client, campaign, "resume")
        wait_for(lambda: reread(campaign).status == "completed", 60, "the campaign to complete", processes.output)

    assert_nothing_lost_or_sent_twice(campaign, redis_client)
    actions = [action for action, _, _ in history(campaign)]
    # Each press that changed something is recorded once; they alternate.
    changes = [a for a in actions if a in ("campaign.paused", "campaign.resumed")]
    assert changes and all(a != b for a, b in itertools.pairwise(changes))


def test_retry_failed_pressed_twice_queues_each_failed_recipient_once(app, client, run_worker, redis_client, config):
    config(PROVIDER_ERROR_RATES={"timeout": 0.3, "opted_out": 0.3}, RETRY_MAX_ATTEMPTS=1)
    campaign = make_campaign(40)
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker()
    failed = dict(
        db.session.execute(
            select(Recipient.id, Recipient.error_kind).where(
                Recipient.campaign_id == campaign.id, Recipient.status == "failed"
            )
        ).all()
    )
    transient = {rid for rid, kind in failed.items() if kind == "transient"}
    assert reread(campaign).status == "completed" and transient and len(transient) < len(failed)

    # Two presses at once, as from two tabs: the recipients are queued once.
    presses = [signed_in(app, make_user(email=f"tab{i}@example.com")) for i in range(2)]
    threads = [threading.Thread(target=p.post, args=(f"/campaigns/{campaign.id}/retry-failed",)) for p in presses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert "No temporarily failed recipients to retry." in press(client, campaign, "retry-failed")
    assert reread(campaign).status == "sending"
    assert (
        set(
            db.session.scalars(
                select(Recipient.id).where(Recipient.campaign_id == campaign.id, Recipient.status == "queued")
            )
        )
        == transient
    )
    assert_counters_match_rows(campaign)
    retried = [d for a, _, d in history(campaign) if a == "campaign.retried"]
    assert retried == [f"{len(transient)} recipients (temporary failures only)"]

    config(PROVIDER_ERROR_RATES={"timeout": 0.0})  # the provider recovered
    run_worker()
    assert reread(campaign).status == "completed"
    attempts = dict(
        db.session.execute(select(Recipient.id, Recipient.attempts).where(Recipient.id.in_(transient))).all()
    )
    assert set(attempts.values()) == {2}, "each was sent once more, not twice more"
    assert_nothing_lost_or_sent_twice(campaign, redis_client)

    assert "Queued" in press(client, campaign, "retry-failed", which="all")
    permanent = set(failed) - transient
    assert (
        set(
            db.session.scalars(
                select(Recipient.id).where(Recipient.campaign_id == campaign.id, Recipient.status == "queued")
            )
        )
        == permanent
    )


def test_retried_failures_are_judged_afresh_not_by_the_failures_they_retry(app, client, run_worker, config):
    # 20 failures do not fill a window of 24, so the first run completes.
    config(PROVIDER_ERROR_RATES={"timeout": 1.0}, RETRY_MAX_ATTEMPTS=1, AUTO_PAUSE_WINDOW=24)
    campaign = make_campaign(20)
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker()
    assert reread(campaign).status == "completed" and campaign.failed_count == 20

    # Kept, those 20 failures and 4 successes would fill the window at 83 %.
    config(PROVIDER_ERROR_RATES={"timeout": 0.0})
    assert "Queued" in press(client, campaign, "retry-failed")
    run_worker()
    assert reread(campaign).status == "completed" and campaign.sent_count == 20
    assert campaign.pause_reason is None


def test_a_campaign_pauses_itself_when_too_many_attempts_fail_and_says_why(app, client, run_worker, config):
    config(PROVIDER_ERROR_RATES={"rejected_content": 1.0}, AUTO_PAUSE_WINDOW=10)
    campaign = make_campaign(60)
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker()
    assert reread(campaign).status == "paused"
    # The turn that stores the 10th failure may store 7 more, and its claims
    # fill the 8 slots; those sends finish after the pause: at most 25 failed.
    assert 10 <= campaign.failed_count <= 25 and campaign.queued_count >= 35
    reason = "Paused automatically: 10 of the last 10 attempts failed (100 %), at or over the 50 % threshold."
    assert campaign.pause_reason == reason
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert f'data-testid="pause-reason">{reason}<' in page
    assert ("campaign.paused", "the dispatcher", reason) in history(campaign)

    # Resumed, it is judged afresh: ten more failures before it pauses again.
    press(client, campaign, "resume")
    run_worker()
    assert reread(campaign).status == "paused"
    assert 20 <= campaign.failed_count <= 50
    assert_counters_match_rows(campaign)


def test_failed_recipients_are_listed_with_their_reasons_and_every_attempt(app, client, run_worker, config):
    config(PROVIDER_ERROR_RATES={"throttled": 1.0})
    campaign = make_campaign(2)
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker()
    failed = client.get(f"/campaigns/{campaign.id}?status=failed").get_data(as_text=True)
    assert failed.count("429 Too Many Requests: the provider is throttling us") == 2
    recipient = db.session.scalars(select(Recipient).where(Recipient.campaign_id == campaign.id)).first()
    assert recipient.attempts == 3 and recipient.error_code == "throttled"
    page = client.get(f"/campaigns/{campaign.id}/recipients/{recipient.id}").get_data(as_text=True)
    assert page.count('data-testid="attempt"') == 3 and page.count("Temporary failure") == 3
    assert "<code>throttled</code>" in page and f"recipient-{recipient.id}" in page
    logged = db.session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.recipient_id == recipient.id)).all()
    assert [a.attempt for a in logged] == [1, 2, 3]
    assert all(a.started_at <= a.finished_at for a in logged)


def test_a_recipient_waiting_for_a_retry_says_when_and_keeps_the_campaign_open(
    app, client, run_worker, redis_client, config
):
    config(PROVIDER_ERROR_RATES={"timeout": 1.0}, RETRY_BASE_SECONDS=30.0, RETRY_CAP_SECONDS=60.0)
    campaign = make_campaign(3)
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker()
    assert reread(campaign).status == "sending" and campaign.retrying_count == 3
    assert queued_jobs(app, redis_client) == 0, "a retry that is not due yet waits for the reconciler"
    db.session.commit()  # now() is then the time of the query below, not of an earlier one
    waits = (
        db.session.execute(
            select(func.extract("epoch", Recipient.next_attempt_at - func.now())).where(
                Recipient.campaign_id == campaign.id
            )
        )
        .scalars()
        .all()
    )
    assert all(0 <= float(w) <= 30 for w in waits)  # full jitter: anywhere up to base × 2⁰
    page = client.get(f"/campaigns/{campaign.id}?status=retrying").get_data(as_text=True)
    assert page.count('class="badge badge-retrying" data-retry-at=') == 3
    assert "Retrying in " in page or "Retrying now" in page
    assert "The provider did not answer in time" in page


def test_confirmations_say_nothing_a_live_page_could_make_stale(client, run_worker, config):
    """Counts change while a page is open; the questions Cancel and Retry ask carry none."""
    # Every send fails: the one job's first claim (4 sends) surely leaves failures
    # to retry (at 50 %, all 4 succeeded in about one run of 16).
    config(PROVIDER_ERROR_RATES={"invalid_address": 1.0}, DISPATCH_SLICE_SECONDS=0.0, DISPATCH_CONCURRENCY=4)
    campaign = make_campaign(20)
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker(max_jobs=1)
    assert reread(campaign).status == "sending" and campaign.failed_count > 0
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    cancel = re.search(r'hx-confirm="(Cancel this campaign[^"]*)"', page).group(1)
    assert cancel == "Cancel this campaign? Every recipient not yet sent will never be sent. This cannot be undone."
    retry = re.search(r'hx-confirm="(Queue these failed recipients again[^"]*)"', page).group(1)
    assert not re.search(r"\d", retry.replace("3 more attempts", ""))
