"""The scheduler as a real process (the Procfile's), with a real worker pool:
a scheduled campaign starts by itself at its time and is sent; one that fell
due while no scheduler ran starts when one comes back, saying how late; two
schedulers never start one twice; a budget refusal at its time leaves a draft."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app.audit import Action, AuditEvent
from app.campaigns import lifecycle
from app.clock import utcnow
from app.extensions import db
from tests.conftest import worker_env
from tests.factories import make_campaign
from tests.helpers import assert_nothing_lost_or_sent_twice, history, reread, wait_for
from tests.processes import Processes

pytestmark = pytest.mark.slow


def scheduled(recipients: int, in_seconds: float, title: str = "Scheduled"):
    campaign = make_campaign(recipients, title=title)
    assert lifecycle.schedule(campaign.id, utcnow() + timedelta(seconds=in_seconds), None).changed
    db.session.commit()
    return campaign


def fell_due(campaign, ago: timedelta) -> None:
    db.session.execute(
        text("UPDATE campaigns SET scheduled_at = now() - :ago WHERE id = :id"), {"ago": ago, "id": campaign.id}
    )
    db.session.commit()


@pytest.fixture
def processes(services, tmp_path):
    started = Processes(worker_env(services, PROVIDER_FAILURE_RATE=0, PYTHONUNBUFFERED=1), tmp_path)
    yield started
    started.stop_all()


def test_a_campaign_scheduled_seconds_ahead_starts_by_itself_within_5_s_and_is_sent(app, processes, redis_client):
    processes.start("worker", "--processes", "1")
    processes.start("scheduler")  # every 2 s, the default
    campaign = scheduled(6, in_seconds=3)
    wait_for(lambda: reread(campaign).status == "completed", 30, "the campaign to be sent", processes.output)
    assert campaign.scheduled_at is not None and campaign.started_at is not None
    lag = (campaign.started_at - campaign.scheduled_at).total_seconds()
    assert 0 <= lag <= 5, lag
    assert campaign.sent_count == 6
    assert_nothing_lost_or_sent_twice(campaign, redis_client)
    assert [(action, who) for action, who, _ in history(campaign)] == [
        ("campaign.created", "someone"),
        ("campaign.scheduled", "someone"),
        ("campaign.started", "the scheduler"),
        ("campaign.completed", "the dispatcher"),
    ]


def test_what_fell_due_while_no_scheduler_ran_starts_when_one_comes_back_and_a_budget_refusal_leaves_a_draft(
    app, services, tmp_path
):
    late = scheduled(1, in_seconds=60, title="Fits the budget")
    refused = scheduled(5, in_seconds=60, title="Over the budget")
    fell_due(late, timedelta(minutes=7))
    fell_due(refused, timedelta(minutes=7))
    # The scheduler comes back (no worker: starting is what is tested here).
    processes = Processes(
        worker_env(services, EMAIL_PRICE=0.01, EMAIL_MONTHLY_BUDGET=0.02, SCHEDULER_INTERVAL_SECONDS=0.5), tmp_path
    )
    processes.start("scheduler")
    try:
        wait_for(lambda: reread(refused).status == "draft", 15, "the refusal", processes.output)
        wait_for(lambda: reread(late).status == "sending", 15, "the late start", processes.output)
    finally:
        processes.stop_all()
    (note,) = [d for a, who, d in history(late) if a == "campaign.started" and who == "the scheduler"]
    assert note.startswith("7 min late because no scheduler was running")
    assert refused.schedule_refusal is not None and "It is a draft again." in refused.schedule_refusal
    assert "needs about 0.050 USD" in refused.schedule_refusal
    assert history(refused)[-1][:2] == ("campaign.start_refused", "the scheduler")


def test_two_schedulers_never_start_a_campaign_twice(app, processes, redis_client):
    campaigns = [scheduled(3, in_seconds=2.5, title=f"Campaign {i}") for i in range(12)]
    processes.env["SCHEDULER_INTERVAL_SECONDS"] = "0.2"
    processes.start("scheduler", label="scheduler-1")
    processes.start("scheduler", label="scheduler-2")
    processes.start("worker", "--processes", "1")
    wait_for(
        lambda: all(reread(c).status == "completed" for c in campaigns), 60, "every campaign sent", processes.output
    )
    starts = dict(
        db.session.execute(
            select(AuditEvent.campaign_id, func.count())
            .where(AuditEvent.action == Action.CAMPAIGN_STARTED.value)
            .group_by(AuditEvent.campaign_id)
        ).all()
    )
    assert starts == {c.id: 1 for c in campaigns}
    for campaign in campaigns:
        assert campaign.sent_count == 3
        assert_nothing_lost_or_sent_twice(campaign, redis_client)
