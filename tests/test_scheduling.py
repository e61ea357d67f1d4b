"""Scheduled sends through the pages, and the scheduler's pass in-process:
times typed and shown in each person's zone, a time past refused with what was
typed kept, and a due campaign started (or refused, or cancelled) at its time."""

import html
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.auth.models import Role
from app.campaigns import lifecycle, transitions
from app.campaigns.models import Campaign
from app.campaigns.scheduling import start_due
from app.clock import utcnow
from app.extensions import db
from app.messaging.channels import Channel
from tests.conftest import signed_in
from tests.factories import make_campaign, make_user
from tests.helpers import history, published, queued_jobs, reread

FUTURE = "2030-01-15T10:00"


def nairobi_operator(app):
    user = make_user(Role.OPERATOR, email="wanjiru@example.com")
    user.timezone = "Africa/Nairobi"
    db.session.commit()
    return user, signed_in(app, user)


def schedule(client, campaign: Campaign, send_at: str, htmx: bool = True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/campaigns/{campaign.id}/schedule", data={"send_at": send_at}, headers=headers)


def due_now(campaign: Campaign, ago: timedelta = timedelta(seconds=1)) -> None:
    """Its time came ``ago`` (the form refuses a time past, so the test moves it)."""
    db.session.execute(
        text("UPDATE campaigns SET scheduled_at = now() - :ago WHERE id = :id"), {"ago": ago, "id": campaign.id}
    )
    db.session.commit()


def test_a_time_typed_in_nairobi_is_stored_in_utc_and_shown_back_in_eat(app):
    user, client = nairobi_operator(app)
    campaign = make_campaign(3)
    response = schedule(client, campaign, FUTURE)
    assert response.headers["HX-Trigger"] == "campaign-changed"
    assert "Scheduled: it starts by itself at 15 Jan 2030, 10:00 EAT." in response.get_data(as_text=True)
    campaign = reread(campaign)
    assert campaign.status == "scheduled"
    assert campaign.scheduled_at == datetime(2030, 1, 15, 7, 0, tzinfo=UTC)

    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Starts by itself at" in page and "15 Jan 2030, 10:00 EAT" in page
    assert 'data-countdown="1894690800"' in page
    assert 'value="2030-01-15T10:00"' in page, "Reschedule starts from the time it has, in EAT"
    assert "Africa/Nairobi (EAT)" in page
    # Someone in London reads the same moment in their own zone.
    london = make_user(Role.VIEWER, email="lee@example.com")
    london.timezone = "Europe/London"
    db.session.commit()
    their_page = signed_in(app, london).get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "15 Jan 2030, 07:00 GMT" in their_page
    assert history(campaign)[-1] == ("campaign.scheduled", user.email, "to start at 15 Jan 2030, 07:00 UTC")


def test_reschedule_and_unschedule_are_in_the_history_and_unschedule_makes_a_draft(app, client):
    campaign = make_campaign(2)
    schedule(client, campaign, FUTURE)
    schedule(client, campaign, "2030-02-01T09:30")
    assert reread(campaign).scheduled_at == datetime(2030, 2, 1, 9, 30, tzinfo=UTC)
    response = client.post(f"/campaigns/{campaign.id}/unschedule", headers={"HX-Request": "true"})
    assert "Unscheduled: it is a draft again" in response.get_data(as_text=True)
    campaign = reread(campaign)
    assert (campaign.status, campaign.scheduled_at) == ("draft", None)
    assert [(a, d) for a, _, d in history(campaign)][1:] == [
        ("campaign.scheduled", "to start at 15 Jan 2030, 10:00 UTC"),
        ("campaign.rescheduled", "to start at 1 Feb 2030, 09:30 UTC"),
        ("campaign.unscheduled", ""),
    ]
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Unscheduled (back to draft) by <strong>operator@example.com</strong>" in page


def test_a_time_past_is_refused_with_a_message_and_what_was_typed_stays(app):
    _, client = nairobi_operator(app)
    campaign = make_campaign(2)
    response = schedule(client, campaign, "2020-03-01T08:15")
    answer = html.unescape(response.get_data(as_text=True))
    assert "HX-Trigger" not in response.headers, "nothing changed, so the page does not reload"
    assert 'id="schedule-controls"' in answer and 'hx-swap-oob="true"' in answer
    assert "1 Mar 2020, 08:15 EAT is in the past. Choose a time still to come." in answer
    assert 'value="2020-03-01T08:15"' in answer and 'aria-invalid="true"' in answer
    assert reread(campaign).status == "draft"

    # Without JavaScript, a page of its own says the same and keeps the time.
    page = schedule(client, campaign, "2020-03-01T08:15", htmx=False)
    assert page.status_code == 400
    assert 'value="2020-03-01T08:15"' in page.get_data(as_text=True)
    assert len(history(campaign)) == 1


def test_a_campaign_without_recipients_cannot_be_scheduled_from_its_page(app, client):
    campaign = make_campaign(0)
    answer = html.unescape(schedule(client, campaign, FUTURE).get_data(as_text=True))
    assert "This campaign has no recipients: add some before scheduling it." in answer
    assert reread(campaign).status == "draft"


def test_viewers_see_when_it_goes_but_cannot_schedule(app, client):
    campaign = make_campaign(2)
    schedule(client, campaign, FUTURE)
    viewer = signed_in(app, make_user(Role.VIEWER, email="vera@example.com"))
    page = viewer.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "15 Jan 2030, 10:00 UTC" in page and 'id="send-at"' not in page
    assert schedule(viewer, campaign, "2030-03-01T10:00").status_code == 403
    assert viewer.post(f"/campaigns/{campaign.id}/unschedule").status_code == 403
    assert reread(campaign).scheduled_at == datetime(2030, 1, 15, 10, 0, tzinfo=UTC)


def test_the_list_shows_when_a_scheduled_campaign_goes(app):
    _, client = nairobi_operator(app)
    campaign = make_campaign(2, title="Clinic day")
    schedule(client, campaign, FUTURE)
    page = client.get("/campaigns").get_data(as_text=True)
    assert "Scheduled</span>" in page and "15 Jan 2030, 10:00 EAT" in page
    assert 'data-countdown="1894690800"' in page
    assert 'sse-connect="/stream?channel=campaign-list"' in page
    # The table alone, as the page reloads it when a status changes.
    table = client.get("/campaigns", headers={"HX-Request": "true", "HX-Target": "campaign-list"})
    assert table.get_data(as_text=True).startswith('<div id="campaign-list"')


def test_the_new_campaign_form_schedules_or_refuses_a_time_past_keeping_everything_typed(app):
    _, client = nairobi_operator(app)
    form = {"title": "Flu shots", "channel": "email", "message": "Come in", "recipients": "a@example.com"}
    refused = client.post("/campaigns/new", data={**form, "send_at": "2021-05-05T09:00"})
    page = html.unescape(refused.get_data(as_text=True))
    assert "5 May 2021, 09:00 EAT is in the past. Choose a time still to come." in page
    assert 'value="2021-05-05T09:00"' in page and 'value="Flu shots"' in page and "a@example.com</textarea>" in page
    assert db.session.scalar(text("SELECT count(*) FROM campaigns")) == 0

    created = client.post("/campaigns/new", data={**form, "send_at": FUTURE}, follow_redirects=True)
    assert "Scheduled: it starts by itself at 15 Jan 2030, 10:00 EAT." in created.get_data(as_text=True)
    campaign = db.session.scalars(db.select(Campaign)).one()
    assert (campaign.status, campaign.scheduled_at) == ("scheduled", datetime(2030, 1, 15, 7, 0, tzinfo=UTC))


def test_start_now_sends_a_scheduled_campaign_at_once(app, client, redis_client):
    campaign = make_campaign(2)
    schedule(client, campaign, FUTURE)
    assert "It is scheduled for 15 Jan 2030, 10:00 UTC" in client.get(
        f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    client.post(f"/campaigns/{campaign.id}/start")
    assert reread(campaign).status == "sending"
    assert queued_jobs(app, redis_client) == 1
    assert start_due() == []


def test_a_due_campaign_is_started_by_the_pass_with_its_jobs_and_every_page_told(app, client, run_worker, redis_client):
    campaign = make_campaign(4)
    later = make_campaign(1, title="Later")
    schedule(client, campaign, FUTURE)
    schedule(client, later, FUTURE)
    due_now(campaign)
    pubsub = redis_client.pubsub()
    pubsub.subscribe(f"campaign-{campaign.id}", "campaign-list")
    assert start_due() == [campaign.id]
    assert reread(later).status == "scheduled"
    events = published(pubsub)
    assert {(e["type"], e["data"]) for e in events if e["type"] == "refresh"} == {("refresh", "sending")}
    assert len([e for e in events if e["type"] == "refresh"]) == 2, "the page and the list"
    run_worker()
    assert reread(campaign).status == "completed" and campaign.sent_count + campaign.failed_count == 4
    started = [h for h in history(campaign) if h[0] == "campaign.started"]
    assert started == [("campaign.started", "the scheduler", "")]
    assert start_due() == [], "and never twice"


def test_a_campaign_due_while_no_scheduler_ran_says_how_late_it_started(app, client):
    campaign = make_campaign(2)
    schedule(client, campaign, FUTURE)
    due_now(campaign, timedelta(minutes=12, seconds=10))
    assert start_due() == [campaign.id]
    (detail,) = [d for a, _, d in history(campaign) if a == "campaign.started"]
    assert detail.startswith("12 min late because no scheduler was running")
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Started dispatch by <strong>the scheduler</strong> · 12 min late because" in page


def test_a_budget_refusal_at_its_time_makes_it_a_draft_again_saying_why(app, client, config, redis_client):
    config(EMAIL_PRICE=0.01, EMAIL_MONTHLY_BUDGET=0.02)
    campaign = make_campaign(5)
    schedule(client, campaign, FUTURE)
    due_now(campaign)
    assert start_due() == []
    campaign = reread(campaign)
    assert (campaign.status, campaign.scheduled_at, campaign.started_at) == ("draft", None, None)
    assert campaign.schedule_refusal.startswith("Not started at its scheduled time. Not started: this campaign needs")
    assert queued_jobs(app, redis_client) == 0
    assert history(campaign)[-1][:2] == ("campaign.start_refused", "the scheduler")
    page = html.unescape(client.get(f"/campaigns/{campaign.id}").get_data(as_text=True))
    assert 'data-testid="schedule-refusal"' in page and "It is a draft again." in page
    # Shown until the next change: scheduling it again clears it.
    schedule(client, campaign, FUTURE)
    assert reread(campaign).schedule_refusal is None


def test_a_scheduled_campaign_with_no_recipients_at_its_time_is_cancelled_saying_why(app):
    campaign = make_campaign(0)
    # The API may schedule one without recipients (the page refuses to).
    assert lifecycle.schedule(campaign.id, datetime(2030, 1, 1, tzinfo=UTC), None, via=lifecycle.Via.API).changed
    db.session.commit()
    due_now(campaign)
    assert start_due() == []
    assert reread(campaign).status == "cancelled"
    assert history(campaign)[-1] == (
        "campaign.cancelled",
        "the scheduler",
        "no recipients at its scheduled time, so nothing to send",
    )
    assert history(campaign)[-2][1] == "the API"


def test_a_scheduled_campaign_can_be_edited_and_cancelled_but_not_deleted(app, client):
    campaign = make_campaign(2)
    schedule(client, campaign, FUTURE)
    assert [c.value for c in transitions.allowed(reread(campaign))] == [
        "start",
        "reschedule",
        "unschedule",
        "edit",
        "send_test",
        "cancel",
    ]
    edited = client.post(
        f"/campaigns/{campaign.id}/edit",
        data={"title": "New", "channel": Channel.EMAIL.value, "message": "Hi", "recipients": "x@example.com"},
    )
    assert edited.status_code == 302
    assert (reread(campaign).status, campaign.recipient_count) == ("scheduled", 1)
    client.post(f"/campaigns/{campaign.id}/cancel")
    assert reread(campaign).status == "cancelled"


def test_a_person_chooses_their_time_zone_on_their_account_page(app):
    user = make_user(Role.VIEWER, email="vera@example.com")
    client = signed_in(app, user)
    page = client.get("/account").get_data(as_text=True)
    assert '<option selected value="UTC">UTC</option>' in page
    assert client.post("/account", data={"timezone": "Nowhere/Atlantis"}).status_code == 200
    assert client.post("/account", data={"timezone": "Africa/Nairobi"}).status_code == 302
    assert db.session.get(type(user), user.id).timezone == "Africa/Nairobi"
    assert '<option selected value="Africa/Nairobi">' in client.get("/account").get_data(as_text=True)


def test_a_campaign_is_never_recorded_as_started_before_its_time(app):
    """A scheduler pass whose transaction began a moment before a campaign's
    time, and that looks for due campaigns a moment after it, does not start
    it: its start would be recorded at the transaction's time, before its own."""
    campaign = make_campaign(2)
    assert lifecycle.schedule(campaign.id, utcnow() + timedelta(minutes=5), None).changed
    db.session.commit()
    # The pass's transaction begins; the campaign's time comes 20 ms later (as
    # if set then), and the pass looks 50 ms after it began.
    db.session.execute(
        text("UPDATE campaigns SET scheduled_at = now() + interval '20 milliseconds' WHERE id = :id"),
        {"id": campaign.id},
    )
    time.sleep(0.05)
    started = start_due()
    campaign = reread(campaign)
    assert started == [] and campaign.started_at is None
    assert start_due() == [campaign.id]
    assert reread(campaign).started_at >= reread(campaign).scheduled_at
