"""A campaign scheduled from its page, in a real browser, on the Procfile's
web, worker and scheduler: the page counts down, then follows the start the
scheduler makes and the sending, live, as does an open campaigns list."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from app.auth.models import Role
from app.clock import utcnow
from tests.browser import goto_live, needs_chromium, sign_in
from tests.factories import make_campaign, make_user

pytestmark = [pytest.mark.slow, needs_chromium, pytest.mark.scheduler]


@pytest.mark.stack(SCHEDULER_INTERVAL_SECONDS=1)
def test_a_campaign_scheduled_seconds_ahead_counts_down_then_starts_and_sends_live(live_stack, page: Page):
    console_errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    make_user(Role.OPERATOR, email="nurse@example.com")
    campaign = make_campaign(4, title="Clinic day")
    sign_in(page, live_stack, "nurse@example.com")
    listing = page.context.new_page()
    listing.goto(f"{live_stack}/campaigns")
    goto_live(page, f"{live_stack}/campaigns/{campaign.id}")
    page.evaluate("window.__sameDocument = true")

    # Seconds are accepted too, so the test need not wait for the next minute (UTC: DEFAULT_TIMEZONE).
    expect(page.get_by_text("Your time zone: UTC")).to_be_visible()
    page.get_by_label("Send at").fill((utcnow() + timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Schedule", exact=True).click()

    expect(page.get_by_test_id("campaign-status")).to_have_text("Scheduled")
    expect(page.get_by_text("Scheduled: it starts by itself at")).to_be_visible()
    expect(page.get_by_test_id("countdown")).to_have_text(re.compile(r"^in \d s$"))
    expect(page.get_by_role("button", name="Reschedule")).to_be_visible()
    expect(page.get_by_role("button", name="Unschedule")).to_be_visible()
    expect(page.get_by_role("button", name="Start now")).to_be_visible()
    expect(listing.locator(".badge-scheduled")).to_have_count(1)

    # It starts by itself: status, controls and countdown follow, and it is sent, without a reload.
    expect(page.get_by_test_id("campaign-status")).not_to_have_text("Scheduled", timeout=20_000)
    expect(page.get_by_test_id("countdown")).to_have_count(0)
    expect(page.get_by_role("button", name="Unschedule")).to_have_count(0)
    expect(page.get_by_test_id("sent-of")).to_have_text("Sent 4 of 4", timeout=30_000)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
    expect(page.get_by_test_id("history-event").filter(has_text="Started dispatch by the scheduler")).to_have_count(1)
    expect(listing.locator(".badge-scheduled")).to_have_count(0)
    expect(listing.locator(".badge-completed")).to_have_count(1, timeout=10_000)
    assert page.evaluate("window.__sameDocument") is True
    assert console_errors == []
