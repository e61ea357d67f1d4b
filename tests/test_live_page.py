"""A campaign page follows the campaign live, whoever changes it: two operators
in two browsers, one pressing the controls, both watching, neither reloading."""

import itertools

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from app.addresses import normalize_phone
from app.auth.models import Role
from app.campaigns import drafts
from app.campaigns.models import Recipient
from app.campaigns.parsing import ParsedRecipient
from app.extensions import db
from tests.browser import goto_live, needs_chromium, sign_in
from tests.factories import make_campaign, make_user

pytestmark = [pytest.mark.slow, needs_chromium]

CONTROLS = ("Start dispatch", "Pause", "Resume", "Retry failed", "Cancel campaign")


def open_page(browser: Browser, base_url: str, email: str, path: str) -> Page:
    """A signed-in page of its own browser context, marked so a reload would
    show, once its stream is open and it has reloaded its block for it."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    sign_in(page, base_url, email)
    goto_live(page, f"{base_url}{path}")
    page.evaluate("window.__sameDocument = true")
    return page


def people_watching(browser: Browser, base_url: str, campaign_id: int, **roles: Role) -> list[Page]:
    """A page of the campaign for each ``name=role``, each in a browser of its own."""
    pages = []
    for name, role in roles.items():
        make_user(role, email=f"{name}@example.com")
        pages.append(open_page(browser, base_url, f"{name}@example.com", f"/campaigns/{campaign_id}"))
    return pages


def assert_never_reloaded_and_no_errors(*pages: Page) -> None:
    for page in pages:
        assert page.evaluate("window.__sameDocument") is True, "the page never reloaded"
        assert page.console_errors == []


def expect_controls(page: Page, *offered: str, unless_failed: bool = False) -> None:
    """The page offers exactly these controls (and so none of the others).
    ``unless_failed``: Retry failed may be offered too, as soon as a send has failed."""
    for name in CONTROLS:
        if name == "Retry failed" and unless_failed:
            continue
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(1 if name in offered else 0)


def expect_attempts_follow_the_rows(page: Page, campaign_id: int) -> None:
    """Every row on the page shows the attempts the database has for it."""
    db.session.commit()
    rows = db.session.execute(
        select(Recipient.id, Recipient.attempts).where(Recipient.campaign_id == campaign_id)
    ).all()
    shown = 0
    for rid, attempts in rows:
        cell = page.locator(f"#recipient-{rid}-attempts")
        if cell.count():
            expect(cell).to_have_text(str(attempts))
            shown += 1
    assert shown == 5, "the page shows a page of five recipients"


@pytest.mark.stack(PROVIDER_ERROR_RATES="invalid_address=0.25", DISPATCH_CONCURRENCY=2, AUTO_PAUSE_FAILURE_RATE=0)
def test_controls_attempts_and_notices_follow_every_change_live_on_both_pages(live_stack, browser: Browser):
    campaign = make_campaign(16, title="Flu shots")
    nurse, doctor = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR, doctor=Role.OPERATOR)
    both = (nurse, doctor)
    for page in both:
        expect_controls(page, "Start dispatch", "Cancel campaign")

    nurse.once("dialog", lambda dialog: dialog.accept())
    nurse.get_by_role("button", name="Start dispatch").click()
    expect(nurse.get_by_text("Dispatch started.")).to_be_visible()
    for page in both:
        expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
        expect_controls(page, "Pause", "Cancel campaign", unless_failed=True)

    nurse.get_by_role("button", name="Pause").click()
    for page in both:
        expect(page.get_by_test_id("campaign-status")).to_have_text("Paused")
        expect_controls(page, "Resume", "Cancel campaign", unless_failed=True)
    # Sends in flight finish after the pause; the attempts column follows them.
    expect(doctor.locator("#count-sending")).to_have_text("0", timeout=10_000)
    expect_attempts_follow_the_rows(doctor, campaign.id)

    doctor.get_by_role("button", name="Resume").click()
    for page in both:
        expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
        expect_controls(page, "Pause", "Cancel campaign", unless_failed=True)

    # Completion, by the dispatcher: the controls and the notice follow.
    for page in both:
        expect(page.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=30_000)
    db.session.commit()
    db.session.refresh(campaign)
    assert campaign.failed_count > 0, "a quarter of the sends fail, so Retry failed has something to do"
    for page in both:
        expect_controls(page, "Retry failed")
        expect_attempts_follow_the_rows(page, campaign.id)
    expect(nurse.get_by_text("Dispatch started.")).to_have_count(0)

    # Retry failed, from the doctor's page, for the permanent failures too.
    doctor.get_by_label("Which failed recipients to retry").select_option("all")
    doctor.once("dialog", lambda dialog: dialog.accept())
    doctor.get_by_role("button", name="Retry failed").click()
    for page in both:
        # Created, started, paused, resumed, completed; then queued again.
        expect(page.get_by_test_id("history-event").nth(5)).to_contain_text(
            "Queued failed recipients again by doctor@example.com"
        )
        expect(page.get_by_test_id("history-event").last).to_contain_text("Completed by the dispatcher", timeout=30_000)
        expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
        expect_attempts_follow_the_rows(page, campaign.id)

    assert_never_reloaded_and_no_errors(nurse, doctor)


@pytest.mark.stack(PROVIDER_LATENCY_MIN=1.0, PROVIDER_LATENCY_MAX=1.5, DISPATCH_CONCURRENCY=2)
def test_a_cancel_shows_on_both_pages_and_the_sends_in_flight_finish_there_too(live_stack, browser: Browser):
    campaign = make_campaign(12, title="Recall")
    nurse, visitor = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR, visitor=Role.VIEWER)
    expect_controls(visitor)  # a viewer is offered nothing

    nurse.once("dialog", lambda dialog: dialog.accept())
    nurse.get_by_role("button", name="Start dispatch").click()
    expect(visitor.locator("#count-sending")).to_have_text("2")
    nurse.once("dialog", lambda dialog: dialog.accept())
    nurse.get_by_role("button", name="Cancel campaign").click()
    for page in (nurse, visitor):
        expect(page.get_by_test_id("campaign-status")).to_have_text("Cancelled")
        expect_controls(page)
        # The two sends in flight finish after the cancel, and both pages show it.
        expect(page.locator("#count-sending")).to_have_text("0", timeout=10_000)
    db.session.commit()
    db.session.refresh(campaign)
    for page in (nurse, visitor):
        expect(page.get_by_test_id("sent-of")).to_have_text(f"Sent {campaign.sent_count} of 12")
        expect(page.get_by_test_id("cancelled-count")).to_have_text(f" · {campaign.cancelled_count} cancelled")
        expect_attempts_follow_the_rows(page, campaign.id)
    assert_never_reloaded_and_no_errors(nurse, visitor)


def test_the_controls_are_one_toolbar_and_addresses_do_not_wrap(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    numbers = ["+254 712 345 678", "+44 20 7946 0958 ext. 1234", "+1 (202) 555-0143"]
    recipients = [
        ParsedRecipient(
            line, f"Patient with a long name {line}", number, normalize_phone(number.split(" ext")[0], "KE")
        )
        for line, number in enumerate(numbers, start=1)
    ]
    campaign = drafts.create_campaign("Layout", "sms", "Hello", recipients, created_by=None)
    db.session.commit()
    page = open_page(browser, live_stack, "nurse@example.com", f"/campaigns/{campaign.id}")
    page.set_viewport_size({"width": 1000, "height": 800})
    # Start, Edit, Cancel and Delete side by side on one row, each right after
    # the one before: not spread across the page.
    boxes = [item.bounding_box() for item in page.locator("#campaign-controls > *").all()]
    assert len(boxes) == 4
    for before, after in itertools.pairwise(boxes):
        assert abs(before["y"] - after["y"]) < 2
        assert 0 < after["x"] - (before["x"] + before["width"]) < 40
    page.set_viewport_size({"width": 700, "height": 800})
    # Each address cell is one line, however narrow the window.
    lines = page.evaluate(
        """() => [...document.querySelectorAll("td.address")].map((cell) => {
            const tops = new Set();
            const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            while (walker.nextNode()) {
                const range = document.createRange();
                range.selectNodeContents(walker.currentNode);
                for (const rect of range.getClientRects()) tops.add(Math.round(rect.top));
            }
            return tops.size;
        })"""
    )
    assert lines and set(lines) == {1}
