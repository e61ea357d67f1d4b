""" "Send a test to me": before Start, the message as the first recipient would
get it goes to the operator's own phone or email (set on /account), through
the provider path every send takes, marked as a test in the history and never
counted in the campaign."""

import re

from sqlalchemy import select

from app.auth.models import Role
from app.campaigns import drafts
from app.campaigns.models import Recipient
from app.campaigns.parsing import ParsedRecipient
from app.campaigns.test_sends import TestSend
from app.extensions import db
from app.live.channel import campaign_channel
from jobs.provider import Ledger
from tests.conftest import signed_in
from tests.factories import make_campaign, make_started_campaign, make_user
from tests.helpers import history, published, queued_jobs, reread, status_counts


def sms_draft(title: str = "Flu shots"):
    """A personal SMS draft: each recipient's text is their own."""
    recipients = [
        ParsedRecipient(1, "Grace Hopper", "0712 345 001", "+254712345001"),
        ParsedRecipient(2, "Alan Turing", "0712 345 002", "+254712345002"),
    ]
    campaign = drafts.create_campaign(title, "sms", "Hi {first_name}, your shot is due.", recipients, created_by=None)
    db.session.commit()
    return campaign


def operator_with(app, phone: str | None = None, email: str | None = None):
    user = make_user(Role.OPERATOR, email="nurse@example.com")
    user.test_phone, user.test_email = phone, email
    db.session.commit()
    return signed_in(app, user)


def press(client, campaign) -> str:
    response = client.post(f"/campaigns/{campaign.id}/send-test", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "campaign-changed"
    return " ".join(re.findall(r'role="status">([^<]*)</p>', response.get_data(as_text=True)))


def test_test_addresses_are_set_on_the_account_page_checked_and_kept_as_typed_when_refused(app):
    client = operator_with(app)
    page = client.get("/account").get_data(as_text=True)
    assert "Your test phone number" in page and "Your test email address" in page

    refused = client.post("/account/test-addresses", data={"test_phone": "12345", "test_email": "nurse@"})
    said = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert "&#34;12345&#34; is not a valid phone number: type it with its country code" in said
    assert "&#34;nurse@&#34; is not a valid email address" in said
    assert 'value="12345"' in said and 'value="nurse@"' in said, "what was typed stays"

    saved = client.post(
        "/account/test-addresses", data={"test_phone": "0712 345 678", "test_email": " Nurse@Example.COM "}
    )
    assert saved.status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert "Tests you send yourself now go to +254712345678 and nurse@example.com." in page
    assert 'value="+254712345678"' in page and 'value="nurse@example.com"' in page

    client.post("/account/test-addresses", data={"test_phone": "", "test_email": ""})
    assert "You have no test addresses now." in client.get("/account").get_data(as_text=True)


def test_without_a_test_address_the_page_says_where_to_set_one(app):
    client = operator_with(app, email="nurse@example.com")  # an email, but this is an SMS campaign
    campaign = sms_draft()
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Send a test to me" not in page
    assert re.search(
        r"To send yourself a test, set your test phone number on\s*<a href=\"/account#test-addresses\">", page
    )
    assert "You have no test phone number yet" in press(client, campaign)
    assert db.session.scalars(select(TestSend)).all() == []


def test_a_test_goes_to_ones_own_phone_as_the_first_recipient_would_get_it_and_counts_nowhere(
    app, run_worker, redis_client, config
):
    config(PROVIDER_FAILURE_RATE=0.0, SMS_RATE_LIMIT=50.0)
    client = operator_with(app, phone="+254700000001")
    campaign = sms_draft()
    before = reread(campaign).version
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert '<button type="submit" id="control-send_test" class="secondary outline">Send a test to me</button>' in page

    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(campaign_channel(campaign.id))
    pubsub.get_message(timeout=0.1)
    assert "Sending a test to +254700000001" in press(client, campaign)
    assert queued_jobs(app, redis_client) == 1
    assert "Sending a test to +254700000001…" in client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    run_worker()

    # Through the provider, under a key of its own, with the first recipient's text.
    [test] = db.session.scalars(select(TestSend)).all()
    entry = Ledger(redis_client).entries()[f"test-send-{test.id}"]
    assert entry["content"] == "Hi Grace, your shot is due." and entry["deliveries"] == "1"
    assert (test.status, test.address, test.provider_message_id) == ("sent", "+254700000001", entry["message_id"])
    # It took its turn in the channel's schedule, as a campaign's send does.
    assert redis_client.exists("ratelimit:sms:next-call")
    # Every open page is told, and this one shows the answer and the history.
    assert "refresh" in [event["type"] for event in published(pubsub, quiet=0.3)]
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert re.search(r'data-testid="test-send-result">Test sent to \+254700000001 at \d+ \w+ \d{4}, \d\d:\d\d', page)
    assert history(campaign)[-1] == ("campaign.test_sent", "nurse@example.com", "to +254700000001")
    assert "Test message sent by <strong>nurse@example.com</strong> · to +254700000001" in page

    # Never counted: the campaign is the draft it was, with no recipient changed
    # (its version moved, so open pages take the reload that shows the test).
    campaign = reread(campaign)
    assert (campaign.status, campaign.recipient_count, campaign.version > before) == ("draft", 2, True)
    assert (campaign.sent_count, campaign.sending_count, campaign.estimated_cost) == (0, 0, None)
    assert status_counts(campaign.id) == {"queued": 2}
    assert [r.attempts for r in db.session.scalars(select(Recipient))] == [0, 0]

    # A second test is a second message, under its own key.
    press(client, campaign)
    run_worker()
    assert len(Ledger(redis_client).entries()) == 2


def test_an_email_test_carries_the_first_recipients_subject(app, run_worker, redis_client, config):
    config(PROVIDER_FAILURE_RATE=0.0)
    client = operator_with(app, email="nurse@example.com")
    campaign = make_campaign(3)
    press(client, campaign)
    run_worker()
    [entry] = Ledger(redis_client).entries().values()
    assert entry["content"] == "Subject: Spring sale\n\nHello from the test suite"


def test_a_test_the_provider_refuses_says_why_on_the_page_and_in_the_history(app, run_worker, config):
    config(PROVIDER_ERROR_RATES={"invalid_address": 1.0})
    client = operator_with(app, phone="+254700000001")
    campaign = sms_draft()
    press(client, campaign)
    run_worker()
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert re.search(
        r'data-testid="test-send-result">The test to \+254700000001 was not sent \([^)]*\): '
        r"The provider says this number or address does not exist",
        page,
    )
    assert history(campaign)[-1] == (
        "campaign.test_failed",
        "nurse@example.com",
        "to +254700000001: The provider says this number or address does not exist",
    )


def test_tests_are_only_before_start_and_only_for_operators(app):
    client = operator_with(app, email="nurse@example.com")
    sending = make_started_campaign(2, enqueue=False)
    assert "only a draft or a scheduled campaign can have a test sent" in press(client, sending)
    assert "Send a test to me" not in client.get(f"/campaigns/{sending.id}").get_data(as_text=True)
    viewer = signed_in(app, make_user(Role.VIEWER, email="visitor@example.com"))
    draft = make_campaign(2)
    assert viewer.post(f"/campaigns/{draft.id}/send-test").status_code == 403
    assert "Send a test to me" not in viewer.get(f"/campaigns/{draft.id}").get_data(as_text=True)
    assert db.session.scalars(select(TestSend)).all() == []


def test_a_person_may_send_only_so_many_tests(app, config):
    config(TEST_SEND_LIMIT="2 per minute; 30 per day")
    client = operator_with(app, email="nurse@example.com")
    campaign = make_campaign(2)
    assert "Sending a test" in press(client, campaign)
    assert "Sending a test" in press(client, make_campaign(2, title="Another"))
    said = press(client, campaign)
    allowed = "the most allowed (2 per minute; 30 per day)"
    assert re.fullmatch(
        rf"You have sent yourself 2 tests in the last minute, {re.escape(allowed)}\. Try again in .+\.", said
    )
    assert len(db.session.scalars(select(TestSend)).all()) == 2
