"""The dashboard in a browser, as a viewer on a phone meets it after signing
in: yesterday's sends in its charts' numbers, a campaign started elsewhere
followed live without a reload, the period picked by keyboard; no console
error, nothing axe finds, no sideways scrolling."""

import re

import pytest
from playwright.sync_api import Page, expect

from app.auth.models import Role
from app.campaigns import lifecycle
from app.campaigns.controls import carry_out
from tests.browser import needs_chromium, screenshot, sign_in
from tests.factories import make_campaign, make_started_campaign, make_user
from tests.helpers import reread, wait_for
from tests.test_every_page import AXE, PHONE, sideways

pytestmark = [pytest.mark.slow, needs_chromium]


def axe_violations(page: Page) -> list[str]:
    page.evaluate(AXE)
    return page.evaluate("axe.run().then((result) => result.violations.map((v) => v.id + ': ' + v.help))")


@pytest.mark.stack(PROVIDER_FAILURE_RATE=0.3, RETRY_MAX_ATTEMPTS=1)
def test_the_dashboard_shows_the_days_and_follows_a_campaign_as_it_sends(live_stack, page: Page):
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.set_viewport_size(PHONE)
    earlier = make_started_campaign(20, title="Earlier")
    wait_for(lambda: reread(earlier).status == "completed", 30, "the first campaign to be sent")
    make_user(Role.VIEWER, email="vera@example.com")
    sign_in(page, live_stack, "vera@example.com")
    assert page.url == f"{live_stack}/"
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    messages = page.get_by_role("figure", name="Messages per day by channel")
    # charts.js drew both charts from their tables.
    expect(messages.locator(".chart-plot canvas")).to_have_count(1)
    expect(
        page.get_by_role("figure", name="Sent, delivered and failure rates").locator(".chart-plot canvas")
    ).to_have_count(1)
    messages.get_by_text("The numbers").click()
    expect(messages.locator(".chart-numbers tbody tr")).to_have_count(30)
    sent = earlier.sent_count
    expect(messages.locator(".chart-numbers tbody tr").last.locator("td").last).to_have_text(str(sent))
    expect(page.get_by_test_id("failure-reasons")).to_be_visible()
    expect(page.get_by_test_id("now-sending-none")).to_be_visible()
    assert axe_violations(page) == []
    assert sideways(page) <= 0
    page.evaluate("document.body.dataset.loadedOnce = 'yes'")

    # Started as the Start button starts it, which tells open pages.
    campaign = make_campaign(40, title="Flu shots")
    carry_out(campaign.id, lambda: lifecycle.start(campaign.id, None))
    row = page.get_by_test_id("now-sending").filter(has_text="Flu shots")
    expect(row).to_be_visible(timeout=15_000)
    expect(row.get_by_test_id("list-sent")).not_to_have_text("Sent 0 of 40", timeout=15_000)
    screenshot(page, "dashboard-390")
    assert axe_violations(page) == []
    assert sideways(page) <= 0
    expect(page.get_by_test_id("now-sending-none")).to_be_visible(timeout=60_000)
    # The same page all along: nothing reloaded it.
    assert page.evaluate("document.body.dataset.loadedOnce") == "yes"

    # The period, by keyboard: a link like any other.
    page.get_by_role("link", name="Last 7 days").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/\?days=7$"))
    expect(
        page.get_by_role("figure", name="Messages per day by channel").locator(".chart-numbers tbody tr")
    ).to_have_count(7)
    assert not errors, errors
