"""What staff hit in a day's use (issue 24), in a real browser on the
Procfile's web and worker: a pause that says what is still finishing, Retry
failed offering only what it can do, and a test sent to oneself before Start."""

import re
import time

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.auth.models import Role
from app.campaigns import drafts
from app.campaigns.models import DeliveryAttempt, Recipient, idempotency_key
from app.campaigns.parsing import ParsedRecipient
from app.campaigns.transitions import retry_choices
from app.extensions import db
from app.formatting import plural
from jobs.provider import Ledger
from tests.browser import goto_live, needs_chromium, screenshot, sign_in, start_dispatch
from tests.factories import make_campaign, make_user
from tests.helpers import assert_nothing_lost_or_sent_twice, reread, wait_for

pytestmark = [pytest.mark.slow, needs_chromium]

FINISHING = re.compile(r"^Paused · ([\d,]+) messages? already with the provider (is|are) finishing$")


def nurse_on(page: Page, base_url: str, campaign_id: int) -> list[str]:
    """The operator's page of the campaign, live; returns the console errors as they come."""
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    make_user(Role.OPERATOR, email="nurse@example.com")
    sign_in(page, base_url, "nurse@example.com")
    goto_live(page, f"{base_url}/campaigns/{campaign_id}")
    page.evaluate("window.__sameDocument = true")
    return errors


def provider_calls(redis_client, campaign_id: int) -> list[tuple[str, float]]:
    keys = {
        idempotency_key(r) for r in db.session.scalars(select(Recipient.id).where(Recipient.campaign_id == campaign_id))
    }
    return [(key, at) for key, at in Ledger(redis_client).calls() if key in keys]


@pytest.mark.stack(PROVIDER_LATENCY_MIN=1.0, PROVIDER_LATENCY_MAX=2.0, DISPATCH_CONCURRENCY=40)
def test_a_pause_says_live_how_many_messages_the_provider_is_finishing_and_nothing_more_goes(
    live_stack, page: Page, redis_client
):
    campaign = make_campaign(150, title="Flu shots")
    errors = nurse_on(page, live_stack, campaign.id)
    start_dispatch(page)
    wait_for(lambda: reread(campaign).sent_count >= 10 and campaign.sending_count > 0, 60, "sends in flight")
    screenshot(page, "pause-1-sending")

    with page.expect_response(re.compile(r"/pause$")):
        page.get_by_role("button", name="Pause").click()
    paused_at = time.time()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Paused")
    finishing = page.get_by_test_id("finishing")
    expect(finishing).to_have_text(FINISHING)
    # What one header said at once: sent so far, and how many the provider has.
    said = page.locator("#campaign-header").evaluate(
        "h => ['sent-of', 'finishing'].map((id) => h.querySelector(`[data-testid=${id}]`).textContent)"
    )
    sent_then = int(re.match(r"Sent ([\d,]+) of", said[0]).group(1).replace(",", ""))
    finishing_then = int(FINISHING.match(said[1]).group(1).replace(",", ""))
    screenshot(page, "pause-2-finishing")

    # The number follows the data to none, and the notice goes.
    expect(finishing).to_have_count(0, timeout=20_000)
    screenshot(page, "pause-3-finished")
    campaign = reread(campaign)
    assert campaign.status == "paused" and campaign.sending_count == 0
    expect(page.get_by_test_id("sent-of")).to_have_text(f"Sent {campaign.sent_count:,} of 150")
    assert campaign.sent_count - sent_then <= finishing_then, "more finished than the page said the provider had"
    # The provider's log: no call started after the pause (a second's margin
    # for a call whose thread had looked just before the pause was noted).
    calls = provider_calls(redis_client, campaign.id)
    attempts = db.session.scalar(select(func.count()).where(DeliveryAttempt.campaign_id == campaign.id))
    assert max(at for _, at in calls) <= paused_at + 1.0
    assert len(calls) == attempts, "every call made has its outcome; no claim put back was ever called"
    print(
        f"\npaused at Sent {sent_then}, {finishing_then} said to be finishing; "
        f"finished at Sent {campaign.sent_count}; the provider had {len(calls)} calls, {attempts} attempts recorded"
    )

    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=120_000)
    expect(page.get_by_test_id("finishing")).to_have_count(0)
    assert_nothing_lost_or_sent_twice(campaign, redis_client)
    calls = provider_calls(redis_client, campaign.id)
    assert len(calls) == len({key for key, _ in calls}) == 150, "each recipient's call made once"
    assert page.evaluate("window.__sameDocument") is True
    assert errors == [], errors


@pytest.mark.stack(
    PROVIDER_ERROR_RATES="invalid_address=0.3,throttled=0.3",
    RETRY_MAX_ATTEMPTS=1,
    AUTO_PAUSE_FAILURE_RATE=0,
    DISPATCH_CONCURRENCY=2,
)
def test_retry_failed_offers_only_the_choices_that_apply_with_counts_that_follow_live(live_stack, page: Page):
    campaign = make_campaign(30, title="Recall")
    errors = nurse_on(page, live_stack, campaign.id)
    expect(page.get_by_role("button", name=re.compile(r"^Retry"))).to_have_count(0)
    start_dispatch(page)

    # A failure shows as something to retry while the campaign still sends.
    retry = page.get_by_role("button", name=re.compile(r"^Retry "))
    expect(retry.first).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    screenshot(page, "retry-1-while-sending")

    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=60_000)
    campaign = reread(campaign)
    transient, permanent = campaign.failed_transient_count, campaign.failed_permanent_count
    offered = [f"Retry {plural(transient, 'temporary failure')}"] if transient else []
    offered += [f"Retry {plural(permanent, 'permanent failure')}"] if permanent else []
    offered += [f"Retry all {campaign.failed_count} failures"] if transient and permanent else []
    expect(retry).to_have_text(offered)
    screenshot(page, "retry-2-completed")

    page.once("dialog", lambda dialog: dialog.accept())
    retry.first.click()
    first = "temporarily" if transient else "permanently"
    count = transient or permanent
    expect(page.get_by_text(f"Queued {plural(count, f'{first} failed recipient')} again.")).to_be_visible()
    # Created, started, completed; queued again, and completed again.
    events = page.get_by_test_id("history-event")
    expect(events.nth(3)).to_contain_text("Queued failed recipients again by nurse@example.com")
    expect(events).to_have_count(5, timeout=60_000)
    expect(events.last).to_contain_text("Completed by the dispatcher")
    campaign = reread(campaign)
    assert campaign.status == "completed"
    expect(retry).to_have_count(len(retry_choices(campaign)))
    screenshot(page, "retry-3-after")
    assert page.evaluate("window.__sameDocument") is True
    assert errors == []


def test_an_operator_sends_a_test_to_their_own_phone_before_start(live_stack, page: Page, redis_client):
    recipients = [ParsedRecipient(n, f"Patient {n}", f"0712 345 00{n}", f"+25471234500{n}") for n in (1, 2, 3)]
    campaign = drafts.create_campaign(
        "Clinic day", "sms", "Hi {first_name}, see you at 10:00.", recipients, created_by=None
    )
    db.session.commit()
    errors = nurse_on(page, live_stack, campaign.id)
    screenshot(page, "test-send-1-no-address")
    page.get_by_test_id("test-send-where").get_by_role("link", name="your account page").click()

    page.get_by_label("Your test phone number").fill("12345")
    page.get_by_role("button", name="Save test addresses").click()
    expect(page.get_by_test_id("test_phone-error")).to_contain_text('"12345" is not a valid phone number')
    expect(page.get_by_label("Your test phone number")).to_have_value("12345")
    page.get_by_label("Your test phone number").fill("0700 000 001")
    page.get_by_role("button", name="Save test addresses").click()
    expect(page.get_by_text("Tests you send yourself now go to +254700000001.")).to_be_visible()

    goto_live(page, f"{live_stack}/campaigns/{campaign.id}")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Send a test to me").click()
    expect(page.locator("#notices").get_by_text("Sending a test to +254700000001")).to_be_visible()
    result = page.get_by_test_id("test-send-result")
    expect(result).to_have_text(re.compile(r"^Test sent to \+254700000001 at \d+ \w+ \d{4}, \d\d:\d\d \w+$"))
    expect(page.get_by_test_id("history-event").last).to_contain_text(
        "Test message sent by nurse@example.com · to +254700000001"
    )
    screenshot(page, "test-send-2-sent")
    # The first recipient's own text, and nothing of the campaign counted.
    [entry] = Ledger(redis_client).entries().values()
    assert entry["content"] == "Hi Patient, see you at 10:00."
    expect(page.get_by_test_id("sent-of")).to_have_text("Sent 0 of 3")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Draft")
    assert reread(campaign).sent_count == 0 and campaign.status == "draft"
    assert page.evaluate("window.__sameDocument") is True
    assert errors == []
