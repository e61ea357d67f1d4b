"""Lists and tables at a phone's width and a desktop's (issue 24): the
campaign list shows campaigns on the first screen, its secondary filters
folded under "More filters"; no table cuts a column at 390 px; the header's
links fold under a Menu that works by keyboard."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from app.auth.models import Role
from app.messaging.channels import Channel
from tests.browser import needs_chromium, screenshot, sign_in
from tests.factories import make_campaign, make_started_campaign, make_user

pytestmark = [pytest.mark.slow, needs_chromium]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Each table's scrolling box, when it must scroll sideways to show every column.
CUT_TABLES = """() => [...document.querySelectorAll(".table-scroll")]
  .filter((box) => box.scrollWidth > box.clientWidth + 1)
  .map((box) => box.getAttribute("aria-label"))"""


def signed_in_page(browser: Browser, base_url: str, size: dict[str, int]) -> Page:
    page = browser.new_context(viewport=size).new_page()
    sign_in(page, base_url, "nurse@example.com")
    return page


def top_of(page: Page, selector: str) -> float:
    """Where the first match begins, measured in one step in the page: the
    list follows the sends live, and a row found and then measured apart can
    have been replaced in between (its box then reads as not shown)."""
    expect(page.locator(selector).first).to_be_visible()
    top = page.evaluate("selector => document.querySelector(selector)?.getBoundingClientRect().top ?? null", selector)
    assert top is not None, f"{selector} is not shown"
    return top


def test_the_campaign_list_shows_campaigns_on_the_first_screen_and_cuts_no_column(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    for n in range(4):
        make_campaign(2, Channel.SMS, title=f"Reminder {n}")
    make_campaign(3, Channel.EMAIL, title="Flu shots")
    make_started_campaign(2, enqueue=False, channel=Channel.WHATSAPP, title="Spring clinic")
    for size in (DESKTOP, PHONE):
        page = signed_in_page(browser, live_stack, size)
        page.goto(f"{live_stack}/campaigns")
        more = page.locator("details.more-filters")
        expect(more).not_to_have_attribute("open", "")
        expect(page.get_by_label("Channel")).to_be_hidden()
        expect(page.get_by_label("Search titles and messages")).to_be_visible()
        expect(page.get_by_role("radio", name=re.compile("Sending"))).to_be_visible()
        assert top_of(page, "[data-testid=campaign-row]") < size["height"], "no campaign on the first screen"
        assert page.evaluate(CUT_TABLES) == [], f"a column is cut at {size['width']} px"
        screenshot(page, f"campaign-list-{size['width']}")

        # A field under More filters changes the list, and the summary counts it.
        page.get_by_text("More filters").click()
        page.get_by_label("Channel").select_option("email")
        expect(page.get_by_test_id("campaign-row")).to_have_count(1)
        expect(more.locator("summary")).to_have_text("More filters (1 active)")
        # Loaded from its URL (a link, a reload), the list opens it, counted.
        page.reload()
        expect(more).to_have_attribute("open", "")
        expect(more.locator("summary")).to_have_text("More filters (1 active)")
        page.context.close()


def test_the_recipient_table_cuts_no_column_on_a_phone(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    campaign = make_started_campaign(4, enqueue=False, title="Spring clinic")
    page = signed_in_page(browser, live_stack, PHONE)
    page.goto(f"{live_stack}/campaigns/{campaign.id}")
    attempts = page.locator("table.recipients td[data-label=Attempts]")
    expect(attempts).to_have_count(4)
    for cell in attempts.all():
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert page.evaluate(CUT_TABLES) == [], "a column of the recipients is cut at 390 px"
    screenshot(page, "recipients-390")


def test_the_header_folds_into_a_menu_on_a_phone_that_works_by_keyboard(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    page = signed_in_page(browser, live_stack, PHONE)
    page.goto(f"{live_stack}/contacts")
    menu = page.get_by_role("button", name="Menu")
    contacts = page.get_by_role("link", name="Contacts", exact=True)
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(contacts).to_be_hidden()

    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(contacts).to_be_visible()
    expect(contacts).to_have_attribute("aria-current", "page")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Dashboard", exact=True)).to_be_focused()
    screenshot(page, "menu-open-390")
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(contacts).to_be_hidden()
    page.context.close()

    # A desktop has room: every link shows, and there is no Menu button;
    # an admin's eight, on one row under the name with the account menu, which holds Sign out.
    make_user(Role.ADMIN, email="admin@example.com")
    page = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(page, live_stack, "admin@example.com")
    page.goto(f"{live_stack}/contacts")
    expect(page.get_by_role("link", name="Contacts", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    header = [
        page.get_by_role("link", name="Dashboard", exact=True),
        page.get_by_role("link", name="Operations", exact=True),
        page.get_by_test_id("signed-in-as"),
    ]
    middles = [box["y"] + box["height"] / 2 for box in (part.bounding_box() for part in header)]
    assert max(middles) - min(middles) < 20, middles
    page.get_by_test_id("signed-in-as").click()
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    page.context.close()


@pytest.mark.stack(PROVIDER_LATENCY_MIN=1.0, PROVIDER_LATENCY_MAX=1.5, DISPATCH_CONCURRENCY=1)
def test_a_card_on_a_phone_follows_its_campaign_s_sends_live(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    page = signed_in_page(browser, live_stack, PHONE)
    campaign = make_started_campaign(6, title="Spring clinic")
    page.goto(f"{live_stack}/campaigns")
    page.evaluate("window.__sameDocument = true")
    sent = page.locator(f"#campaign-{campaign.id}-progress [data-testid=list-sent]")
    first = int(re.findall(r"Sent (\d) of 6", sent.text_content() or "")[0])
    if first < 5:
        # A count between the first shown and the last comes only from the live progress lines.
        expect(sent).to_have_text(re.compile(rf"Sent [{first + 1}-5] of 6"), timeout=30_000)
    expect(sent).to_have_text("Sent 6 of 6", timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True
    assert page.evaluate(CUT_TABLES) == []
