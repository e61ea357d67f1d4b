"""Outcomes counted by the hour and by a campaign's second (app.campaigns.rollup):
they add up to the recipients' own rows after a campaign, and the migration
counts what was sent before it."""

from collections import Counter

import flask_migrate
from sqlalchemy import func, select

from app.campaigns import rollup
from app.campaigns.models import CampaignSecond, DeliveryAttempt, HourlyOutcome
from app.extensions import db
from app.optouts import registry as opt_outs
from app.optouts.models import Source
from tests.factories import make_campaign, start_campaign
from tests.helpers import failed_codes, status_counts


def hourly(channel: str) -> dict[str, int]:
    rows = db.session.execute(
        select(HourlyOutcome.outcome, func.sum(HourlyOutcome.messages))
        .where(HourlyOutcome.channel == channel)
        .group_by(HourlyOutcome.outcome)
    )
    return {outcome: int(total) for outcome, total in rows}


def by_second(campaign_id: int) -> dict[tuple[str, str], int]:
    rows = db.session.execute(
        select(CampaignSecond.outcome, CampaignSecond.error_code, func.sum(CampaignSecond.messages))
        .where(CampaignSecond.campaign_id == campaign_id)
        .group_by(CampaignSecond.outcome, CampaignSecond.error_code)
    )
    return {(outcome, code): int(total) for outcome, code, total in rows}


def test_after_a_campaign_the_rollups_add_up_to_its_recipients_and_attempts(app, run_worker, config):
    config(PROVIDER_FAILURE_RATE=0.3, RETRY_BASE_SECONDS=0, RETRY_MAX_ATTEMPTS=2, AUTO_PAUSE_FAILURE_RATE=0)
    campaign = make_campaign(120)
    opt_outs.add(campaign.channel, "person1@example.com", Source.STAFF)
    db.session.commit()
    start_campaign(campaign)
    run_worker()

    final = status_counts(campaign.id)
    assert final.get("skipped") == 1
    assert final.get("failed", 0) > 0
    seconds = by_second(campaign.id)
    per_outcome: dict[str, int] = {}
    for (outcome, _), amount in seconds.items():
        per_outcome[outcome] = per_outcome.get(outcome, 0) + amount
    # The statuses recipients ended in are counted once each ...
    for status in ("sent", "failed", "skipped"):
        assert per_outcome.get(status, 0) == final.get(status, 0), status
    # ... and every call made, including those retried later.
    attempts = db.session.scalar(select(func.count()).where(DeliveryAttempt.campaign_id == campaign.id))
    assert per_outcome.get("retrying", 0) > 0
    assert sum(per_outcome.values()) - per_outcome["skipped"] == attempts
    # Failures keep their codes, as the recipients keep theirs.
    codes = failed_codes(campaign.id)
    assert {code: n for (outcome, code), n in seconds.items() if outcome == "failed"} == codes
    # The hour's rows are the same counts, for the channel.
    assert hourly(campaign.channel) == per_outcome


def test_an_outcome_rolled_back_is_not_counted(app):
    campaign = make_campaign(1)
    db.session.commit()
    rollup.add(campaign.id, campaign.channel, Counter({("sent", ""): 3}))
    db.session.rollback()
    assert by_second(campaign.id) == {} and hourly(campaign.channel) == {}


def test_the_migration_counts_the_outcomes_recorded_before_it(app, run_worker):
    campaign = start_campaign(make_campaign(30))
    run_worker()
    campaign_id, channel, final = campaign.id, campaign.channel, status_counts(campaign.id)
    db.session.remove()
    try:
        flask_migrate.downgrade(revision="0022")
    finally:
        flask_migrate.upgrade()
    merged = Counter()
    for (outcome, _), n in by_second(campaign_id).items():
        merged[outcome] += n
    assert merged == {status: n for status, n in final.items() if status in ("sent", "failed", "skipped")}
    assert hourly(channel) == merged
