"""The search boxes in a real browser (issue 15): the list narrows as staff
type, filters by status, Back restores the previous search (inputs and rows),
and a recipient found in a sending campaign keeps its live badge."""

import re

import pytest
from playwright.sync_api import Page, expect

from app.auth.models import Role
from app.messaging.channels import Channel
from tests.browser import MARK_BLOCK_RELOADED, needs_chromium, screenshot, sign_in
from tests.factories import make_campaign, make_started_campaign, make_user

pytestmark = [pytest.mark.slow, needs_chromium]


def test_staff_search_and_filter_the_list_and_go_back_to_the_previous_search(live_stack, page: Page):
    console_errors = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    make_user(Role.OPERATOR, email="nurse@example.com")
    make_campaign(3, Channel.SMS, title="Spring sale")
    make_campaign(2, Channel.EMAIL, title="Flu shots")
    make_started_campaign(2, enqueue=False, title="Spring clinic")
    sign_in(page, live_stack, "nurse@example.com")
    page.goto(f"{live_stack}/campaigns")
    rows = page.get_by_test_id("campaign-row")
    expect(rows).to_have_count(3)
    page.evaluate("window.__sameDocument = true")

    search = page.get_by_label("Search titles and messages")
    search.press_sequentially("spring", delay=30)
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"/campaigns\?q=spring$"))
    expect(page.locator("#status-count-sending")).to_have_text("(1)")

    page.get_by_role("radio", name=re.compile(r"Sending")).check()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Spring clinic")
    expect(page).to_have_url(re.compile(r"q=spring&status=sending"))
    screenshot(page, "campaign-list-search")

    search.fill("nothing like it")
    expect(page.get_by_test_id("campaigns-empty")).to_contain_text("No campaign matching “nothing like it”, sending.")
    expect(page.get_by_role("link", name="Clear the search").last).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True

    # Back: the previous search, its inputs and its rows.
    page.go_back()
    expect(page).to_have_url(re.compile(r"q=spring&status=sending"))
    expect(page.get_by_label("Search titles and messages")).to_have_value("spring")
    expect(page.get_by_role("radio", name=re.compile(r"Sending"))).to_be_checked()
    expect(rows).to_have_count(1)
    page.go_back()
    expect(page.get_by_label("Search titles and messages")).to_have_value("spring")
    expect(page.get_by_role("radio", name=re.compile(r"Any"))).to_be_checked()
    expect(rows).to_have_count(2)
    page.go_forward()
    expect(page.get_by_role("radio", name=re.compile(r"Sending"))).to_be_checked()
    expect(rows).to_have_count(1)
    assert console_errors == []


@pytest.mark.stack(PROVIDER_LATENCY_MIN=0.4, PROVIDER_LATENCY_MAX=0.6, DISPATCH_CONCURRENCY=1, RECIPIENTS_PER_PAGE=10)
def test_staff_find_one_recipient_of_a_sending_campaign_and_watch_its_badge(live_stack, page: Page):
    console_errors = []
    page.add_init_script(MARK_BLOCK_RELOADED)
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    make_user(Role.VIEWER, email="viewer@example.com")
    campaign = make_started_campaign(40, title="Clinic reminder")
    sign_in(page, live_stack, "viewer@example.com")
    page.goto(f"{live_stack}/campaigns/{campaign.id}")
    expect(page.locator("body[data-block-reloaded]")).to_be_attached()
    page.evaluate("window.__sameDocument = true")

    page.get_by_label(re.compile("Search recipients")).press_sequentially("person 25", delay=30)
    rows = page.locator(".recipients tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Person 25")
    expect(page).to_have_url(re.compile(r"q=person(%20|\+)25$"))
    expect(page.get_by_test_id("recipient-matches")).to_have_text("1 recipient matches “person 25”.")
    badge = rows.first.locator(".badge")
    expect(badge).to_have_text("Queued")
    screenshot(page, "campaign-page-search")
    # Still sending: the found recipient's badge follows it, live, to Sent.
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    expect(badge).to_have_text("Sent", timeout=40_000)
    assert page.evaluate("window.__sameDocument") is True

    # Its name opens its attempts.
    rows.first.get_by_role("link", name="Person 25").click()
    expect(page.get_by_role("heading", name=re.compile("Person 25"))).to_be_visible()
    assert console_errors == []
