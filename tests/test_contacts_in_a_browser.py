"""Contacts in a real browser: a contact an import gave an extra column is
edited and saved; the list narrows by that attribute as it is typed; and a
pasted "Last, First" name is previewed, sent and rendered first name first."""

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from app.auth.models import Role
from app.campaigns.models import Campaign, Recipient
from app.extensions import db
from tests.browser import goto_live, needs_chromium, screenshot, sign_in, start_dispatch
from tests.factories import make_user

pytestmark = [pytest.mark.slow, needs_chromium]

PEOPLE = b"phone,name,Plan\n+15125550100,Grace Hopper,Gold\n+15125550101,Ada Lovelace,Silver\n"


def test_a_contact_an_import_gave_an_attribute_is_edited_and_found_by_it(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    page = browser.new_context().new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, live_stack, "nurse@example.com")
    page.goto(f"{live_stack}/contacts/imports/new")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": PEOPLE}]
    )
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_test_id("preview-row").first).to_contain_text("plan: Gold")
    page.get_by_role("button", name="Import 2 rows").click()
    expect(page.get_by_test_id("import-status")).to_have_text("Done", timeout=30_000)

    page.get_by_role("link", name="Back to contacts").click()
    page.get_by_role("link", name="Grace Hopper").click()
    page.get_by_role("button", name="Edit contact").click()
    attributes = page.get_by_label("Attributes")
    expect(attributes).to_have_value("plan: Gold")
    attributes.fill("plan: Gold\ntier: 2")
    page.get_by_role("button", name="Save contact").click()
    expect(page.get_by_text("Contact Grace Hopper saved.")).to_be_visible()
    expect(page.locator("dl.recipient-facts")).to_contain_text("attributes.tier")
    expect(page.get_by_test_id("contact-change").last).to_contain_text("Changed the contact (attributes)")

    # The list narrows as the filter is typed, the key in any case, with no reload.
    page.goto(f"{live_stack}/contacts")
    rows = page.get_by_test_id("contact-row")
    expect(rows).to_have_count(2)
    loads = []
    page.on("domcontentloaded", lambda loaded: loads.append(loaded.url))
    page.get_by_text("More filters").click()
    page.get_by_label("Attribute", exact=True).fill("Plan=Gold")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Grace Hopper")
    expect(page.get_by_test_id("contact-total")).to_contain_text("1 contact found: with plan = Gold")
    assert loads == [], "the list loaded a page instead of narrowing in place"
    assert "attribute=Plan%3DGold" in page.url
    screenshot(page, "contacts-by-attribute")
    assert errors == []


@pytest.mark.stack(PROVIDER_LATENCY_MIN=0, PROVIDER_LATENCY_MAX=0.1)
def test_last_first_names_are_previewed_and_sent_first_name_first(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    page = browser.new_context().new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, live_stack, "nurse@example.com")
    page.goto(f"{live_stack}/campaigns/new")
    page.get_by_label("Title", exact=True).fill("Names")
    page.get_by_label("Recipients", exact=True).fill('Hopper, Grace\t+1 512 555 1000\n"Lovelace, Ada", +1 512 555 1001')
    page.get_by_label("Message", exact=True).fill("Hello {first_name|there}, test {last_name}")
    preview = page.get_by_test_id("preview-message")
    expect(preview.first).to_contain_text("Hello Grace, test Hopper")
    expect(preview.nth(1)).to_contain_text("Hello Ada, test Lovelace")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_text("Campaign created with 2 recipients.")).to_be_visible()

    goto_live(page, page.url)
    start_dispatch(page)
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=30_000)
    campaign = db.session.scalar(select(Campaign).where(Campaign.title == "Names"))
    grace = db.session.scalar(select(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.line == 1))
    assert grace.status == "sent"
    page.goto(f"{live_stack}/campaigns/{campaign.id}/recipients/{grace.id}")
    expect(page.get_by_test_id("rendered-content")).to_have_text("Hello Grace, test Hopper")
    assert errors == []
