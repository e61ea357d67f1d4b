"""The Operations page in a browser, as an admin watches a campaign go out:
the campaign appears, its progress follows, the worker says what it sends,
the last hour's calls grow, and the campaign leaves when it is done; no
reload, no console error, nothing axe finds, usable on a phone."""

import re

import pytest
from playwright.sync_api import Page, expect

from app.auth.models import Role
from app.campaigns import lifecycle
from app.campaigns.controls import carry_out
from tests.browser import needs_chromium, screenshot, sign_in
from tests.factories import make_campaign, make_user
from tests.test_every_page import AXE, PHONE, sideways

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.mark.reconciler
@pytest.mark.stack(OPERATIONS_REFRESH_SECONDS=0.5, PROVIDER_FAILURE_RATE=0.2)
def test_the_operations_page_follows_a_campaign_as_it_sends(live_stack, page: Page):
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.set_viewport_size(PHONE)
    make_user(Role.ADMIN, email="admin@example.com")
    sign_in(page, live_stack, "admin@example.com")
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Operations").click()
    expect(page.get_by_role("heading", name="Operations", level=1)).to_be_visible()
    expect(page.get_by_test_id("now-sending-none")).to_be_visible()
    expect(page.locator('[data-testid="worker"][data-stale="no"]').first).to_be_visible(timeout=30_000)
    page.evaluate("document.body.dataset.loadedOnce = 'yes'")

    # Started as the Start button starts it, which tells open pages.
    campaign = make_campaign(40, title="Flu shots")
    carry_out(campaign.id, lambda: lifecycle.start(campaign.id, None))
    row = page.get_by_test_id("now-sending").filter(has_text="Flu shots")
    expect(row).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("worker").filter(has_text="Sending Flu shots")).to_be_visible(timeout=15_000)
    # Another, while it sends: a job sends both, and its worker says so.
    other = make_campaign(20, title="Boosters")
    carry_out(other.id, lambda: lifecycle.start(other.id, None))
    both = re.compile(r"Sending (Flu shots and Boosters|Boosters and Flu shots)")
    expect(page.get_by_test_id("worker").filter(has_text=both).first).to_be_visible(timeout=15_000)
    screenshot(page, "operations-two-campaigns")
    expect(row.get_by_test_id("list-sent")).not_to_have_text("Sent 0 of 40", timeout=15_000)
    expect(page.get_by_test_id("calls-summary")).to_contain_text(re.compile(r"\d+ sent"), timeout=15_000)
    page.evaluate(AXE)
    found = page.evaluate("axe.run().then((result) => result.violations.map((v) => v.id + ': ' + v.help))")
    assert found == []
    assert sideways(page) <= 0

    # Done: it leaves the campaigns sending, and the calls say all 40 went one way or the other.
    expect(page.get_by_test_id("now-sending-none")).to_be_visible(timeout=60_000)
    expect(page.locator(f'a[href="/campaigns/{campaign.id}"]')).to_have_count(0)
    expect(page.locator(f'a[href="/campaigns/{other.id}"]')).to_have_count(0)
    # The same page all along: nothing reloaded it.
    assert page.evaluate("document.body.dataset.loadedOnce") == "yes"
    assert not errors, errors
