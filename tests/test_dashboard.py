"""The dashboard (``/``, issue 27): its days are the hourly rollup's, grouped
in the reader's zone; the period picker; every figure links to the campaigns
it summarises; a new install says what to do; every role may see it."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.auth.models import Role
from app.campaigns.models import HourlyOutcome
from app.extensions import db
from app.messaging.channels import Channel
from tests.conftest import signed_in
from tests.factories import PASSWORD, make_campaign, make_started_campaign, make_user
from tests.helpers import failed_codes, status_counts

ROW = re.compile(r'<tr><th scope="row" data-x="(\d+)">([^<]*)</th>(.*?)</tr>')
VALUE = re.compile(r'data-y="([^"]*)"')


def dashboard(client, query: str = "") -> str:
    response = client.get(f"/{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def chart(html: str, name: str) -> dict[int, list[str]]:
    """A chart's numbers: each row's day start (unix seconds) and its values as written."""
    figure = re.search(rf'<figure class="chart"[^>]*data-testid="{name}">(.*?)</figure>', html, re.S)
    assert figure, name
    return {int(x): VALUE.findall(cells) for x, _, cells in ROW.findall(figure.group(1))}


def add_hour(hour: datetime, channel: str, outcome: str, messages: int, code: str = "") -> None:
    db.session.add(HourlyOutcome(hour=hour, channel=channel, outcome=outcome, error_code=code, messages=messages))


def this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone)


def test_the_days_are_the_hourly_rollup_after_a_real_campaign(app, run_worker, config):
    # Three kinds of failure: no more codes than the dashboard lists (REASONS_SHOWN).
    config(
        PROVIDER_ERROR_RATES={"timeout": 0.1, "invalid_address": 0.1, "throttled": 0.1},
        RETRY_BASE_SECONDS=0,
        RETRY_MAX_ATTEMPTS=2,
        AUTO_PAUSE_FAILURE_RATE=0,
    )
    campaign = make_started_campaign(80, channel=Channel.EMAIL, title="Flu shots")
    run_worker()
    final = status_counts(campaign.id)
    assert final.get("failed", 0) > 0
    viewer = signed_in(app, make_user(Role.VIEWER, email="vera@example.com"))
    shown = dashboard(viewer)

    today = midnight(datetime.now(UTC).date(), ZoneInfo("UTC"))
    messages = chart(shown, "messages-chart")
    assert len(messages) == 30
    # SMS, WhatsApp, Email: what the rollup and the recipients say was sent today.
    rolled = {
        outcome: int(total)
        for outcome, total in db.session.execute(
            select(HourlyOutcome.outcome, func.sum(HourlyOutcome.messages)).group_by(HourlyOutcome.outcome)
        )
    }
    assert messages[int(today.timestamp())] == ["0", "0", str(final["sent"])]
    assert rolled["sent"] == final["sent"] and rolled["failed"] == final["failed"]
    assert all(values == ["0", "0", "0"] for x, values in messages.items() if x != int(today.timestamp()))
    sent_rate, delivered_rate, failure = chart(shown, "rates-chart")[int(today.timestamp())]
    assert delivered_rate == "", "no receipt came"
    assert float(sent_rate) == round(100 * final["sent"] / (final["sent"] + final["failed"]), 1)
    calls = rolled["sent"] + rolled["failed"] + rolled.get("retrying", 0)
    assert float(failure) == round(100 * (rolled["failed"] + rolled.get("retrying", 0)) / calls, 1)
    # The totals and the failure reasons, code by code as the recipients keep them.
    totals = re.search(r'data-testid="totals">(.*?)</dl>', shown, re.S).group(1)
    assert f">{final['sent']:,}</a>" in totals and f">{final['failed']:,}</a>" in totals
    reasons = re.search(r'data-testid="failure-reasons">(.*?)</table>', shown, re.S).group(1)
    for code, count in failed_codes(campaign.id).items():
        assert f"<tr><td><code>{code}</code></td><td>{count:,}</td></tr>" in reasons


@pytest.mark.parametrize("zone_name", ["America/New_York", "Pacific/Auckland"])
def test_days_are_the_reader_s_days_in_their_zone(app, zone_name):
    zone = ZoneInfo(zone_name)
    day = datetime.now(zone).date() - timedelta(days=3)
    start = midnight(day, zone)
    add_hour(start - timedelta(hours=1), "sms", "sent", 5)  # the last hour of the day before
    add_hour(start, "sms", "sent", 7)  # the first of the day
    add_hour(start + timedelta(hours=23), "whatsapp", "sent", 11)  # its last
    add_hour(start + timedelta(hours=12), "email", "failed", 2, "timeout")
    add_hour(start + timedelta(hours=12), "email", "retrying", 6, "timeout")
    add_hour(start + timedelta(hours=13), "sms", "delivered", 9)
    add_hour(start + timedelta(hours=13), "sms", "undelivered", 3)
    db.session.commit()
    reader = make_user(Role.VIEWER, email="vera@example.com")
    reader.timezone = zone_name
    db.session.commit()
    messages = chart(dashboard(signed_in(app, reader), "?days=7"), "messages-chart")
    assert messages[int(start.timestamp())] == ["7", "11", "0"]
    assert messages[int((start - timedelta(days=1)).timestamp())] == ["5", "0", "0"]
    rates = chart(dashboard(signed_in(app, reader), "?days=7"), "rates-chart")
    # 18 sent, 2 failed; 9 of 12 receipts delivered; 26 calls of which 8 failed. A day with no sends has no rates.
    assert rates[int(start.timestamp())] == ["90.0", "75.0", "30.8"]
    assert rates[int((start + timedelta(days=1)).timestamp())] == ["", "", ""]


def test_a_half_hour_zone_counts_each_hour_on_the_day_it_begins(app):
    zone = ZoneInfo("Asia/Kolkata")  # +05:30: midnight is half past a UTC hour
    day = datetime.now(zone).date() - timedelta(days=3)
    start = midnight(day, zone)
    add_hour(start - timedelta(minutes=30), "sms", "sent", 3)  # 23:30 to 00:30: the day before
    add_hour(start + timedelta(minutes=30), "sms", "sent", 4)  # 00:30 to 01:30: this day
    db.session.commit()
    reader = make_user(Role.VIEWER, email="vera@example.com")
    reader.timezone = "Asia/Kolkata"
    db.session.commit()
    messages = chart(dashboard(signed_in(app, reader), "?days=7"), "messages-chart")
    assert messages[int(start.timestamp())] == ["4", "0", "0"]
    assert messages[int((start - timedelta(days=1)).timestamp())] == ["3", "0", "0"]


def test_the_period_is_picked_in_the_url_and_a_bad_one_is_the_default(app):
    add_hour(this_hour(), "sms", "sent", 1)
    db.session.commit()
    viewer = signed_in(app, make_user(Role.VIEWER))
    for query, days in (("", 30), ("?days=7", 7), ("?days=90", 90), ("?days=8", 30), ("?days=x", 30)):
        shown = dashboard(viewer, query)
        assert len(chart(shown, "messages-chart")) == days, query
        assert len(chart(shown, "rates-chart")) == days, query
        assert f'<a href="/?days={days}" aria-current="page">Last {days} days</a>' in shown, query
        assert f"The last {days} days" in shown


def test_every_figure_links_to_the_campaigns_it_summarises(app, config):
    config(SMS_MONTHLY_BUDGET=10.0)
    sent = make_started_campaign(3, enqueue=False, channel=Channel.EMAIL, title="Flu shots")
    make_campaign(2, Channel.SMS, title="Never started")
    add_hour(this_hour(), "email", "sent", 3)
    db.session.commit()
    viewer = signed_in(app, make_user(Role.VIEWER))
    shown = dashboard(viewer)
    first, last = (datetime.now(UTC).date() - timedelta(days=29)).isoformat(), datetime.now(UTC).date().isoformat()
    in_period = f"dated=sent&amp;since={first}&amp;until={last}"
    links = set(re.findall(r'href="(/campaigns\?[^"]*)"', shown))
    assert f"/campaigns?{in_period}" in links  # the totals and the bars
    assert f"/campaigns?channel=email&amp;{in_period}" in links  # a channel's messages
    assert f"/campaigns?sort=failed&amp;{in_period}" in links  # failures and their reasons
    month = datetime.now(UTC).date().replace(day=1).isoformat()
    assert f"/campaigns?channel=sms&amp;dated=sent&amp;since={month}" in links  # a channel's spend
    assert {f"/campaigns?status={status}" for status in ("sending", "paused", "scheduled")} <= links
    listed = viewer.get(f"/campaigns?channel=email&{in_period.replace('&amp;', '&')}").get_data(as_text=True)
    assert "Flu shots" in listed and "Never started" not in listed
    assert sent.title in dashboard(viewer) and 'data-testid="now-sending"' in shown


def test_spend_is_shown_against_each_budget_or_says_there_is_none(app, config):
    config(EMAIL_MONTHLY_BUDGET=10.0, EMAIL_PRICE=0.1)
    make_started_campaign(20, enqueue=False, channel=Channel.EMAIL)
    add_hour(this_hour(), "email", "sent", 1)
    db.session.commit()
    shown = dashboard(signed_in(app, make_user(Role.VIEWER)))
    email = re.search(r'data-testid="spend-email">(.*?)</li>', shown, re.S).group(1)
    assert "2.00 USD of 10.00 USD (20 %)" in email
    assert '<meter min="0" max="10.0" value="2.0000"' in email
    sms = re.search(r'data-testid="spend-sms">(.*?)</li>', shown, re.S).group(1)
    assert "0.00 USD spent, no budget set." in sms and "<meter" not in sms


def test_a_new_install_says_nothing_was_sent_and_where_to_start(app):
    operator = signed_in(app, make_user(Role.OPERATOR))
    shown = dashboard(operator)
    assert "Nothing has been sent yet." in shown
    assert '<a href="/campaigns/new" role="button">Create a campaign</a>' in shown
    assert 'data-chart="stacked-bars"' not in shown
    assert "No campaign is sending." in shown and "No campaigns yet." in shown
    viewer = dashboard(signed_in(app, make_user(Role.VIEWER)))
    assert "Nothing has been sent yet." in viewer and "/campaigns/new" not in viewer


def test_a_period_with_nothing_sent_has_a_zero_for_every_day(app):
    add_hour(this_hour() - timedelta(days=60), "sms", "sent", 9)
    db.session.commit()
    shown = dashboard(signed_in(app, make_user(Role.VIEWER)), "?days=7")
    assert "Nothing was sent in these 7 days." in shown
    assert list(chart(shown, "messages-chart").values()) == [["0", "0", "0"]] * 7
    longer = chart(dashboard(signed_in(app, make_user(Role.ADMIN)), "?days=90"), "messages-chart")
    assert sum(int(sms) for sms, _, _ in longer.values()) == 9


@pytest.mark.parametrize("role", list(Role))
def test_everyone_on_the_staff_sees_it_and_signs_in_to_it(app, anonymous, role):
    user = make_user(role, email=f"{role.value}@example.com")
    shown = dashboard(signed_in(app, user))
    assert '<a href="/" aria-current="page">Dashboard</a>' in shown
    assert "<h1>Dashboard</h1>" in shown
    signed = anonymous.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert signed.headers["Location"] == "/"
    # The campaign list keeps its address, a link away.
    assert '<a href="/campaigns">Campaigns</a>' in shown
