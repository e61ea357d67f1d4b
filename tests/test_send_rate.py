"""The rate and time left a campaign page shows: over recent sending time,
paused time left out, nothing shown before there is enough to say."""

import math
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.campaigns import delivery, lifecycle
from app.campaigns.models import Campaign
from app.clock import utcnow
from app.extensions import db
from tests.factories import make_started_campaign
from tests.helpers import reread

NOW = utcnow()


def campaign(**state) -> Campaign:
    defaults = {
        "status": "sending",
        "recipient_count": 1000,
        "sent_count": 0,
        "failed_count": 0,
        "cancelled_count": 0,
        "skipped_count": 0,
        "sending_count": 0,
        "retrying_count": 0,
        "rate": 0.0,
        "rate_at": NOW,
        "active_seconds": 0.0,
        "started_at": NOW - timedelta(seconds=60),
    }
    return Campaign(**{**defaults, **state})


def test_no_rate_is_shown_in_the_first_seconds_of_sending():
    early = campaign(sent_count=2, rate=0.2, active_seconds=1.0)
    assert early.send_rate(NOW) is None and early.seconds_left(NOW) is None


def test_the_first_seconds_are_not_read_as_a_slow_campaign():
    # 10 sends a second for the first 4 s leave a weighted count of 10 × (1 − e^−0.4) ≈ 3.3;
    # read as it is, that would be a third of the rate.
    started = campaign(sent_count=40, rate=10 * (1 - math.exp(-0.4)), active_seconds=4.0)
    assert started.send_rate(NOW) == pytest.approx(10.0, rel=1e-9)


def test_a_steady_campaign_reads_its_steady_rate_and_time_left():
    steady = campaign(sent_count=200, rate=5.0, active_seconds=120.0)
    assert steady.send_rate(NOW) == pytest.approx(5.0, rel=1e-4)
    assert steady.seconds_left(NOW) == pytest.approx(800 / 5.0, rel=1e-4)


def test_a_sending_campaign_with_nothing_finishing_slows_down_as_time_passes():
    stalled = campaign(sent_count=200, rate=5.0, active_seconds=120.0)
    assert stalled.send_rate(NOW + timedelta(seconds=10)) == pytest.approx(5.0 * math.exp(-1), rel=1e-3)


def test_a_paused_campaign_keeps_its_rate_however_long_the_pause():
    paused = campaign(status="paused", sent_count=200, rate=5.0, active_seconds=120.0)
    assert paused.send_rate(NOW + timedelta(hours=1)) == pytest.approx(5.0, rel=1e-4)


def test_resume_starts_the_rates_clock_again_so_the_pause_is_not_sending_time(app):
    started = make_started_campaign(10, enqueue=False)
    db.session.execute(
        text(
            "UPDATE campaigns SET status = 'paused', rate = 5.0, active_seconds = 30, "
            "rate_at = now() - interval '1 hour' WHERE id = :id"
        ),
        {"id": started.id},
    )
    db.session.commit()
    assert lifecycle.resume(started.id, None).changed
    db.session.commit()
    resumed = reread(started)
    assert (utcnow() - resumed.rate_at).total_seconds() < 5
    # A loop turn right after adds a moment of sending time, not the hour.
    delivery.advance(started.id, [], 1)
    db.session.commit()
    assert reread(started).active_seconds < 35


def test_the_header_says_what_it_waits_for_and_when_it_is_finishing(client):
    waiting = make_started_campaign(5, enqueue=False)
    page = client.get(f"/campaigns/{waiting.id}").get_data(as_text=True)
    assert " · waiting for a worker to take it up<" in page
    db.session.execute(
        text("UPDATE campaigns SET started_at = now() - interval '14 seconds' WHERE id = :id"), {"id": waiting.id}
    )
    db.session.commit()
    page = client.get(f"/campaigns/{waiting.id}").get_data(as_text=True)
    assert "waiting for a worker to take it up (14 s so far: the workers may all be busy" in page
    db.session.execute(
        text("UPDATE campaigns SET sent_count = 3, sending_count = 2 WHERE id = :id"), {"id": waiting.id}
    )
    db.session.commit()
    page = client.get(f"/campaigns/{waiting.id}").get_data(as_text=True)
    assert " · finishing the last 2 sends in flight<" in page


def test_only_retries_left_say_so_rather_than_finishing_nothing(client):
    waiting = make_started_campaign(5, enqueue=False)
    db.session.execute(
        text(
            "UPDATE campaigns SET sent_count = 4, retrying_count = 1, rate = 1.0, active_seconds = 30, "
            "rate_at = now() WHERE id = :id"
        ),
        {"id": waiting.id},
    )
    db.session.commit()
    page = client.get(f"/campaigns/{waiting.id}").get_data(as_text=True)
    assert " · the rest wait for their retry<" in page and "finishing" not in page
