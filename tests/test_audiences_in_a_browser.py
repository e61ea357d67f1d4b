"""A campaign to contacts chosen by a filter, in a real browser: the audience
counts itself as the filter changes, an opt-out made on the Opt-outs page
shows in Start's dialog, and the recipient it names is skipped, live."""

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from app.auth.models import Role
from app.campaigns.models import Campaign, Recipient
from app.contacts.models import Contact
from app.extensions import db
from app.optouts import registry
from app.optouts.models import Source
from tests.browser import goto_live, needs_chromium, screenshot, sign_in
from tests.factories import make_user

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.mark.stack(SMS_PRICE=0.01, PRICE_CURRENCY="EUR")
def test_a_campaign_to_a_filter_skips_who_opted_out(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    people = [("Ada", "Nairobi"), ("Bo", "Nairobi"), ("Cy", "Nairobi"), ("Di", "Mombasa")]
    db.session.add_all(
        [Contact(first_name=name, phone=f"+1202555{n:04d}", location=city) for n, (name, city) in enumerate(people)]
    )
    registry.add("sms", "+12025550002", Source.REPLY)  # Cy replied STOP
    db.session.commit()
    page = browser.new_context().new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, live_stack, "nurse@example.com")

    page.goto(f"{live_stack}/campaigns/new")
    page.get_by_label("Title", exact=True).fill("Nairobi clinic")
    page.get_by_label("Contacts", exact=True).check()
    size = page.get_by_test_id("audience-size")
    expect(size).to_contain_text("3 contacts with a phone match these filters, leaving out those who opted out of SMS.")
    page.locator("#audience_location").fill("Nairobi")
    expect(size).to_contain_text("2 contacts with a phone match")
    page.get_by_label("Message", exact=True).fill("Hi {first_name}, your turn is at 10")
    expect(page.get_by_test_id("preview-message").first).to_contain_text("Hi Ada, your turn is at 10")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_text("Campaign created with 2 recipients.")).to_be_visible()
    campaign_url = page.url

    # Bo opts out after the campaign was made, on the Opt-outs page.
    page.goto(f"{live_stack}/opt-outs")
    page.get_by_text("Opt out an address").click()
    page.get_by_label("Phone or email").fill("+1 202 555 0001")
    page.get_by_label("Why (optional)").fill("asked at the desk")
    page.get_by_role("button", name="Opt out", exact=True).click()
    expect(page.get_by_text("+12025550001 (SMS) is opted out")).to_be_visible()
    expect(page.get_by_test_id("opt-out-row")).to_have_count(2)

    goto_live(page, campaign_url)
    page.get_by_role("button", name="Start dispatch").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Send to 1 recipient: 1 SMS message, 1 segment in all, about 0.010 EUR.")
    expect(dialog).to_contain_text("1 recipient will be skipped: their address has opted out of SMS messages.")
    dialog.get_by_role("button", name="Send to 1 recipient").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=30_000)
    expect(page.get_by_test_id("skipped-count")).to_have_text("· 1 skipped (opted out)")
    page.get_by_role("link", name="Skipped (1)").click()
    row = page.locator("table.recipients tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Bo")
    reason = row.locator(".status-reason")
    expect(reason).to_have_text("Not sent: this address opted out of SMS messages.")
    # A reason, not an error: not in the failures' red.
    expect(reason).not_to_have_css("color", "rgb(138, 28, 18)")
    screenshot(page, "campaign-skipped-tab")

    campaign = db.session.scalar(select(Campaign).where(Campaign.title == "Nairobi clinic"))
    ada = db.session.scalar(select(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.name == "Ada"))
    page.goto(f"{live_stack}/campaigns/{campaign.id}/recipients/{ada.id}")
    expect(page.get_by_test_id("rendered-content")).to_have_text("Hi Ada, your turn is at 10")
    assert errors == []
