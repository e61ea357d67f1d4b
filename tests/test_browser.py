"""The whole staff loop in a real browser: gunicorn (gevent), a real RQ worker,
real PostgreSQL and Redis, Debian's chromium."""

import time

import pytest
from playwright.sync_api import Page, expect

from app.auth.models import Role
from tests.browser import MARK_BLOCK_RELOADED, needs_chromium, sign_in, start_dispatch
from tests.factories import PASSWORD, make_campaign, make_user

pytestmark = [pytest.mark.slow, needs_chromium]


def test_staff_pastes_creates_starts_and_watches_it_go_out_live(live_stack, page: Page):
    console_errors = []
    page.add_init_script(MARK_BLOCK_RELOADED)
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    make_user(Role.OPERATOR, email="nurse@example.com")

    # Signed out, the page asks to sign in first and comes back after.
    page.goto(f"{live_stack}/campaigns")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill("nurse@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_have_text("nurse@example.com · operator")
    assert page.url == f"{live_stack}/campaigns"
    page.get_by_role("link", name="New campaign").first.click()

    page.get_by_label("Title", exact=True).fill("Clinic reminder")
    page.get_by_label("Channel").select_option("SMS")
    page.get_by_label("Message", exact=True).fill("Your appointment is tomorrow at 10:00.")
    numbers = "\n".join(f"Patient {i}, 0712 345 {i:03d}" for i in range(1, 10))
    page.get_by_label("Recipients", exact=True).fill(numbers + "\nBad line, 12345\n")
    page.get_by_role("button", name="Create campaign").click()

    # The bad line is reported by number and the paste is still there.
    expect(page.get_by_text('Line 10: "12345" is not a valid phone number')).to_be_visible()
    expect(page.get_by_label("Recipients", exact=True)).to_have_value(numbers + "\nBad line, 12345\n")
    page.get_by_label("Create the campaign without the lines that have errors").check()
    page.get_by_role("button", name="Create campaign").click()

    expect(page.get_by_text("Campaign created with 9 recipients.")).to_be_visible()
    expect(page.get_by_test_id("sent-of")).to_have_text("Sent 0 of 9")
    expect(page.locator(".recipients .badge-draft")).to_have_count(5)  # "Not started": nothing is queued yet
    expect(page.locator(".recipients .badge-draft").first).to_have_text("Not started")
    expect(page.locator(".filters")).to_have_count(0)  # and nothing to filter by
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()

    # The page is live (its stream open, its block reloaded for it) before
    # dispatch starts, and must never reload.
    expect(page.locator("body[data-block-reloaded]")).to_be_attached()
    page.evaluate("window.__sameDocument = true")

    start_dispatch(page)

    expect(page.get_by_role("button", name="Start dispatch")).to_have_count(0)
    expect(page.get_by_text("Dispatch started.")).to_be_visible()
    expect(page.get_by_text("Campaign created with 9 recipients.")).to_have_count(0)
    expect(page.locator(".recipients .badge-sending").first).to_be_visible()
    expect(page.get_by_test_id("sent-of")).to_have_text("Sent 9 of 9", timeout=30_000)
    expect(page.locator(".recipients .badge-sent")).to_have_count(5)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
    # The history arrived live too: who started it, and that it completed.
    expect(page.get_by_test_id("history-event")).to_have_count(3)
    expect(page.get_by_test_id("history-event").nth(1)).to_contain_text("Started dispatch by nurse@example.com")
    expect(page.get_by_test_id("history-event").nth(2)).to_contain_text("Completed by the dispatcher")
    expect(page.locator("#count-sent")).to_have_text("9")
    assert page.evaluate("window.__sameDocument") is True
    assert console_errors == []

    page.get_by_role("link", name="Next →").click()
    expect(page.locator(".recipients .badge-sent")).to_have_count(4)

    # Signed out behind the page's back, its next htmx request leads to Sign in and back.
    campaign_url = page.url
    # No live reload of the block in flight: the press below is the page's next request.
    expect(page.locator(".htmx-request")).to_have_count(0)
    page.context.clear_cookies()
    page.get_by_role("link", name="← Previous").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=15_000)
    page.get_by_label("Email").fill("nurse@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("sent-of")).to_have_text("Sent 9 of 9")
    assert page.url.split("?")[0] == campaign_url.split("?")[0]


def test_an_operator_pauses_resumes_and_cancels_from_the_page_by_keyboard(live_stack, page: Page):
    console_errors = []
    page.add_init_script(MARK_BLOCK_RELOADED)
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    make_user(Role.OPERATOR, email="nurse@example.com")
    campaign = make_campaign(30, title="Flu shots")
    sign_in(page, live_stack, "nurse@example.com")
    page.goto(f"{live_stack}/campaigns/{campaign.id}")

    start_dispatch(page)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")

    # Pause is reversible: no confirmation. Enter on the focused button presses it.
    page.get_by_role("button", name="Pause").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Paused. Messages already with the provider finish")).to_be_visible()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Paused")
    expect(page.get_by_test_id("pause-reason")).to_have_text("Paused by nurse@example.com.")
    expect(page.locator("#count-sending")).to_have_text("0", timeout=10_000)
    paused_at = page.get_by_test_id("sent-of").text_content()
    time.sleep(1.5)
    page.reload()
    assert page.get_by_test_id("sent-of").text_content() == paused_at, "nothing was sent while paused"

    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()

    # Cancel cannot be undone: it asks first, and saying no changes nothing.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel campaign").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    assert "This cannot be undone." in asked[0]
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel campaign").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Cancelled")
    expect(page.get_by_test_id("cancelled-count")).to_be_visible()
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    expect(page.get_by_test_id("history-event").last).to_contain_text("Cancelled by nurse@example.com")
    assert console_errors == []
